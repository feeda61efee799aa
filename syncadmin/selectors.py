"""Reads shared by the services and the admin."""

from __future__ import annotations

from syncadmin.models import AccountResult, Outcome, SyncRun

_FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTLY_FAILED)


def open_failure_source_ids(*, direction: str) -> set[str]:
    """Source records whose latest outcome is a failure, since the last finished regular run.

    The sync looks at these again on every run even when their source did not change (a parent
    that became active, a NetSuite term that was added), so no record is skipped for good."""
    last = (
        SyncRun.objects.filter(direction=direction, status__in=_FINISHED)
        .exclude(trigger=SyncRun.Trigger.RETRY)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if last is None:
        return set()
    latest: dict[str, str] = {}
    rows = (
        AccountResult.objects.filter(run_id__gte=last, run__direction=direction)
        .order_by("id")
        .values_list("source_id", "outcome")
    )
    for source_id, outcome in rows.iterator(chunk_size=2000):
        latest[source_id] = outcome
    return {source_id for source_id, outcome in latest.items() if outcome == Outcome.FAILED}
