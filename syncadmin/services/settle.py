"""The watermark of a run and the settle pass's bookkeeping: where the next run starts, and
how a run tells its own write-backs to the source (each moves the record's last-modified time)
from users' edits, so that the next run needs no overlap window.

SettleState is the base of SyncEngine (engine.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncadmin.models import Outcome, SyncCursor
from syncadmin.services.recording import AccountOutcome


@dataclass
class RunSummary:
    selected: int = 0
    watermark_after: datetime | None = None
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    throttles: int = 0
    # The watermark is past this run's own write-backs and needs no overlap next time.
    settled: bool = False
    # When settled: digests of the source rows in the margin before the watermark, and at it,
    # that this run synced (its own write-backs, mostly), by id, so that the next run can tell
    # them from edits.
    settled_rows: dict[str, str] = field(default_factory=dict)
    # Failed records still waiting for their parent, not looked at in this run (see
    # selectors.open_failures): the cursor keeps them open for the next runs.
    waiting: dict[str, str] = field(default_factory=dict)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Last-modified stamps have one-second resolution and commits are not instantaneous: re-reading
# a window before the watermark (and de-duplicating by id) never loses a record changed in the
# same second as the watermark, or committed just after the last read.
OVERLAP = timedelta(minutes=5)
# Someone else's write stamped just before our last write-back may commit a moment after it (a
# stamp is taken when the write starts, not when it commits). The settling run reads back at
# once, without waiting for such writes; the next run re-reads this margin before the
# watermark, which catches them.
SETTLE_MARGIN = timedelta(seconds=1)


def content_digest(record: dict[str, Any], ignore: frozenset[str]) -> bytes:
    """A digest of what a record holds, leaving out `ignore` (what our own write-back and the
    system's save stamp change)."""
    content = {k: v for k, v in record.items() if k not in ignore}
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


# Time slices the settle pass reads at once.
SETTLE_SLICES = 8
# Read-back rounds: the records someone edited during the run are synced by the settle pass,
# and their write-backs read back once more.
SETTLE_ROUNDS = 2


@dataclass
class WrittenBack:
    """One settle round's share of the run's own writes to its source system."""

    ids: set[str]
    started: list[datetime]  # when each write was sent (source clock order, roughly)

    def slices(self, since: datetime, *, per_slice: int) -> list[tuple[datetime, datetime | None]]:
        """[start, end) windows from `since`, the last one open, each holding about as many of
        our writes (at least `per_slice`: about what one read call returns), so that reading
        them back can run in parallel."""
        # Never before `since`: a write's start is an estimate on the source's clock (see
        # SyncEngine.source_now), and a window before `since` would read rows not ours.
        times = sorted(max(since, started) for started in self.started)
        count = max(1, min(SETTLE_SLICES, len(times) // per_slice))
        bounds = [since] + [times[len(times) * i // count] for i in range(1, count)]
        return list(zip(bounds, [*bounds[1:], None], strict=True))


class OwnWrites:
    """The cross-references a run wrote back to its source system. Each one moves the source
    record's last-modified time, so the settle pass must tell them from users' edits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: set[str] = set()
        self._started: list[datetime] = []

    def add(self, ids: Iterable[str], started: datetime) -> None:
        """Call when a write answered, or failed: even a failed call may have landed."""
        with self._lock:
            for record_id in ids:
                self._ids.add(record_id)
                self._started.append(started)

    def take(self) -> WrittenBack | None:
        """The writes since the last take, or None when there were none."""
        with self._lock:
            if not self._ids:
                return None
            taken = WrittenBack(self._ids, self._started)
            self._ids, self._started = set(), []
            return taken

    def pending(self) -> bool:
        with self._lock:
            return bool(self._ids)


class SettleState:
    """A run's watermark: the newest change it saw, held before retryable failures, moved past
    its own write-backs once the settle pass has read them back."""

    direction: str  # a Direction value, set by each direction

    def _init_settle_state(self, watermark: datetime | None, *, whole_selection: bool) -> None:
        self.watermark = watermark
        self.summary = RunSummary()
        self._newest_seen: datetime | None = None
        self._oldest_retryable: datetime | None = None
        # The newest stamp of our own write-backs that the settle pass read back.
        self._settled_at: datetime | None = None
        self._own_writes = OwnWrites()
        # The digest of each record as this run selected it, whole and its row alone.
        self._fingerprints: dict[str, bytes] = {}
        self._row_digests: dict[str, bytes] = {}
        # Rows this run synced that its settle pass read back: (stamp, digest) by id.
        self._settled_rows: dict[str, tuple[datetime, str]] = {}
        self._settled_through: datetime | None = None
        self._prune_rows_at = 4096
        self._rows_at_watermark: dict[str, str] = {}
        if self.watermark is not None and whole_selection:
            cursor = (
                SyncCursor.objects.filter(direction=self.direction)
                .values_list("settled_through", "settled_rows")
                .first()
            )
            if cursor is not None:
                self._settled_through, self._rows_at_watermark = cursor[0], cursor[1] or {}

    def since(self) -> datetime:
        """Where this run's selection starts: the watermark less the overlap window."""
        if self.watermark is None:
            return EPOCH
        if self.watermark_settled():
            # The run that set this watermark re-read everything after its own write-backs
            # (see settle()): only the settle margin is left to cover.
            return self.watermark - SETTLE_MARGIN
        return self.watermark - OVERLAP

    def watermark_settled(self) -> bool:
        return self._settled_through is not None and self._settled_through == self.watermark

    def _note_outcome(self, outcome: AccountOutcome) -> bool:
        """Move the watermark by an outcome's source change; False when it is not news (see
        _already_synced) and is not reported."""
        at = outcome.selected_at
        if at is None:
            return True
        if self._newest_seen is None or at > self._newest_seen:
            self._newest_seen = at
        if outcome.retryable:
            self._hold_watermark(at)
        if self._already_synced(outcome, at):
            self.summary.selected -= 1
            return False
        return True

    def _already_synced(self, outcome: AccountOutcome, at: datetime) -> bool:
        """An unchanged record read again only because its change is at or before the
        watermark (the overlap window, the settle margin): an earlier run synced that change,
        so it is not news and the run does not report it."""
        return (
            outcome.outcome == Outcome.UNCHANGED
            and self.watermark is not None
            and at <= self.watermark
            and outcome.link is None
            and outcome.writeback is None
            and not outcome.warnings
        )

    def next_watermark(self) -> datetime | None:
        """The newest change seen, but never past a retryable failure, so it is read again;
        after settle(), the newest of our own write-backs it read back."""
        if self._oldest_retryable is None and self._settled_at is not None:
            if self.watermark is not None and self._settled_at < self.watermark:
                return self.watermark
            return self._settled_at
        return self._watermark_from_changes()

    def _sum_up(self) -> RunSummary:
        """The next watermark, and whether it is settled (past every write-back of ours, so
        the next run needs no overlap window)."""
        self.summary.watermark_after = self.next_watermark()
        self.summary.settled = (
            self._settled_at is not None
            and self._oldest_retryable is None
            and self.summary.watermark_after == self._settled_at
        )
        if self.summary.settled:
            assert self._settled_at is not None
            # Rows stamped past the watermark too: the next run lists them again (our late
            # write-backs, for example), and knows them by their digests.
            start = self._settled_at - SETTLE_MARGIN
            self.summary.settled_rows = {
                row_id: digest for row_id, (at, digest) in self._settled_rows.items() if start <= at
            }
        self._settled_rows = {}
        return self.summary

    def _settle_own(self, newest: datetime | None) -> None:
        """The read back saw our own write-backs up to `newest`."""
        if newest is not None:
            self._settled_at = max(newest, self._settled_at) if self._settled_at else newest

    def _settle_late_write_backs(self, rows: dict[str, bytes]) -> None:
        """Our write-backs that answered after the read back went out (see the directions'
        settle()). They change no field of the record's own, so its row is the one this run
        synced (`rows`: each record's row digest as selected). The digests go with the
        watermark, and the next run does not report those records while their rows stay so;
        an edit made after the read back changes the row, and is synced then."""
        late = self._own_writes.take()
        if late is None or self._settled_at is None:
            return
        for record_id in late.ids:
            digest = rows.get(record_id)
            if digest is not None:
                self._settled_rows[record_id] = (self._settled_at, digest.hex())

    def _settle_without_write_backs(self) -> None:
        """Settle a run that wrote nothing back to its source: there is nothing of ours to read
        back, and its selection read everything stamped up to the run's start, so the
        watermark it reached is settled as it is (the next run re-reads only the margin).

        Without this, a run that only updated records (or found nothing new) left the
        watermark unsettled, and so did every later run with nothing to write back: each
        re-read the whole overlap window before the same watermark, reported every record in
        it again as unchanged, and never moved on."""
        if self._oldest_retryable is None and not self._own_writes.pending():
            self._settled_at = self._watermark_from_changes()
            if self._settled_at is not None and self.watermark_settled():
                # The settling run's rows stay known: its late write-backs are stamped past
                # the watermark, and would otherwise be reported by the next run.
                for record_id, digest in self._rows_at_watermark.items():
                    self._settled_rows.setdefault(record_id, (self._settled_at, digest))

    def _note_synced_row(self, record_id: str, at: datetime | None, digest: str) -> None:
        """A source row as this run knows it (selected or skipped as already synced), kept
        for the next run if it falls in the margin before the watermark (see _sum_up)."""
        if at is None:
            return
        self._settled_rows[record_id] = (at, digest)
        if len(self._settled_rows) >= self._prune_rows_at:
            # Rows are noted in about their stamps' order: only the newest second can
            # still fall in the margin.
            newest = max(stamp for stamp, _ in self._settled_rows.values())
            self._settled_rows = {
                k: v for k, v in self._settled_rows.items() if v[0] >= newest - SETTLE_MARGIN
            }
            self._prune_rows_at = max(4096, 2 * len(self._settled_rows))

    def _hold_watermark(self, at: datetime) -> None:
        """Keep the next watermark at or before `at`, so that change is read again."""
        if self._oldest_retryable is None or at < self._oldest_retryable:
            self._oldest_retryable = at

    def _watermark_from_changes(self) -> datetime | None:
        """The newest change seen, but never past a retryable failure; never backwards."""
        if self._oldest_retryable is not None:
            return min(self._oldest_retryable, self._newest_seen or self._oldest_retryable)
        if self._newest_seen is None:
            return self.watermark
        if self.watermark is not None and self._newest_seen < self.watermark:
            return self.watermark
        return self._newest_seen
