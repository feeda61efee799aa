"""One sync run: the service the django-q2 task, the management commands and the admin call."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.http import ApiError, CircuitBreaker
from syncadmin.models import Direction, SyncCursor, SyncPreferences, SyncRun
from syncadmin.services import lease
from syncadmin.services.concurrency import AdaptiveLimiter, interpreter_tuned_for_calls
from syncadmin.services.connections import (
    ConnectionNotConfigured,
    netsuite_client_build,
    zuora_client_build,
)
from syncadmin.services.engine import RunSummary
from syncadmin.services.recording import (
    AccountOutcome,
    DatabaseRecorder,
    MemoryRecorder,
    ProgressFn,
    Recorder,
)
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


class _LeaseKeeper:
    """Renews the run's lease in the background while the run lives."""

    def __init__(self, holder: str, interval: float = 60.0) -> None:
        self.holder = holder
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="lease-keeper")

    def _loop(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(self.interval):
                lease.lease_renew(holder=self.holder)
        finally:
            connection.close()

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


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
) -> RunReport:
    """Run one sync now in this process, in the direction the preferences set.

    A run that finds another one active is recorded as skipped. A dry run computes every action
    and writes nothing: no API write, no link, no result, no watermark.
    """
    preferences = SyncPreferences.load()
    direction = preferences.direction
    holder = lease.new_holder_id()
    if not dry_run and not lease.lease_acquire(holder=holder):
        run = SyncRun.objects.create(
            trigger=trigger,
            direction=direction,
            status=SyncRun.Status.SKIPPED,
            triggered_by=user if getattr(user, "pk", None) else None,
            finished_at=timezone.now(),
            message="Another sync run was active; this one was skipped.",
        )
        return RunReport(run=run, status=run.status, message=run.message)

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
        )
        recorder = DatabaseRecorder(run, progress=progress, keep=keep_outcomes)

    engine = None
    status = SyncRun.Status.FAILED
    message = ""
    try:
        with _LeaseKeeper(holder) if not dry_run else _NoKeeper():
            limiter = AdaptiveLimiter(preferences.netsuite_concurrency)
            # One breaker for both systems: when one stops the run, the other stops too.
            options = {
                "on_throttle": limiter.throttled,
                "breaker": CircuitBreaker(),
                **(client_options or {}),
            }
            zuora = zuora_client_build(**options)
            netsuite = netsuite_client_build(
                pool_size=max(8, preferences.netsuite_concurrency * 2), **options
            )
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
            )
            with interpreter_tuned_for_calls():
                summary = engine.run()
            failed = recorder.counts.get("failed", 0)
            status = SyncRun.Status.PARTLY_FAILED if failed else SyncRun.Status.SUCCEEDED
            if not dry_run and account_ids is None:
                _advance_cursor(cursor, summary)
    except (ApiError, ConnectionNotConfigured) as exc:
        message = f"The run stopped: {exc}"
        logger.warning("sync run failed: %s", message)
    except Exception as exc:
        message = f"The run stopped on an unexpected error: {type(exc).__name__}: {exc}"
        logger.exception("sync run crashed")
        if run is not None:
            _finish(run, recorder, engine, SyncRun.Status.FAILED, message, cursor)
            lease.lease_release(holder=holder)
        raise
    if run is not None:
        _finish(run, recorder, engine, status, message, cursor)
        lease.lease_release(holder=holder)
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


class _NoKeeper:
    def __enter__(self) -> _NoKeeper:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


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


def sync_run_queue(*, trigger: str, user: Any = None, account_ids: list[str] | None = None) -> str:
    """Queue a run on django-q2; returns the task id."""
    from django_q.tasks import async_task

    user_id = getattr(user, "pk", None)
    return async_task(
        "syncadmin.tasks.sync_customers_task",
        trigger=trigger,
        user_id=user_id,
        account_ids=account_ids,
        task_name=f"customer sync ({trigger})",
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
