"""Changing sync preferences: validated as a whole, with the side effects the rules ask for."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from syncadmin.models import SyncCursor, SyncPreferences


def preferences_update(*, values: dict[str, Any]) -> SyncPreferences:
    """Set preferences by field name; raises ValidationError (by field) and saves nothing when
    any value is bad.

    Two changes reset the watermark so that no record is silently skipped: switching from
    "New Only" to "New and Modified" (linked records were never updated and must be looked at
    again; the incumbent resets to "now" and misses them), and switching the master (the new
    direction starts from a fresh watermark; links are kept, so nothing is re-created)."""
    with transaction.atomic():
        preferences = SyncPreferences.load()
        before_behavior = preferences.sync_behavior
        before_master = preferences.master
        before_schedule = _schedule_of(preferences)
        known = {f.name for f in SyncPreferences._meta.get_fields()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError({name: "No such preference." for name in unknown})
        for name, value in values.items():
            setattr(preferences, name, value)
        preferences.full_clean()
        preferences.save()
        reset = (
            before_behavior == SyncPreferences.Behavior.NEW_ONLY
            and preferences.sync_behavior == SyncPreferences.Behavior.NEW_AND_MODIFIED
        ) or before_master != preferences.master
        if reset:
            SyncCursor.objects.filter(direction=preferences.direction).update(watermark=None)
        if _schedule_of(preferences) != before_schedule or preferences.schedule_enabled:
            # Here rather than in each caller: the command, the admin and any other caller
            # turn the queue's schedule on, off or to a new interval at once.
            from syncadmin.services.schedule import schedule_ensure

            schedule_ensure()
    return preferences


def _schedule_of(preferences: SyncPreferences) -> tuple[bool, int]:
    return preferences.schedule_enabled, preferences.schedule_minutes()
