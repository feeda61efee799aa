"""Where a run's per-account outcomes go: the database in batches, or memory for a dry run."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from syncadmin.models import AccountResult, Outcome, RecordLink, SyncRun
from syncadmin.services.storable import make_storable, storable, storable_text


@dataclass
class AccountOutcome:
    source_id: str
    source_number: str = ""
    source_name: str = ""
    outcome: str = Outcome.UNCHANGED
    destination_id: str = ""
    reason: str = ""
    error_code: str = ""
    error_message: str = ""
    retryable: bool = False
    waiting_for: str = ""  # the parent's source id, when the parent is why it failed
    changes: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    selected_at: datetime | None = None  # the source change that selected it (for the watermark)
    link: RecordLink | None = None  # a link to save together with this outcome
    link_is_new: bool = False
    # Fields to write back to the source record once the destination write is done; the
    # outcome is recorded after that write-back (see SyncEngine._flush_writebacks).
    writeback: dict[str, Any] | None = None


ProgressFn = Callable[[int, int], None]


class Recorder:
    """Collects outcomes; subclasses persist them."""

    def __init__(self, progress: ProgressFn | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self.outcomes_kept: list[AccountOutcome] = []
        self.total = 0
        self.processed = 0
        self.progress = progress
        # Set by an engine when its next step flushes anyway, while its calls are on the
        # wire: a flush before then would only stand between the last write and that step.
        self.hold = False

    def set_total(self, total: int) -> None:
        self.total = total
        self._report()

    def add(self, outcome: AccountOutcome) -> None:
        self.counts[outcome.outcome] += 1
        self.processed += 1
        self._store(outcome)
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.processed, self.total)

    def _store(self, outcome: AccountOutcome) -> None:
        self.outcomes_kept.append(outcome)

    def flush(self) -> None:
        pass


class MemoryRecorder(Recorder):
    """Dry runs: nothing is written anywhere."""


class DatabaseRecorder(Recorder):
    """Writes links and results in batches: one bulk insert per batch, never one per account."""

    # Rows per INSERT statement: well under SQLite's limit on bound parameters.
    INSERT_BATCH = 500

    def __init__(
        self,
        run: SyncRun,
        *,
        progress: ProgressFn | None = None,
        batch_size: int = 200,
        flush_seconds: float = 2.0,
        keep: bool = False,
    ) -> None:
        super().__init__(progress)
        self.run = run
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.keep = keep
        self._pending: list[AccountOutcome] = []
        self._last_flush = time.monotonic()

    def set_total(self, total: int) -> None:
        super().set_total(total)
        self.run.total = total
        self.run.save(update_fields=["total"])

    def _store(self, outcome: AccountOutcome) -> None:
        if self.keep:
            self.outcomes_kept.append(outcome)
        self._pending.append(outcome)
        if not self.hold and (
            len(self._pending) >= self.batch_size
            or time.monotonic() - self._last_flush > self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        self.hold = False
        pending, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        with transaction.atomic():
            for o in pending:
                if o.link is not None:
                    make_storable(o.link)
            new_links = [o.link for o in pending if o.link is not None and o.link_is_new]
            if new_links:
                # Sets their primary keys (RETURNING, on PostgreSQL and SQLite alike): the
                # results below refer to them, and a later flush updates them.
                RecordLink.objects.bulk_create(new_links, batch_size=self.INSERT_BATCH)
            changed_links = [o.link for o in pending if o.link is not None and not o.link_is_new]
            if changed_links:
                RecordLink.objects.bulk_update(
                    changed_links,
                    [
                        "zuora_account_number",
                        "zuora_bill_to_id",
                        "zuora_sold_to_id",
                        "netsuite_entity_id",
                        "netsuite_bill_to_line",
                        "netsuite_sold_to_line",
                        "last_payload",
                        "last_payload_hash",
                        "last_synced_at",
                        "writeback_pending",
                    ],
                )
            AccountResult.objects.bulk_create(
                [
                    AccountResult(
                        run=self.run,
                        link=o.link,
                        source_id=storable_text(o.source_id),
                        source_number=storable_text(o.source_number)[:100],
                        source_name=storable_text(o.source_name)[:255],
                        destination_id=storable_text(o.destination_id),
                        outcome=o.outcome,
                        reason=storable_text(o.reason)[:255],
                        error_code=storable_text(o.error_code)[:64],
                        error_message=storable_text(o.error_message),
                        retryable=o.retryable,
                        waiting_for=storable_text(o.waiting_for),
                        changes=storable(o.changes),
                        warnings=storable(o.warnings),
                    )
                    for o in pending
                ],
                batch_size=self.INSERT_BATCH,
            )
            for o in pending:
                o.link_is_new = False
            counts = self.counts
            SyncRun.objects.filter(pk=self.run.pk).update(
                processed=self.processed,
                created=counts[Outcome.CREATED],
                updated=counts[Outcome.UPDATED],
                unchanged=counts[Outcome.UNCHANGED],
                linked=counts[Outcome.LINKED],
                skipped=counts[Outcome.SKIPPED],
                failed=counts[Outcome.FAILED],
            )


def now() -> datetime:
    return timezone.now()
