"""Event syncs: the records near-real-time hooks named, synced by the same engine as every run.

How a record goes (services/hooks.py records the event and its PendingSync row):
- Coalescing: a record is due once no event came for it for HOOKS_COALESCE_SECONDS; every
  event for it until then only moves its row's last_seen, so many edits make one sync.
- One processor at a time (the "event-sync" lease): it waits for the next due record, takes
  every due row, resolves account numbers to ids, adds the parents that are not linked yet
  (so a child's event syncs its parent first, in the same run), and runs
  sync_run_execute(trigger=event, account_ids=...): a limited run, which never moves the
  scheduled run's watermark, so the scheduled sweep still finds everything.
- The sync lease keeps event syncs and every other run one at a time. When another run holds
  it, the rows stay pending and no skipped run is recorded: the end of every run queues this
  processor while rows are pending, and a retry schedule (every minute while a hook is on)
  catches what nothing else did.
- A row is removed only when the run that took it finished and no event came for it since;
  a run that could not reach a system is tried again later (MAX_ATTEMPTS, then the events
  fail and the scheduled run is left to sync the record).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from connectors.http import ApiError
from connectors.zuora.client import IDS_PER_QUERY
from syncadmin.models import (
    AccountResult,
    Direction,
    HookEvent,
    HookSettings,
    Master,
    Outcome,
    PendingSync,
    RecordLink,
    SyncPreferences,
    SyncRun,
)
from syncadmin.services import lease
from syncadmin.services.connection_health import run_error_explain
from syncadmin.services.connections import (
    ConnectionNotConfigured,
    netsuite_client_build,
    zuora_client_build,
)
from syncadmin.services.netsuite_customers import customers_by_ids, parent_ref
from syncadmin.services.run_accounts import run_accounts_resolve
from syncadmin.services.runs import RunReport, sync_run_execute, sync_run_queue

logger = logging.getLogger(__name__)

DISPATCH_LEASE = "event-sync"
DISPATCH_TTL = timedelta(minutes=2)
TASK = "syncadmin.tasks.event_sync_task"
RETRY_SCHEDULE = "near-real-time-retry"
# Records per event run: a burst larger than this is synced by consecutive runs.
MAX_PER_RUN = 1000
# A processor waits this long at most for the next record to become due; rows due later (a
# retry after a failure) are left to the retry schedule instead of holding a worker.
MAX_WAIT = timedelta(seconds=15)
MAX_HOLD = timedelta(seconds=10)
MAX_ATTEMPTS = 5
PARENT_DEPTH = 10  # levels of unlinked ancestors pulled into one event run
SYSTEM_OF = {
    Direction.ZUORA_TO_NETSUITE: Master.ZUORA,
    Direction.NETSUITE_TO_ZUORA: Master.NETSUITE,
}
DESTINATION = {Direction.ZUORA_TO_NETSUITE: "NetSuite", Direction.NETSUITE_TO_ZUORA: "Zuora"}


# -- queueing ------------------------------------------------------------------------------------
def event_sync_queue() -> None:
    """Queue the processor unless one is already at work (it takes every row that comes)."""
    if lease.lease_live_holder(name=DISPATCH_LEASE) is not None:
        return
    from django_q.tasks import async_task

    # Successes are not kept as task results: the event runs are in the runs list, and a
    # result per burst would push the scheduled runs' results out of the queue's history.
    async_task(TASK, task_name="near-real-time sync", save=False)


def event_sync_queue_if_pending() -> None:
    """Called at the end of every run: events held while it ran are synced right after it."""
    if PendingSync.objects.exists():
        event_sync_queue()


def event_sync_schedule_ensure() -> bool:
    """A retry every minute while a hook is on: rows left by a run that could not reach a
    system, or by a processor that died, are taken up again. Idempotent; True when on."""
    from django_q.models import Schedule

    if not HookSettings.objects.filter(enabled=True).exists():
        Schedule.objects.filter(name=RETRY_SCHEDULE).delete()
        return False
    Schedule.objects.update_or_create(
        name=RETRY_SCHEDULE,
        defaults={
            "func": TASK,
            "kwargs": "q_options={'save': False}",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    return True


# -- processing ----------------------------------------------------------------------------------
@dataclass
class _Batch:
    """The due rows one event run takes, each with the last_seen it was taken at."""

    direction: str
    rows: list[PendingSync]
    claimed: dict[int, datetime]
    source_of: dict[int, str]  # row pk -> the master's id, for the rows resolved
    found: set[str] = field(default_factory=set)  # the ids the master system returned


def event_sync_process(*, client_options: dict[str, Any] | None = None) -> list[RunReport]:
    """Sync every pending record as it becomes due, until none is left or another run holds
    the sync lease. Returns the reports of the event runs it made."""
    holder = lease.new_holder_id()
    reports: list[RunReport] = []
    if not PendingSync.objects.exists():
        return reports  # the retry schedule's usual minute: nothing to do
    while True:
        if not lease.lease_acquire(name=DISPATCH_LEASE, holder=holder, ttl=DISPATCH_TTL):
            return reports  # another processor is at work
        try:
            busy = _drain(holder, reports, client_options)
        finally:
            lease.lease_release(name=DISPATCH_LEASE, holder=holder)
        # An event that came while this processor held its lease queued nothing: look again
        # now the lease is free. When another run is active, its end queues the processor
        # (it looks after its lease is released, this looks after ours: one of them sees it).
        next_at = _next_due(direction=None)
        if next_at is None or next_at - timezone.now() > MAX_WAIT:
            return reports
        if busy and lease.lease_live_holder() is not None:
            return reports


def _window() -> timedelta:
    return timedelta(seconds=settings.HOOKS_COALESCE_SECONDS)


def _hold() -> timedelta:
    """The longest a record waits for its edits to stop: one edited without pause is synced
    at least this often."""
    return max(MAX_HOLD, _window() * 5)


def _drain(holder: str, reports: list[RunReport], client_options: dict[str, Any] | None) -> bool:
    """Sync due rows until none is due soon; True when stopped by another run's lease."""
    while True:
        lease.lease_acquire(name=DISPATCH_LEASE, holder=holder, ttl=DISPATCH_TTL)
        direction = SyncPreferences.load().direction
        _drop_other_direction(direction)
        now = timezone.now()
        due = list(
            PendingSync.objects.filter(direction=direction)
            .filter(Q(last_seen__lte=now - _window()) | Q(first_seen__lte=now - _hold()))
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("last_seen")[:MAX_PER_RUN]
        )
        if not due:
            next_at = _next_due(direction=direction)
            if next_at is None or next_at - now > MAX_WAIT:
                return False
            time.sleep(max(0.02, (next_at - now).total_seconds()))
            continue
        batch = _Batch(direction, due, {row.pk: row.last_seen for row in due}, {})
        report = _sync(batch, holder, client_options)
        if report is None:
            return True
        reports.append(report)


def _next_due(*, direction: str | None) -> datetime | None:
    """When the soonest pending row is due: the window after its last event (or the hold after
    its first), or its retry time. (An event for a row waiting for a retry clears the retry.)"""
    rows = (
        PendingSync.objects.all()
        if direction is None
        else PendingSync.objects.filter(direction=direction)
    )
    fresh = rows.filter(not_before__isnull=True).aggregate(
        last=Min("last_seen"), first=Min("first_seen")
    )
    retry = rows.aggregate(at=Min("not_before"))["at"]
    candidates = [
        *([fresh["last"] + _window()] if fresh["last"] else []),
        *([fresh["first"] + _hold()] if fresh["first"] else []),
        *([retry] if retry else []),
    ]
    return min(candidates) if candidates else None


def _drop_other_direction(direction: str) -> None:
    """Events of the system that stopped being the master since they came are not synced."""
    stale = list(PendingSync.objects.exclude(direction=direction))
    if not stale:
        return
    master = DESTINATION[stale[0].direction]
    for row in stale:
        _events_close(
            row,
            None,
            outcome=HookEvent.Outcome.FAILED,
            message=f"Not synced: the master changed to {master} before this change was synced.",
            received_by=row.last_seen,
        )
        PendingSync.objects.filter(pk=row.pk, last_seen=row.last_seen).delete()


def _sync(batch: _Batch, holder: str, client_options: dict[str, Any] | None) -> RunReport | None:
    """One event run of the batch; None when another run holds the sync lease."""
    try:
        account_ids = _account_ids(batch, client_options)
    except (ApiError, ConnectionNotConfigured) as exc:
        message = f"The event sync could not start: {run_error_explain(exc)}"
        _postpone(batch, message, run=None)
        return RunReport(run=None, status=SyncRun.Status.FAILED, message=message)
    if not account_ids:
        return RunReport(run=None, status=SyncRun.Status.SUCCEEDED)

    renewed = [time.monotonic()]

    def keep_dispatch(done: int, total: int) -> None:
        if time.monotonic() - renewed[0] > 10:
            renewed[0] = time.monotonic()
            with contextlib.suppress(Exception):
                lease.lease_acquire(name=DISPATCH_LEASE, holder=holder, ttl=DISPATCH_TTL)

    report = sync_run_execute(
        trigger=SyncRun.Trigger.EVENT,
        account_ids=account_ids,
        record_skipped=False,
        progress=keep_dispatch,
        client_options=client_options,
    )
    if report.run is None:
        return None
    _skipped_runs_follow(report.run)
    if report.status in (SyncRun.Status.FAILED, SyncRun.Status.INTERRUPTED):
        _postpone(batch, report.message, run=report.run)
    else:
        _settle(batch, report.run)
    return report


def _skipped_runs_follow(event_run: SyncRun) -> None:
    """A scheduled (or Run now) run that fell due while this event run held the lease was
    skipped: it runs right after, instead of waiting for the next scheduled time."""
    triggers = set(
        SyncRun.objects.filter(
            status=SyncRun.Status.SKIPPED,
            started_at__gte=event_run.started_at,
            trigger__in=(SyncRun.Trigger.SCHEDULE, SyncRun.Trigger.MANUAL),
        ).values_list("trigger", flat=True)
    )
    if triggers:
        trigger = (
            SyncRun.Trigger.SCHEDULE if SyncRun.Trigger.SCHEDULE in triggers else triggers.pop()
        )
        sync_run_queue(trigger=trigger)


def _account_ids(batch: _Batch, client_options: dict[str, Any] | None) -> list[str]:
    """The master's ids of the batch's records (account numbers resolved; a number the master
    does not know fails its events), with their parents that are not linked yet before them."""
    numbers = sorted({row.record_key for row in batch.rows if row.by_number})
    resolved: dict[str, str] = {}
    if numbers:
        found = run_accounts_resolve(keys=numbers, client_options=client_options)
        # run_accounts_resolve keeps the order asked and drops the unknown keys.
        known = [n for n in numbers if n not in set(found.unknown)]
        resolved = dict(zip(known, found.source_ids, strict=False))
    for row in batch.rows:
        if not row.by_number:
            batch.source_of[row.pk] = row.record_key
        elif row.record_key in resolved:
            batch.source_of[row.pk] = resolved[row.record_key]
        else:
            _events_close(
                row,
                None,
                outcome=HookEvent.Outcome.FAILED,
                message=f"Zuora has no account numbered {row.record_key}.",
                received_by=batch.claimed[row.pk],
            )
            PendingSync.objects.filter(pk=row.pk, last_seen=batch.claimed[row.pk]).delete()
    ids = list(dict.fromkeys(batch.source_of.values()))
    if not ids:
        return []
    return _with_unlinked_parents(batch, ids, client_options or {}) + ids


def _with_unlinked_parents(
    batch: _Batch, ids: list[str], client_options: dict[str, Any]
) -> list[str]:
    """The ancestors of `ids` not linked yet and not among them, top first. A limited run fails
    a child whose parent is neither linked nor in the run; an event run brings the parent.
    Notes in `batch.found` which of `ids` the master system has."""
    direction = batch.direction
    source_key = (
        "zuora_account_id" if direction == Direction.ZUORA_TO_NETSUITE else "netsuite_internal_id"
    )
    read = _zuora_parents if direction == Direction.ZUORA_TO_NETSUITE else _netsuite_parents
    seen = set(ids)
    levels: list[list[str]] = []
    frontier = ids
    # With hierarchies off every record syncs on its own: no parent is needed.
    hierarchies = SyncPreferences.load().hierarchies_enabled
    for depth in range(PARENT_DEPTH):
        records = read(frontier, client_options)
        if depth == 0:
            batch.found = set(records)
        parents = {p for p in records.values() if p and p not in seen} if hierarchies else set()
        if not parents:
            break
        linked = set(
            RecordLink.objects.filter(**{f"{source_key}__in": parents}).values_list(
                source_key, flat=True
            )
        )
        frontier = sorted(parents - linked)
        if not frontier:
            break
        seen.update(frontier)
        levels.append(frontier)
    return [parent for level in reversed(levels) for parent in level]


def _zuora_parents(ids: Iterable[str], options: dict[str, Any]) -> dict[str, str | None]:
    zuora = zuora_client_build(**options)
    unique = list(dict.fromkeys(ids))
    found: dict[str, str | None] = {}
    for start in range(0, len(unique), IDS_PER_QUERY):
        chunk = unique[start : start + IDS_PER_QUERY]
        for account in zuora.iter_accounts([f"id.IN:[{','.join(chunk)}]"], expand_contacts=False):
            found[account["id"]] = account.get("parentId") or None
    return found


def _netsuite_parents(ids: Iterable[str], options: dict[str, Any]) -> dict[str, str | None]:
    netsuite = netsuite_client_build(**options)
    return {
        str(customer["id"]): parent_ref(customer)
        for customer in customers_by_ids(netsuite, ids, "", address_books=False)
    }


# -- after a run ----------------------------------------------------------------------------------
def _settle(batch: _Batch, run: SyncRun) -> None:
    """The run looked at the batch: each record's events say what became of it, and its row
    goes unless an event came for it meanwhile (then it is synced again)."""
    latest: dict[str, AccountResult] = {}
    for result in AccountResult.objects.filter(
        run=run, source_id__in=set(batch.source_of.values())
    ).order_by("id"):
        latest[result.source_id] = result
    destination = DESTINATION[batch.direction]
    with transaction.atomic():
        for row in batch.rows:
            source = batch.source_of.get(row.pk)
            if source is None:
                continue  # an unknown account number, closed already
            outcome, message = _result_words(
                latest.get(source), destination, found=source in batch.found
            )
            _events_close(
                row,
                run,
                outcome=outcome,
                message=message,
                received_by=batch.claimed[row.pk],
                source_id=source,
            )
            PendingSync.objects.filter(pk=row.pk, last_seen=batch.claimed[row.pk]).delete()


def _result_words(
    result: AccountResult | None, destination: str, *, found: bool
) -> tuple[str, str]:
    if result is None and found:
        # A run does not report a record that is unchanged since a run before it synced it.
        return HookEvent.Outcome.SYNCED, f"Already up to date in {destination}."
    if result is None:
        source = "Zuora" if destination == "NetSuite" else "NetSuite"
        return HookEvent.Outcome.FAILED, f"{source} does not have this record (any more)."
    if result.outcome in (Outcome.FAILED, Outcome.NEEDS_REVIEW):
        why = result.error_message or result.reason
        return HookEvent.Outcome.FAILED, f"{result.get_outcome_display()}: {why}"
    if result.outcome == Outcome.SKIPPED:
        # Skipped by a rule (not active, excluded) is the sync doing its job; a record the
        # master does not have is an event that could not be synced.
        outcome = HookEvent.Outcome.SYNCED if found else HookEvent.Outcome.FAILED
        return outcome, f"Not synced: {result.reason}"
    return HookEvent.Outcome.SYNCED, f"{result.get_outcome_display()} in {destination}."


def _postpone(batch: _Batch, message: str, *, run: SyncRun | None) -> None:
    """The run could not sync the batch (a system could not be reached, or the run stopped):
    try again later, and after MAX_ATTEMPTS leave the records to the scheduled run."""
    now = timezone.now()
    with transaction.atomic():
        for row in batch.rows:
            claimed = batch.claimed[row.pk]
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                _events_close(
                    row,
                    run,
                    outcome=HookEvent.Outcome.FAILED,
                    message=f"Not synced after {attempts} attempts: {message} The next "
                    "scheduled run syncs this record.",
                    received_by=claimed,
                )
                PendingSync.objects.filter(pk=row.pk, last_seen=claimed).delete()
            else:
                wait = timedelta(seconds=min(600, 15 * 2**attempts))
                PendingSync.objects.filter(pk=row.pk, last_seen=claimed).update(
                    attempts=attempts, not_before=now + wait
                )
    logger.warning("event sync postponed: %s", message)


def _events_close(
    row: PendingSync,
    run: SyncRun | None,
    *,
    outcome: str,
    message: str,
    received_by: datetime,
    source_id: str = "",
) -> None:
    """The record's events received up to `received_by` get what became of it: the latest
    one the outcome, those before it "coalesced" into the same sync."""
    events = HookEvent.objects.filter(
        system=SYSTEM_OF[row.direction],
        record_key=row.record_key,
        outcome=HookEvent.Outcome.QUEUED,
        received_at__lte=received_by,
    )
    last = events.order_by("-received_at", "-id").first()
    if last is None:
        return
    values: dict[str, Any] = {"run": run}
    if source_id:
        values["source_id"] = source_id
    events.exclude(pk=last.pk).update(
        outcome=HookEvent.Outcome.COALESCED,
        message=f"Synced together with the event of {last.received_at:%H:%M:%S} UTC.",
        **values,
    )
    HookEvent.objects.filter(pk=last.pk).update(outcome=outcome, message=message, **values)


def hook_events_prune() -> int:
    """Events older than 30 days go (the runs keep what was synced)."""
    from syncadmin.services.hooks import EVENT_LOG_KEEP

    deleted, _ = HookEvent.objects.filter(received_at__lt=timezone.now() - EVENT_LOG_KEEP).delete()
    return deleted
