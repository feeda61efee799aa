"""Reads of near-real-time sync for the screens: each hook's state, its latest events, and what
became of the events of the last 24 hours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from syncadmin.models import HookEvent, HookSettings, Master, PendingSync, SyncPreferences
from syncadmin.services.hooks import DIRECTION_OF, SYSTEM_NAMES, hook_url


@dataclass
class HookSummary:
    system: str
    name: str
    enabled: bool
    secret_set: bool
    secret_set_at: datetime | None
    basic_username: str
    basic_auth_configured: bool
    url: str
    is_master: bool
    master_name: str
    last_event: HookEvent | None
    events_24h: int
    outcomes_24h: list[tuple[str, int]] = field(default_factory=list)  # (label, count)
    pending: int = 0
    events: list[HookEvent] = field(default_factory=list)  # the latest, for its page


def hook_summaries() -> list[HookSummary]:
    """Zuora's hook, then NetSuite's: what the Near-real-time page and the dashboard show."""
    rows = {row.system: row for row in HookSettings.objects.all()}
    master = SyncPreferences.load().master
    since = timezone.now() - timedelta(hours=24)
    counts: dict[str, dict[str, int]] = {}
    for system, outcome, n in (
        HookEvent.objects.filter(received_at__gte=since)
        .order_by()
        .values_list("system", "outcome")
        .annotate(n=Count("id"))
    ):
        counts.setdefault(system, {})[outcome] = n
    labels = dict(HookEvent.Outcome.choices)
    summaries = []
    for system in (Master.ZUORA, Master.NETSUITE):
        row = rows.get(system) or HookSettings(system=system)
        by_outcome = counts.get(system, {})
        summaries.append(
            HookSummary(
                system=system,
                name=SYSTEM_NAMES[system],
                enabled=row.enabled,
                secret_set=row.secret_is_set("secret"),
                secret_set_at=row.secret_set_at,
                basic_username=row.basic_username,
                basic_auth_configured=row.basic_auth_configured,
                url=hook_url(system),
                is_master=master == system,
                master_name=SYSTEM_NAMES[master],
                last_event=HookEvent.objects.filter(system=system)
                .order_by("-received_at", "-id")
                .first(),
                events_24h=sum(by_outcome.values()),
                outcomes_24h=[
                    (label, by_outcome[value])
                    for value, label in labels.items()
                    if value in by_outcome
                ],
                pending=PendingSync.objects.filter(direction=DIRECTION_OF[system]).count(),
            )
        )
    return summaries


def hook_events_latest(*, system: str, limit: int = 20) -> list[HookEvent]:
    return list(
        HookEvent.objects.filter(system=system)
        .select_related("run")
        .order_by("-received_at", "-id")[:limit]
    )
