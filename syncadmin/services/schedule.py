"""The django-q2 schedule that runs the sync, kept in step with the preferences."""

from __future__ import annotations

from django_q.models import Schedule

from syncadmin.models import SyncPreferences

SCHEDULE_NAME = "customer-sync"
TASK = "syncadmin.tasks.sync_customers_task"


def schedule_ensure() -> Schedule | None:
    """Create, update or remove the schedule to match the preferences. Idempotent."""
    preferences = SyncPreferences.load()
    if not preferences.schedule_enabled:
        Schedule.objects.filter(name=SCHEDULE_NAME).delete()
        return None
    schedule, _ = Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": TASK,
            "kwargs": "trigger='schedule'",
            "schedule_type": Schedule.MINUTES,
            "minutes": preferences.schedule_minutes(),
            "repeats": -1,
        },
    )
    return schedule
