"""One sync run: the service the django-q2 task, the management commands and the admin call."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from connectors.http import ApiError, CircuitBreaker
from syncadmin.mapping.added import AddedMapping
from syncadmin.models import AccountResult, Direction, Outcome, SyncCursor, SyncPreferences, SyncRun
from syncadmin.services import lease
from syncadmin.services.concurrency import (
    AdaptiveLimiter,
    RunStopped,
)
from syncadmin.services.connection_health import connection_health_after_run, run_error_explain
from syncadmin.services.connections import (
    ConnectionNotConfigured,
    netsuite_client_build,
    zuora_client_build,
)
from syncadmin.services.recording import (
    AccountOutcome,
    DatabaseRecorder,
    MemoryRecorder,
    ProgressFn,
    Recorder,
)
from syncadmin.services.settle import RunSummary
from syncadmin.services.storable import storable_text

logger = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What a caller gets back; `run` is None for a dry run (which stores nothing)."""

    run: SyncRun | None
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    outcomes: list[AccountOutcome] = field(default_factory=list)
    message: str = ""
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.SKIPPED)


PICKS_UP = "What it recorded is kept; the next run picks up where it stopped."


class _RunGuard:
    """Keeps the run's lease with a heartbeat in the background, and says when the run must
    stop: its lease is lost (another run took over, or it could not be renewed in time) or
    its deadline passed. The engines ask should_stop() before each record they send."""

    def __init__(self, holder: str | None, *, deadline_seconds: float) -> None:
        self.holder = holder
        self.interval = lease.heartbeat_seconds()
        self.ttl = lease.lease_ttl()
        self.deadline_seconds = deadline_seconds
        self._deadline = time.monotonic() + deadline_seconds
        self.reason: str | None = None  # why the run must stop; set once
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def should_stop(self) -> bool:
        if self.reason is None and time.monotonic() >= self._deadline:
            self.reason = (
                f"The run stopped at its time limit of {_duration(self.deadline_seconds)} "
                f"(the setting SYNC_RUN_DEADLINE_SECONDS). {PICKS_UP}"
            )
        return self.reason is not None

    def _beat(self) -> None:
        from django.db import connection

        assert self.holder is not None
        renewed_at = time.monotonic()
        try:
            while not self._done.wait(self.interval):
                try:
                    if lease.lease_renew(holder=self.holder, ttl=self.ttl):
                        renewed_at = time.monotonic()
                        continue
                    self._lost(lease.lease_live_holder())
                    return
                except Exception as exc:
                    # A database error: the lease stays ours until it lapses, so try again at
                    # the next beat, on a fresh connection.
                    logger.warning("Renewing the sync lease failed; retrying: %s", exc)
                    with contextlib.suppress(Exception):
                        connection.close()
                    if time.monotonic() - renewed_at >= self.ttl.total_seconds():
                        self._lost(None, error=exc)
                        return
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def _lost(self, new_holder: str | None, error: Exception | None = None) -> None:
        if new_holder and new_holder != self.holder:
            what = "Another run took over: this run could not renew its lock on the sync in time"
        else:
            cause = f" (the database answered: {type(error).__name__})" if error else ""
            what = (
                "The run lost its lock on the sync: it could not renew it within "
                f"{_duration(self.ttl.total_seconds())}{cause}"
            )
        self.reason = (
            f"{what}. It stopped before its next account, so that no two runs work at once. "
            + PICKS_UP
        )
        logger.warning("sync run stopping: %s", self.reason)

    def __enter__(self) -> _RunGuard:
        if self.holder is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _lease_take(holder: str) -> bool:
    """Take the lease, or wait for it while its holder looks dead.

    A live holder renews its lease every heartbeat. When the lease is held, watch it: a
    renewal (or a release) means the holder lives, and this run is skipped, after at most a
    heartbeat. No renewal means the holder died (killed, or stopped by the queue's timeout):
    this run takes over as soon as the lease lapses, at most the TTL after the kill, instead
    of being skipped and leaving the sync idle until the next schedule."""
    if lease.lease_acquire(holder=holder):
        return True
    seen = lease.lease_state()
    give_up = time.monotonic() + lease.lease_ttl().total_seconds() + lease.heartbeat_seconds()
    while time.monotonic() < give_up:
        time.sleep(max(0.05, lease.heartbeat_seconds() / 4))
        if lease.lease_state() != seen:
            return False  # renewed, released or taken: its holder was alive
        if lease.lease_acquire(holder=holder):
            return True
    return False


def runs_interrupted_close(*, alive_holder: str | None = None) -> list[SyncRun]:
    """Close the runs still marked running whose process died (killed, or stopped by the
    queue's timeout): their holder no longer holds the lease. Each keeps the progress it
    recorded (counted from its stored results) and says what happened.

    `alive_holder`: the caller's own holder, just taken (its run is about to start)."""
    running = list(
        SyncRun.objects.filter(status=SyncRun.Status.RUNNING).values_list("pk", "lease_holder")
    )
    if not running:
        return []
    live = alive_holder or lease.lease_live_holder()
    closed = []
    for pk, holder in running:
        if live is not None and holder == live:
            continue
        counts = dict(
            AccountResult.objects.filter(run_id=pk)
            .order_by()
            .values_list("outcome")
            .annotate(n=Count("id"))
        )
        now = timezone.now()
        message = (
            "This run was interrupted: the process running it stopped without finishing "
            "(it was killed, or stopped by the queue's time limit), and its lock on the sync "
            f"lapsed; noticed at {now:%Y-%m-%d %H:%M:%S} UTC. The progress shown is what it "
            f"had recorded ({sum(counts.values())} accounts). " + PICKS_UP
        )
        updated = SyncRun.objects.filter(pk=pk, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.INTERRUPTED,
            finished_at=now,
            message=message,
            processed=sum(counts.values()),
            created=counts.get(Outcome.CREATED, 0),
            updated=counts.get(Outcome.UPDATED, 0),
            unchanged=counts.get(Outcome.UNCHANGED, 0),
            linked=counts.get(Outcome.LINKED, 0),
            skipped=counts.get(Outcome.SKIPPED, 0),
            failed=counts.get(Outcome.FAILED, 0),
        )
        if updated:
            closed.append(SyncRun.objects.get(pk=pk))
            logger.warning("closed run %s as interrupted: its process is gone", pk)
    return closed


def cursor_for(direction: str) -> SyncCursor:
    cursor, _ = SyncCursor.objects.get_or_create(direction=direction)
    return cursor


def _engine(direction: str, **kwargs: Any) -> Any:
    if direction == Direction.ZUORA_TO_NETSUITE:
        from syncadmin.services.zuora_to_netsuite import ZuoraToNetSuiteSync

        return ZuoraToNetSuiteSync(**kwargs)
    from syncadmin.services.netsuite_to_zuora import NetSuiteToZuoraSync

    return NetSuiteToZuoraSync(**kwargs)


def sync_run_execute(
    *,
    trigger: str,
    user: Any = None,
    dry_run: bool = False,
    full: bool = False,
    account_ids: Iterable[str] | None = None,
    progress: ProgressFn | None = None,
    fault_hook: Any = None,
    client_options: dict[str, Any] | None = None,
    keep_outcomes: bool = False,
    added_mappings: list[AddedMapping] | None = None,
    record_skipped: bool = True,
) -> RunReport:
    """Run one sync now in this process, in the direction the preferences set.

    `added_mappings` replaces the stored field mappings for this run (the mapping preview's
    dry run of the mappings being saved); by default the run reads the stored ones.

    A run that finds another one active is recorded as skipped; one whose holder died takes
    over as soon as its lease lapses, and closes the dead run as interrupted. A run stops at
    the next record boundary when it loses its lease or reaches its deadline, and ends as
    interrupted without moving the watermark. A dry run computes every action and writes
    nothing: no API write, no link, no result, no watermark.

    `record_skipped=False` (event syncs): a run that finds another one active records nothing
    and returns a report without a run; its records stay pending (see services/event_sync.py).
    """
    preferences = SyncPreferences.load()
    direction = preferences.direction
    holder = lease.new_holder_id()
    if not dry_run:
        if not _lease_take(holder):
            if not record_skipped:
                return RunReport(
                    run=None,
                    status=SyncRun.Status.SKIPPED,
                    message="Another sync run was active.",
                )
            active = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).order_by("-pk").first()
            now = timezone.now()
            run = SyncRun.objects.create(
                trigger=trigger,
                direction=direction,
                status=SyncRun.Status.SKIPPED,
                triggered_by=user if getattr(user, "pk", None) else None,
                started_at=now,
                finished_at=now,
                message=(
                    f"Run {active.pk} was still running; this one was skipped."
                    if active is not None
                    else "Another sync run was active; this one was skipped."
                ),
            )
            return RunReport(run=run, status=run.status, message=run.message)
        runs_interrupted_close(alive_holder=holder)

    cursor = cursor_for(direction)
    watermark = None if full else cursor.watermark
    run: SyncRun | None = None
    recorder: Recorder
    if dry_run:
        recorder = MemoryRecorder(progress)
    else:
        run = SyncRun.objects.create(
            trigger=trigger,
            direction=direction,
            triggered_by=user if getattr(user, "pk", None) else None,
            watermark_before=cursor.watermark,
            lease_holder=holder,
        )
        recorder = DatabaseRecorder(run, progress=progress, keep=keep_outcomes)

    engine = None
    status = SyncRun.Status.FAILED
    message = ""
    stopped_by: Exception | None = None
    guard = _RunGuard(
        None if dry_run else holder, deadline_seconds=settings.SYNC_RUN_DEADLINE_SECONDS
    )
    try:
        with guard:
            limiter = AdaptiveLimiter(preferences.netsuite_concurrency)
            # One breaker for both systems: when one stops the run, the other stops too.
            options = {
                "on_throttle": limiter.throttled,
                "breaker": CircuitBreaker(),
                **(client_options or {}),
            }
            zuora = zuora_client_build(**options)
            netsuite = netsuite_client_build(**options)
            engine = _engine(
                direction,
                zuora=zuora,
                netsuite=netsuite,
                preferences=preferences,
                recorder=recorder,
                watermark=watermark,
                dry_run=dry_run,
                account_ids=account_ids,
                fault_hook=fault_hook,
                limiter=limiter,
                should_stop=guard.should_stop,
                added_mappings=added_mappings,
            )
            summary = engine.run()
            failed = recorder.counts.get("failed", 0)
            status = SyncRun.Status.PARTLY_FAILED if failed else SyncRun.Status.SUCCEEDED
            if guard.reason is not None:
                # Records it never reached are read again by the next run from the same
                # watermark; those it did are unchanged then and cost no write.
                status, message = SyncRun.Status.INTERRUPTED, guard.reason
            elif not dry_run and account_ids is None:
                _advance_cursor(cursor, summary)
            problems = engine.run_problems()
            if problems:
                if status == SyncRun.Status.SUCCEEDED:
                    status = SyncRun.Status.PARTLY_FAILED
                message = " ".join([message, *problems]).strip()
    except (ApiError, ConnectionNotConfigured) as exc:
        stopped_by = exc
        message = f"The run stopped: {run_error_explain(exc)}"
        logger.warning("sync run failed: %s", message)
    except RunStopped:
        status, message = SyncRun.Status.INTERRUPTED, guard.reason or ""
    except Exception as exc:
        message = f"The run stopped on an unexpected error: {type(exc).__name__}: {exc}"
        logger.exception("sync run crashed")
        if run is not None:
            _finish(run, recorder, engine, SyncRun.Status.FAILED, message, cursor)
            lease.lease_release(holder=holder)
            _events_held_queue()
        raise
    except BaseException as exc:
        # Ctrl-C, or the queue's timeout (a SystemExit): the process ends, but the run is
        # closed now rather than when its lease lapses.
        if run is not None:
            with contextlib.suppress(Exception):
                _finish(run, recorder, engine, SyncRun.Status.INTERRUPTED, _ended_by(exc), cursor)
            with contextlib.suppress(Exception):
                lease.lease_release(holder=holder)
        raise
    connection_health_after_run(
        run_id=run.pk if run else None, error=stopped_by, api_calls=_api_calls(engine)
    )
    if run is not None:
        _finish(run, recorder, engine, status, message, cursor)
        lease.lease_release(holder=holder)
        _events_held_queue()
        from syncadmin.services.alerts import run_alert_send

        run_alert_send(run=run)
    return RunReport(
        run=run,
        status=status,
        counts=dict(recorder.counts),
        outcomes=recorder.outcomes_kept,
        message=message,
        api_calls=_api_calls(engine),
    )


def _events_held_queue() -> None:
    """Near-real-time events that came while this run held the lease are synced right after it
    (after the lease is released, so the event sync can take it)."""
    from syncadmin.services.event_sync import event_sync_queue_if_pending

    try:
        event_sync_queue_if_pending()
    except Exception:  # the retry schedule takes them up; never fail a finished run for it
        logger.exception("could not queue the near-real-time events held during the run")


def _ended_by(exc: BaseException) -> str:
    from django_q.exceptions import TimeoutException

    if isinstance(exc, TimeoutException):
        return (
            f"The task queue's time limit (Q_TIMEOUT, {settings.Q_CLUSTER.get('timeout')} s) "
            f"stopped this run. {PICKS_UP}"
        )
    if isinstance(exc, KeyboardInterrupt):
        return f"The run was stopped by hand (Ctrl-C). {PICKS_UP}"
    return f"The run was stopped ({type(exc).__name__}). {PICKS_UP}"


def _api_calls(engine: Any) -> dict[str, dict[str, int]]:
    if engine is None:
        return {}
    return {
        "zuora": engine.zuora.calls_by_kind(),
        "netsuite": engine.netsuite.calls_by_kind(),
    }


def _advance_cursor(cursor: SyncCursor, summary: RunSummary) -> None:
    watermark = summary.watermark_after
    settled_through = watermark if summary.settled else cursor.settled_through
    settled_rows = summary.settled_rows if summary.settled else cursor.settled_rows
    if watermark is not None and (
        watermark != cursor.watermark
        or settled_through != cursor.settled_through
        or settled_rows != cursor.settled_rows
        or summary.waiting != cursor.waiting
    ):
        cursor.watermark = watermark
        cursor.settled_through = settled_through
        cursor.settled_rows = settled_rows
        cursor.waiting = summary.waiting
        cursor.save(
            update_fields=["watermark", "settled_through", "settled_rows", "waiting", "updated_at"]
        )


def _finish(
    run: SyncRun,
    recorder: Recorder,
    engine: Any,
    status: str,
    message: str,
    cursor: SyncCursor,
) -> None:
    try:
        recorder.flush()
    except Exception:
        logger.exception("could not store the last results of run %s", run.pk)
    run.refresh_from_db()
    run.status = status
    run.message = storable_text(message)  # vendors' error texts among it
    run.finished_at = timezone.now()
    cursor.refresh_from_db()
    run.watermark_after = cursor.watermark
    run.api_calls = _api_calls(engine)
    run.save()


def sync_run_queue(
    *,
    trigger: str,
    user: Any = None,
    account_ids: list[str] | None = None,
    full: bool = False,
) -> str:
    """Queue a run on django-q2; returns the task id. A `full` run reads every record of the
    master, not only those changed since the watermark (the one-time resync an admin asks for
    after adding a field mapping)."""
    from django_q.tasks import async_task

    user_id = getattr(user, "pk", None)
    extra = {"full": True} if full else {}
    return async_task(
        "syncadmin.tasks.sync_customers_task",
        trigger=trigger,
        user_id=user_id,
        account_ids=account_ids,
        task_name=f"customer sync ({trigger}{', full' if full else ''})",
        **extra,
    )


def preferences_switch_master(*, master: str) -> SyncPreferences:
    """Change the master direction: every link stays, and the new direction starts from a
    fresh watermark so its first run re-reads its source and links instead of re-creating."""
    with transaction.atomic():
        preferences = SyncPreferences.load()
        if preferences.master == master:
            return preferences
        preferences.master = master
        preferences.save()
        SyncCursor.objects.filter(direction=preferences.direction).update(watermark=None)
    return preferences
