"""The run both sync directions share: select, admit batches, send each record once its parent
is in the destination, with up to the configured number of writes at once, record the
outcomes, then read back our own write-backs so the watermark can move past them.

A direction subclasses SyncEngine and supplies only what differs: how it selects its source
records (`_batches`), finds their links and existing destination records (`_admit`), maps and
writes one record (`_sync`), writes the cross-reference back in batches if it does
(`_write_back_batch`), and reads back what changed during the run (`_start_read_back`,
`_finish_read_back`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from connectors.netsuite.client import NetSuiteClient
from connectors.zuora.client import ZuoraClient
from syncadmin.mapping.added import AddedMapping
from syncadmin.models import Outcome, RecordLink, SyncPreferences
from syncadmin.problem_selectors import parent_root_causes
from syncadmin.selectors import added_mappings_for, name_translations
from syncadmin.services.concurrency import AdaptiveLimiter, RunStopped
from syncadmin.services.hierarchy import Hierarchy, Wording
from syncadmin.services.preferences import preferences_mapping_options
from syncadmin.services.recording import AccountOutcome, Recorder, now
from syncadmin.services.settle import (
    OVERLAP,
    SETTLE_ROUNDS,
    RunSummary,
    SettleState,
    WrittenBack,
)

FaultHook = Callable[[str, dict[str, Any]], None]
# Records handed to the workers but not finished: bounds memory, keeps the workers fed.
MAX_QUEUED = 2000
LINKS_PER_QUERY = 500


class SyncEngine(SettleState):
    direction: str
    wording: Wording  # how messages name the direction's records and systems
    # The RecordLink fields holding a record's id in the source and in the destination.
    source_key: str
    destination_key: str
    # Write-backs per call, for a direction whose outcomes carry `writeback` (see
    # _write_back_batch); the others write back within _sync.
    writeback_batch = 1
    # Write-back calls at once, on threads of their own.
    writebacks_at_once = 1

    def __init__(
        self,
        *,
        zuora: ZuoraClient,
        netsuite: NetSuiteClient,
        preferences: SyncPreferences,
        recorder: Recorder,
        watermark: datetime | None,
        dry_run: bool = False,
        account_ids: Iterable[str] | None = None,
        fault_hook: FaultHook | None = None,
        limiter: AdaptiveLimiter | None = None,
        should_stop: Callable[[], bool] | None = None,
        added_mappings: Iterable[AddedMapping] | None = None,
    ) -> None:
        self.should_stop = should_stop
        self.zuora = zuora
        self.netsuite = netsuite
        self.preferences = preferences
        # The name lookup tables and the field mappings admins added, read once per run (the
        # preview passes the mappings it shows instead).
        if added_mappings is None:
            added_mappings = added_mappings_for(direction=self.direction)
        self.options = replace(
            preferences_mapping_options(preferences),
            translations=name_translations(),
            added_mappings=tuple(added_mappings),
        )
        self.recorder = recorder
        self.dry_run = dry_run
        self.account_ids = [str(i) for i in account_ids] if account_ids is not None else None
        self.fault_hook = fault_hook
        self.limiter = limiter or AdaptiveLimiter(preferences.netsuite_concurrency)
        # Every NetSuite call holds a slot of the limiter while it is on the wire only, so a
        # slot never waits for our own JSON, signing or bookkeeping.
        netsuite.transport.gate = self.limiter
        self.new_only = preferences.sync_behavior == SyncPreferences.Behavior.NEW_ONLY
        self._init_settle_state(watermark, whole_selection=self.account_ids is None)
        # The source's clock less ours, read when first needed (see source_now).
        self._clock_offset: timedelta | None = None
        self._clock_lock = threading.Lock()
        self._run_started = now()
        self.hierarchy = Hierarchy(
            wording=self.wording,
            parent_of=lambda item: self._parent_id(self._source(item)),
            describe=self._describe,
            send=self._submit,
            fail=lambda item, code, message, retryable: self._record(
                self._failure(item, code, message, retryable)
            ),
        )
        self._pool: ThreadPoolExecutor | None = None
        self._writeback_pool: ThreadPoolExecutor | None = None
        # Records (or None: a batch of write-backs) on the wire, finished ones fed to a queue
        # by done-callbacks: concurrent.futures.wait() would walk every pending future on each
        # call, which at thousands in flight costs more CPU than the sync.
        self._futures: dict[Future[Any], Any] = {}
        self._records_in_flight = 0
        # Finished futures, and (source id, destination id) of parents written whose own
        # write-back is still running: their children need not wait for it.
        self._done: queue.SimpleQueue[Future[Any] | tuple[str, str]] = queue.SimpleQueue()
        self._writebacks: list[AccountOutcome] = []  # waiting for a full batch
        # The settle pass's reads, when they went out before the run's last calls answered.
        self._early_read: Any = None

    # -- per direction ------------------------------------------------------------------------
    def _batches(self) -> Iterator[list[Any]]:
        """The selected records, in batches (see _admit_batch), until the run must stop."""
        raise NotImplementedError

    def _screen(self, records: list[Any]) -> list[list[Any]]:
        """Records the read back found, in batches to admit."""
        return [records] if records else []

    def _admit(self, batch: list[Any]) -> list[Any]:
        """Record the batch's records that need no write (skipped, unchanged, waiting for a
        review: see _skip, _unchanged, _hold_for_review), and give the others what their
        write needs (their link, the existing destination record); those are returned."""
        raise NotImplementedError

    def _sync(self, item: Any, parent_destination: str | None) -> AccountOutcome:
        """Map and write one record, in a worker thread."""
        raise NotImplementedError

    def _remember(self, link: RecordLink, payload: dict[str, Any]) -> None:
        """Keep on the link what was sent, so an unchanged record is not written again."""
        raise NotImplementedError

    def _write_back(
        self, source: dict[str, Any], link: RecordLink, outcome: AccountOutcome
    ) -> None:
        """Put the cross-reference on the source record (or queue it for _write_back_batch)."""
        raise NotImplementedError

    def _newly_linked(
        self,
        source: dict[str, Any],
        link: RecordLink,
        payload: dict[str, Any],
        outcome: AccountOutcome,
    ) -> AccountOutcome:
        """A record just created or matched in the destination: remember what was sent, write
        the cross-reference back, and hand the new link to the recorder with the outcome."""
        self._remember(link, payload)
        self._write_back(source, link, outcome)
        outcome.link, outcome.link_is_new = link, True
        return outcome

    def _write_back_batch(self, batch: list[AccountOutcome]) -> list[AccountOutcome]:
        raise NotImplementedError

    def _start_read_back(self, written: WrittenBack, since: datetime) -> Any:
        """Send the settle pass's reads of what changed since `since`."""
        raise NotImplementedError

    def _finish_read_back(self, read_back: Any) -> tuple[list[Any], datetime | None]:
        """The records someone changed during the run, and the newest stamp of our own
        write-backs that the read back saw."""
        raise NotImplementedError

    def _read_back_early(self, records_in_flight: int) -> bool:
        """Whether the settle pass may read back while these records are still on the wire."""
        return records_in_flight == 0

    def _explain_absent_parents(self, parent_ids: list[str]) -> dict[str, str]:
        """Messages for children whose parent was neither linked nor in this run, by id: the
        parent's number, name and root cause as its latest result in an earlier run found them
        (the run did not read the parent again)."""
        return parent_root_causes(direction=self.direction, parent_ids=parent_ids)

    def _link_destination(self, link: RecordLink) -> str:
        return getattr(link, self.destination_key)

    def _links(self, source_ids: list[str]) -> dict[str, RecordLink]:
        """The links of these source records, by source id (a query per 500)."""
        links: dict[str, RecordLink] = {}
        for start in range(0, len(source_ids), LINKS_PER_QUERY):
            chunk = source_ids[start : start + LINKS_PER_QUERY]
            for link in RecordLink.objects.filter(**{f"{self.source_key}__in": chunk}):
                links[getattr(link, self.source_key)] = link
        return links

    def _parent_id(self, record: dict[str, Any]) -> str | None:
        raise NotImplementedError

    def _number_and_name(self, source: dict[str, Any]) -> tuple[str, str]:
        """How results name a source record: its number and its name."""
        raise NotImplementedError

    def _outcome(self, item: Any, outcome: str, **values: Any) -> AccountOutcome:
        number, name = self._number_and_name(self._source(item))
        return AccountOutcome(
            source_id=item.id,
            source_number=number,
            source_name=name,
            outcome=outcome,
            selected_at=item.selected_at,
            **values,
        )

    def _source(self, item: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _describe(self, item: Any) -> str:
        raise NotImplementedError

    def _worker_count(self) -> int:
        return max(1, self.preferences.netsuite_concurrency)

    def _throttles(self) -> int:
        return self.limiter.throttles

    def lookups(self) -> Any:
        """What mapping needs from either system, read once per run."""
        raise NotImplementedError

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        self._run_started = now()
        self._pool = ThreadPoolExecutor(max_workers=self._worker_count(), thread_name_prefix="sync")
        self._writeback_pool = ThreadPoolExecutor(
            max_workers=self.writebacks_at_once, thread_name_prefix="writeback"
        )
        try:
            for batch in self._batches():
                self._admit_batch(batch)
            self._finish(settle_early=not self.dry_run and self.account_ids is None)
            try:
                self.settle()
            finally:
                # Even if the read back failed: the last write-backs' links are recorded.
                self._finish()
        except RunStopped:
            self._finish()  # a read met the stop: record what was sent
        except BaseException:
            self._pool.shutdown(wait=True)  # nothing of this run may still be on the wire
            self._writeback_pool.shutdown(wait=True)
            raise
        # Every call has answered: the idle threads exit on their own, unjoined.
        self._pool.shutdown(wait=False)
        self._writeback_pool.shutdown(wait=False)
        self.recorder.set_total(self.summary.selected)
        self.recorder.flush()
        summary = self._sum_up()
        summary.throttles = self._throttles()
        return summary

    def _admit_batch(self, batch: list[Any]) -> None:
        """Admit a batch (see _admit), then send every record whose parent is ready; children
        of parents not synced yet wait."""
        self._collect(block=False)
        eligible = self._admit(batch)
        if not eligible:
            return
        # Read before the first write (a failure stops the run, not one record at a time).
        self.lookups()
        for parent, link in self._links(sorted(self.hierarchy.unknown_parents(eligible))).items():
            self.hierarchy.destinations[parent] = self._link_destination(link)
        parents = self.hierarchy.parents(eligible)
        for item in eligible:
            item.is_parent = item.id in parents
            self.hierarchy.place(item)
        while len(self._futures) > MAX_QUEUED:
            self._collect(block=True)

    def _count_selected(self, count: int) -> None:
        self.summary.selected += count
        self.recorder.set_total(self.summary.selected)

    def _skip(self, item: Any, reason: str, link: RecordLink | None) -> None:
        self._record(self._outcome(item, Outcome.SKIPPED, reason=reason))
        if link is not None:
            # A skipped parent that is already in the destination still carries its children.
            self.hierarchy.reached(item.id, self._link_destination(link))
        else:
            self.hierarchy.cannot_reach(item, reason)

    def _unchanged(self, item: Any, destination: str) -> None:
        self._record(self._outcome(item, Outcome.UNCHANGED, destination_id=destination))
        self.hierarchy.reached(item.id, destination)

    def _hold_for_review(self, item: Any, reason: str) -> None:
        self._record(self._outcome(item, Outcome.NEEDS_REVIEW, reason=reason))
        self.hierarchy.cannot_reach(item, "it waits for a match to be reviewed")

    def _submit(self, item: Any, parent_destination: str | None) -> None:
        if self.stopping():
            self.hierarchy.abandoned(item.id)
            return  # not sent: the next run sends it
        assert self._pool is not None
        # Children may have come to wait for it since it was admitted.
        item.is_parent = item.is_parent or self.hierarchy.has_children_waiting(item.id)
        future = self._pool.submit(self._work, item, parent_destination)
        self._futures[future] = item
        self._records_in_flight += 1
        future.add_done_callback(self._done.put)

    def _work(self, item: Any, parent_destination: str | None) -> AccountOutcome:
        self._stop_here()
        if item.is_parent:
            # Ahead of the writes no record waits for: the run's last calls are then its
            # leaves, side by side, not a child a round trip after each parent.
            with self.limiter.urgent():
                return self._sync(item, parent_destination)
        return self._sync(item, parent_destination)

    def _parent_ready(self, source_id: str, destination_id: str) -> None:
        """Called from a worker once a record is written: its children need its destination
        id, not its write-back, so they may go now."""
        self._done.put((source_id, destination_id))

    def _collect(self, *, block: bool) -> None:
        """Record finished records (in this thread: the recorder is not thread-safe) and send
        the children that waited for them."""
        if not self._futures:
            return
        done: list[Future[Any] | tuple[str, str]] = []
        try:
            done.append(self._done.get(block=block))
            while True:
                done.append(self._done.get_nowait())
        except queue.Empty:
            pass
        for entry in done:
            if isinstance(entry, tuple):
                self.hierarchy.reached(*entry)
                continue
            item = self._futures.pop(entry)
            if item is None:
                for written in entry.result():
                    self._record(written)
                continue
            self._records_in_flight -= 1
            self._forget(item)
            try:
                outcome = entry.result()
            except RunStopped:
                self.hierarchy.abandoned(item.id)
                continue  # not sent: the next run sends it
            if outcome.writeback:
                self._writebacks.append(outcome)
                if len(self._writebacks) >= self.writeback_batch:
                    self._flush_writebacks()
            else:
                self._record(outcome)
            if outcome.outcome == Outcome.FAILED:
                self.hierarchy.failed(item, retryable=outcome.retryable)
            else:
                self.hierarchy.reached(item.id, outcome.destination_id or None)

    def _forget(self, item: Any) -> None:
        """What a record held only while it synced may go (memory stays bounded)."""

    def _flush_writebacks(self) -> None:
        batch, self._writebacks = self._writebacks, []
        if batch:
            assert self._writeback_pool is not None
            future = self._writeback_pool.submit(self._write_back_batch, batch)
            self._futures[future] = None
            future.add_done_callback(self._done.put)

    def _finish(self, *, settle_early: bool = False) -> None:
        """After the last record: wait for every write, then fail the children whose parent
        never came (not linked, not changed) or that sit in a hierarchy cycle.

        With settle_early, return once the settle pass's read back is sent, as soon as the
        direction allows it (see _read_back_early) and some write-back has answered: it then
        runs beside the last calls instead of a round trip after them."""
        if not self.stopping():
            # Every record is placed: a parent neither sent nor waiting will not come. Its
            # children fail now, while the last writes run (the message may need a read).
            self.hierarchy.fail_absent_parents(self._explain_absent_parents)
        while self._futures or self.hierarchy.has_waiting() or self._writebacks:
            if not self._records_in_flight:
                # Only write-backs are left: the settle pass stores the results while it
                # reads back.
                self.recorder.hold = not self.dry_run and self.account_ids is None
                self._flush_writebacks()  # nothing more will join this batch
            if (
                settle_early
                and self._early_read is None
                and not self.hierarchy.has_waiting()
                and self._read_back_early(self._records_in_flight)
                and (written := self._own_writes.take()) is not None
            ):
                self._early_read = self._start_read_back(written, self._read_back_since())
                self._fault("read_back_sent", {"read_back": self._early_read})
                return
            if self._futures:
                self._collect(block=True)
            elif self.stopping():
                self.hierarchy.forget_waiting()  # their parents were never sent
            else:
                self.hierarchy.fail_absent_parents(self._explain_absent_parents)
                if self.hierarchy.has_waiting():
                    self.hierarchy.break_cycle()

    # -- after the writes: our own write-backs ------------------------------------------------
    def settle(self) -> None:
        """Re-read what changed in the source since this run started, so the watermark can
        move past the run's own write-backs (each one bumps the record's last-modified time).

        A record whose content (less that stamp and the cross-reference fields) is what this
        run synced is ours; any other is someone's edit made during the run, and it is synced
        now. Afterwards the watermark is the newest of our own write-back stamps, and the next
        run reads from there without the overlap window, except for the settle margin: a
        write by someone else stamped just before our last write-back may commit after this
        read (see SettleState)."""
        if self.dry_run or self.account_ids is not None or self.stopping():
            return
        for round_ in range(SETTLE_ROUNDS):
            read_back, self._early_read = self._early_read, None
            early = read_back is not None
            if read_back is None:
                written = self._own_writes.take()
                if written is None:
                    if round_ == 0:
                        self._settle_without_write_backs()
                    break
                read_back = self._start_read_back(written, self._read_back_since())
            # While the reads are on the wire: the links of this run must be visible to the
            # lookups of the records they find.
            self.recorder.flush()
            changed, own = self._finish_read_back(read_back)
            self._settle_own(own)
            self._fault("after_read_back", {"changed": [item.id for item in changed]})
            if early:
                # The run's last calls were on the wire during the read.
                self._finish()
                if not changed:
                    # Their rows' digests: the next run tells them from edits.
                    self._settle_late_write_backs(self._row_digests)
                    break
                self.recorder.flush()  # the records found look up their links
            for batch in self._screen(changed):
                if self.stopping():
                    break
                self._admit_batch(batch)
            self._finish()
        if self._own_writes.pending():  # someone kept editing records: keep the overlap
            self._settled_at = None

    def run_problems(self) -> list[str]:
        """What went wrong for the run as a whole (not one record), each said once, with what
        to fix: the run is then not reported as a plain success."""
        return []

    def _source_clock_offset(self) -> timedelta:
        """How far the source's clock, as its stamps read, is from ours: zero for a source
        whose stamps are instants (Zuora's carry their offset)."""
        return timedelta(0)

    def source_now(self) -> datetime:
        """Now on the source's clock (at or before it): what the source's stamps are compared
        with, never our own clock. The offset is read once, when a run first writes back:
        a run without write-backs never asks."""
        return now() + self._source_offset()

    def _source_offset(self) -> timedelta:
        if self.dry_run or self.account_ids is not None:
            return timedelta(0)  # no settle pass: the times are not compared with anything
        with self._clock_lock:
            if self._clock_offset is None:
                self._clock_offset = self._source_clock_offset()
            return self._clock_offset

    def _read_back_since(self) -> datetime:
        started = self._run_started + self._source_offset()
        return max(self.since(), started - OVERLAP)

    # -- outcomes -----------------------------------------------------------------------------
    def _failure(
        self, item: Any, code: str, message: str, retryable: bool = False
    ) -> AccountOutcome:
        # A failure caused by the parent remembers it, so the record is read again only when
        # that parent changes, is due or is linked (see selectors.open_failures).
        parent = self._parent_id(self._source(item)) if code.startswith("PARENT_") else None
        return self._outcome(
            item,
            Outcome.FAILED,
            error_code=code,
            error_message=message,
            retryable=retryable,
            waiting_for=parent or "",
        )

    def stopping(self) -> bool:
        """Whether the run must stop at this record boundary (cheap: called per record)."""
        return self.should_stop is not None and self.should_stop()

    def _stop_here(self) -> None:
        """Called in a worker before a record is sent."""
        if self.stopping():
            raise RunStopped()

    def _fault(self, point: str, context: dict[str, Any]) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point, context)

    def _record(self, outcome: AccountOutcome) -> None:
        link = outcome.link
        if link is not None and not (link.zuora_account_id and link.netsuite_internal_id):
            # Never a link without both ids (and two such links would collide in the unique
            # columns, losing the whole batch). The record may exist on the other side: the
            # next run finds it by its cross-reference instead of making a second one.
            system = "Zuora" if not link.zuora_account_id else "NetSuite"
            outcome.link, outcome.link_is_new = None, False
            outcome.outcome = Outcome.FAILED
            outcome.error_code = "NO_RECORD_ID"
            outcome.error_message = (
                f"{system} did not say which record it wrote, so the account was not linked. "
                "The next run finds the record by its cross-reference and links it."
            )
            outcome.retryable, outcome.writeback = True, None
        if self._note_outcome(outcome):
            self.recorder.add(outcome)
