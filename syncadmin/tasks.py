"""django-q2 tasks: thin wrappers around the services."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model

from syncadmin.models import SyncRun
from syncadmin.services.runs import sync_run_execute, sync_run_queue

logger = logging.getLogger(__name__)


def sync_customers_task(
    trigger: str = "schedule",
    user_id: int | None = None,
    account_ids: list[str] | None = None,
    full: bool = False,
) -> dict[str, Any]:
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    report = sync_run_execute(trigger=trigger, user=user, account_ids=account_ids, full=full)
    return {"run": report.run.pk if report.run else None, "status": report.status, **report.counts}


def follow_up_after_a_worker_death(**kwargs: Any) -> None:
    """django-q2's post_spawn: a worker process starts, at the cluster's start or in place of
    one that died (killed, or stopped by the queue's timeout). If a run is marked running, its
    process may be the one that died: queue a run. It takes over as soon as the dead run's
    lease lapses (at most SYNC_LEASE_TTL_SECONDS), so syncing starts again by itself instead
    of at the next scheduled time; if that run is in fact alive, the new one is skipped."""
    try:
        if SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists():
            sync_run_queue(trigger=SyncRun.Trigger.SCHEDULE)
    except Exception:  # never stop a worker from starting
        logger.exception("could not queue a run after a worker started")


def event_sync_task() -> dict[str, Any]:
    """Sync the records near-real-time hooks named (queued by each event, by the end of every
    run while events are pending, and every minute while a hook is on)."""
    from syncadmin.services.event_sync import event_sync_process, hook_events_prune

    hook_events_prune()
    reports = event_sync_process()
    return {"runs": [report.run.pk for report in reports if report.run is not None]}
