"""The django-q2 schedule that runs the sync, kept in step with the preferences."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
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
    minutes = preferences.schedule_minutes()
    schedule, created = Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": TASK,
            "kwargs": "trigger='schedule'",
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
        },
    )
    # A shorter interval takes effect now, not after the run the old one had planned.
    soonest = timezone.now() + timedelta(minutes=minutes)
    if not created and (schedule.next_run is None or schedule.next_run > soonest):
        schedule.next_run = soonest
        schedule.save(update_fields=["next_run"])
    return schedule
