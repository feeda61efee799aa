from typing import Any

from syncadmin.management.base import DatabaseCommand
from syncadmin.services.event_sync import event_sync_schedule_ensure
from syncadmin.services.schedule import schedule_ensure


class Command(DatabaseCommand):
    help = "Create or update the django-q2 schedule of the sync from the preferences (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        schedule = schedule_ensure()
        if schedule is None:
            self.stdout.write("The schedule is off in the preferences; no schedule is set.")
        else:
            self.stdout.write(
                f"Sync scheduled every {schedule.minutes} minutes "
                f"(next {schedule.next_run:%Y-%m-%d %H:%M} UTC)."
            )
        if event_sync_schedule_ensure():
            self.stdout.write(
                "Near-real-time sync is on: held change notifications are retried every minute."
            )
