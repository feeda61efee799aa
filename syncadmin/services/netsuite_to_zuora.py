"""The NetSuite → Zuora customer sync (NetSuite is the master).

Order of a run: select changed customers (and customers whose address lines changed) from the
watermark through SuiteQL, keep the syncable ones and order them parents first; then, chunk by
chunk, read their whole records and find Zuora accounts that already carry their NetSuite id
while the chunk before syncs, and write: one atomic Zuora create with both contacts, or only the
changed account fields and contacts, then the Zuora account id back on the NetSuite customer. A
child waits for its own parent's Zuora account, not for the whole chunk before it. See
../shared/reference/sync-rules.md for the rules; the field rules live in
syncadmin/mapping/netsuite_to_zuora.py. The run itself is engine.py's, as for the other
direction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import DATE_FORMAT, DATE_ONLY_FORMAT
from connectors.zuora import fields as z_fields
from syncadmin.mapping.added import FieldType
from syncadmin.models import Direction, Outcome, RecordLink
from syncadmin.selectors import (
    IGNORED_REASON,
    ignored_source_ids,
    open_failures,
    strong_unreviewed_matches,
    writeback_pending_source_ids,
)
from syncadmin.services.concurrency import AdaptiveLimiter
from syncadmin.services.crossref import stray_references_review
from syncadmin.services.hierarchy import Wording, parents_first
from syncadmin.services.netsuite_customers import (
    SELECTION_WHERE,
    SelectedCustomer,
    absent_parent_messages,
    customers_by_ids,
    fingerprint,
    parent_ref,
    read_back_slice,
    read_records,
    row_digest,
    stamp,
    stray_reference,
    summary_of,
)
from syncadmin.services.recording import AccountOutcome, now
from syncadmin.services.settle import WrittenBack
from syncadmin.services.zuora_writes import PAYLOAD_KEY, SOURCE_KEY, SOURCE_ROW_KEY, ZuoraWrites

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How SuiteQL is asked for the dates the added mappings read (it answers in the user's own
# date format otherwise).
DATE_FORMATS = {FieldType.DATE: DATE_ONLY_FORMAT, FieldType.DATETIME: DATE_FORMAT}
# Zuora writes at once: half the tenant's default concurrency limit of 40, which other
# integrations share; 429s shrink it further (see AdaptiveLimiter).
ZUORA_WRITE_CONCURRENCY = 20
# Customers whose whole records (address book included) are read at once, just before they
# sync: a run keeps only their summaries until then.
FULL_RECORDS_PER_READ = 500
# Our write-backs read back per settle slice (a SuiteQL page holds 1,000 rows).
WRITES_PER_SETTLE_SLICE = 1000


@dataclass
class ReadBack:
    """A settle pass's reads on the wire: each time slice's (customers someone changed, newest
    stamp of our own write-backs), and the address lines changed since the run started."""

    rows: list[Future[tuple[list[tuple[dict[str, Any], datetime]], datetime | None]]]
    addresses: Future[dict[str, datetime]]


@dataclass
class PreparedChunk:
    """What a chunk of customers needs read before they sync (see _prepare)."""

    vanished: set[str]
    unchanged: set[str]
    existing: dict[str, dict[str, Any]]
    states: dict[str, dict[str, Any]]


class NetSuiteToZuoraSync(ZuoraWrites):
    direction = Direction.NETSUITE_TO_ZUORA
    source_key, destination_key = "netsuite_internal_id", "zuora_account_id"
    wording = Wording(record="customer", source="NetSuite", destination="Zuora")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        zuora = self.zuora
        # NetSuite's concurrency limit gates the write-backs; Zuora writes have their own.
        self.zuora_limiter = AdaptiveLimiter(ZUORA_WRITE_CONCURRENCY)
        # Zuora writes are the records sent; NetSuite's are the write-backs of records already
        # sent, which complete even after a stop.
        self.zuora_limiter.stop = self.should_stop
        transport = getattr(zuora, "transport", None)
        if transport is not None:
            # A Zuora 429 must slow the Zuora writers, not NetSuite's (the run wires both
            # clients to the NetSuite limiter).
            transport.on_throttle = self.zuora_limiter.throttled
        self._lookups_ahead = False
        # The NetSuite fields of the added mappings are read with every customer, as columns of
        # the same SuiteQL query.
        self.netsuite.extra_customer_fields = tuple(
            mapping.source_field for mapping in self.options.added_mappings
        )
        self.netsuite.extra_customer_formats = {
            mapping.source_field: DATE_FORMATS[mapping.source_type]
            for mapping in self.options.added_mappings
            if mapping.source_type in DATE_FORMATS
        }
        # Customers whose address lines changed within the selection window.
        self._address_changed: set[str] = set()

    # -- selection ------------------------------------------------------------------------------
    def select(self) -> dict[str, SelectedCustomer]:
        """Every customer to look at, by internal id, each with the newest change selecting it."""
        selected: dict[str, SelectedCustomer] = {}

        def keep(customer: dict[str, Any], at: datetime | None) -> None:
            known = selected.get(str(customer["id"]))
            if known is None:
                selected[str(customer["id"])] = self._selected(customer, at)
            elif at is not None and (known.selected_at is None or at > known.selected_at):
                known.selected_at = at

        if self.account_ids is not None:
            # Asked for by id (a retry): read them whatever their flags, to say why one skips.
            for customer in customers_by_ids(self.netsuite, self.account_ids, "stage = 'CUSTOMER'"):
                keep(customer, stamp(customer.get("lastModifiedDate")))
            return selected

        since = self.since()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="address-changes") as aside:
            # An address subrecord edit does not move the customer's lastmodifieddate: those
            # are read at the same time as the changed customers.
            addresses = (
                aside.submit(self._address_change_times, since)
                if self.watermark is not None
                else None
            )
            for customer in self.netsuite.iter_customers_changed_since(
                since,
                extra_where=SELECTION_WHERE,
                address_books=False,
                parallel=self.preferences.netsuite_concurrency,
            ):
                keep(customer, stamp(customer.get("lastModifiedDate")))
        if addresses is not None:
            address_changes = addresses.result()
            self._address_changed.update(address_changes)
            missing = [i for i in address_changes if i not in selected]
            for customer in customers_by_ids(self.netsuite, missing, SELECTION_WHERE):
                keep(customer, address_changes[str(customer["id"])])
            for customer_id, at in address_changes.items():
                if customer_id in selected:
                    keep(selected[customer_id].customer, at)
        # A Zuora id that could not be written back, and a customer that failed or waits for
        # review, are looked at again even if nothing changed since.
        failures = open_failures(direction=Direction.NETSUITE_TO_ZUORA, seen=set(selected))
        self.summary.waiting = failures.waiting
        pending = writeback_pending_source_ids(direction=Direction.NETSUITE_TO_ZUORA) | failures.due
        for customer in customers_by_ids(
            self.netsuite, sorted(pending - set(selected)), SELECTION_WHERE
        ):
            keep(customer, None)
        return selected

    def _selected(self, customer: dict[str, Any], at: datetime | None) -> SelectedCustomer:
        """Remember the digest of the customer's row (for the settle pass), keep its summary.
        The first customer not yet in Zuora starts the reading of the lookups: it will need a
        payload, and the reads then run while the rest is selected and checked."""
        self._row_digests[str(customer["id"])] = row_digest(customer)
        if (
            self._lookups is None
            and not customer.get(ns_fields.ZUORA_ID)
            and self.skip_reason(customer) is None
        ):
            self._read_lookups_ahead()
        return SelectedCustomer(summary_of(customer), at)

    def _read_lookups_ahead(self) -> None:
        """Read the lookups in the background (a failure is raised again by lookups())."""
        if not self._lookups_ahead:
            self._lookups_ahead = True
            self._in_background(self.lookups)

    @staticmethod
    def _in_background(work: Callable[[], T]) -> Future[T]:
        """Start `work` in its own thread; nothing waits for it unless it asks the future."""
        early = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ahead")
        future = early.submit(work)
        early.shutdown(wait=False)
        return future

    def _prepare(
        self, chunk: list[SelectedCustomer], links: dict[str, RecordLink]
    ) -> PreparedChunk:
        """While the chunks before it sync: the whole records, which linked customers are
        unchanged since their last sync, the Zuora accounts that already carry an unlinked
        customer's id, and the accounts of links this direction never wrote."""
        # Zuora's reads need only the summaries: they run while NetSuite's records are read.
        unlinked = [item.customer for item in chunk if item.id not in links]
        stale = (
            []
            if self.new_only
            else [
                links[item.id]
                for item in chunk
                if item.id in links and self._needs_state(links[item.id])
            ]
        )
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="zuora-reads") as aside:
            existing = aside.submit(self.find_existing_accounts, unlinked) if unlinked else None
            states = aside.submit(self.read_linked_accounts, stale) if stale else None
            vanished = read_records(self.netsuite, chunk)
            for item in chunk:
                if item.record is not None:
                    self._fingerprints[item.id] = fingerprint(item.record)
            unchanged = {
                item.id
                for item in chunk
                if item.id not in vanished and self._unchanged_since_last_sync(item.id, links)
            }
            return PreparedChunk(
                vanished,
                unchanged,
                existing.result() if existing else {},
                states.result() if states else {},
            )

    def skip_reason(self, customer: dict[str, Any]) -> str | None:
        if customer.get("isInactive"):
            return "Inactive customer: only active customers sync (the Zuora account is kept)"
        if not customer.get(ns_fields.SEND_TO_ZUORA):
            return "Send to Zuora is not checked on the customer"
        cutover = self.preferences.cutover_date
        if (
            cutover
            and self.watermark is None
            and customer.get("dateCreated")
            and stamp(customer.get("dateCreated")) < datetime.combine(cutover, time.min, tzinfo=UTC)
        ):
            return f"Created before the cutover date {cutover:%Y-%m-%d}"
        return None

    # -- parents outside the run ---------------------------------------------------------------
    def _explain_absent_parents(self, parent_ids: list[str]) -> dict[str, str]:
        # A parent NetSuite no longer returns as a customer is named as an earlier run saw it.
        return absent_parent_messages(
            self.netsuite,
            parent_ids,
            self.skip_reason,
            earlier=super()._explain_absent_parents(parent_ids),
        )

    # -- the run --------------------------------------------------------------------------------
    def _worker_count(self) -> int:
        return ZUORA_WRITE_CONCURRENCY + self.preferences.netsuite_concurrency

    def _throttles(self) -> int:
        return self.limiter.throttles + self.zuora_limiter.throttles

    def _read_back_early(self, records_in_flight: int) -> bool:
        # The last wave of creates: their write-backs are few, and answered late, they are
        # settled by their row digests (see SettleState._settle_late_write_backs).
        return records_in_flight <= self.preferences.netsuite_concurrency

    def _batches(self) -> Iterator[list[SelectedCustomer]]:
        if self.account_ids is None:
            # The token (on a process's first run) is then ready when the first chunk's
            # Zuora existence checks go out, instead of following the selection's first page.
            self._in_background(self.zuora.authenticate)
        selected = self._without_settled_write_backs(self.select())
        if self.account_ids is not None:
            for missing in dict.fromkeys(self.account_ids):
                if missing not in selected:
                    self._record(
                        AccountOutcome(
                            source_id=missing,
                            outcome=Outcome.SKIPPED,
                            reason="Not found in NetSuite, or not a customer (leads and "
                            "prospects do not sync)",
                        )
                    )
        for chunk in self._screen(list(selected.values())):
            if self.stopping():
                return
            yield chunk

    def _screen(self, records: list[SelectedCustomer]) -> list[list[SelectedCustomer]]:
        """Skip the customers that do not sync or whose row is the one last synced; the others
        parents first, in chunks whose whole records are read at once (see _admit)."""
        self._count_selected(len(records))
        ignored = ignored_source_ids(direction=Direction.NETSUITE_TO_ZUORA)
        links = self._links([item.id for item in records])
        eligible: list[SelectedCustomer] = []
        for item in records:
            reason = IGNORED_REASON if item.id in ignored else self.skip_reason(item.customer)
            if reason:
                self._skip(item, reason, links.get(item.id))
            elif self._row_unchanged(item.id, links):
                self._unchanged(item, links[item.id].zuora_account_id)
            else:
                item.link = links.get(item.id)
                eligible.append(item)
        ordered = parents_first(eligible, lambda item: self._parent_id(item.customer))
        return [
            ordered[start : start + FULL_RECORDS_PER_READ]
            for start in range(0, len(ordered), FULL_RECORDS_PER_READ)
        ]

    def _admit(self, chunk: list[SelectedCustomer]) -> list[SelectedCustomer]:
        """The chunk's whole records, which are unchanged since their last sync, and what
        Zuora holds for them (see _prepare); those that need a write are returned."""
        links = {item.id: item.link for item in chunk if item.link is not None}
        prepared = self._prepare(chunk, links)
        # An account the customer's Zuora ID names but that does not point back is not ours to
        # overwrite: it waits for a person (or, once rejected, is ignored).
        strays = {
            item.id: stray_reference(item.customer, account)
            for item in chunk
            if (account := prepared.existing.get(item.id)) is not None
            and item.id not in prepared.vanished
            and str(account.get(z_fields.INTEGRATION_ID) or "") != item.id
        }
        stray_review = stray_references_review(strays.values(), suggest=not self.dry_run)
        for customer_id in strays:
            del prepared.existing[customer_id]
        to_create = [
            item.id
            for item in chunk
            if item.id not in links
            and item.id not in prepared.existing
            and item.id not in prepared.vanished
            and item.id not in stray_review
        ]
        # Never create a record a person has not yet confirmed is new.
        review = strong_unreviewed_matches(
            direction=Direction.NETSUITE_TO_ZUORA, source_ids=to_create
        )
        review.update(stray_review)
        admitted: list[SelectedCustomer] = []
        for item in chunk:
            link = item.link
            if item.id in prepared.vanished:
                reason = "No longer found in NetSuite during the run"
                self._record(self._outcome(item, Outcome.SKIPPED, reason=reason))
                self.hierarchy.reached(item.id, link.zuora_account_id if link else None)
            elif item.id in prepared.unchanged:
                assert link is not None
                item.record = None
                self._unchanged(item, link.zuora_account_id)
            elif item.id in review:
                item.record = None
                self._hold_for_review(item, review[item.id])
            else:
                item.existing = prepared.existing.get(item.id)
                item.state = prepared.states.get(link.zuora_account_id) if link else None
                admitted.append(item)
        return admitted

    def _forget(self, item: SelectedCustomer) -> None:
        item.record = None  # back to the summary: memory stays bounded

    def _without_settled_write_backs(
        self, selected: dict[str, SelectedCustomer]
    ) -> dict[str, SelectedCustomer]:
        """The selection less the customers stamped in the settle margin (or at the watermark)
        whose row is the one last synced: the settling run's own write-backs, read again only
        to catch someone's late commit. They are not news, so the run does not report them."""
        if not self.watermark_settled():
            return selected
        watermark = self.watermark
        assert watermark is not None
        # Stamped at or before the watermark, or written back after the settling run's read
        # back (stamped past the watermark, then: see _settle_late_write_backs).
        candidates = [
            customer_id
            for customer_id, item in selected.items()
            if item.selected_at is not None
            and (item.selected_at <= watermark or customer_id in self._rows_at_watermark)
        ]
        links = self._links(candidates) if candidates else {}
        quiet = {c for c in candidates if self._row_unchanged(c, links)}
        return {c: item for c, item in selected.items() if c not in quiet}

    def _unchanged_since_last_sync(self, customer_id: str, links: dict[str, RecordLink]) -> bool:
        link = links.get(customer_id)
        if link is None or link.writeback_pending or self.new_only:
            return False
        stored = link.last_payload or {}
        return PAYLOAD_KEY in stored and stored.get(SOURCE_KEY) == self._source_digest(customer_id)

    def _row_unchanged(self, customer_id: str, links: dict[str, RecordLink]) -> bool:
        """Unchanged by its row alone: the row is the one last synced and no address line
        changed (a re-read of our own write-back, at the watermark's second, for example)."""
        link = links.get(customer_id)
        if link is None or link.writeback_pending or self.new_only:
            return False
        if customer_id in self._address_changed or self.watermark is None:
            return False  # without a watermark, address changes were not looked for
        stored = link.last_payload or {}
        return PAYLOAD_KEY in stored and stored.get(SOURCE_ROW_KEY) == self._row_source_digest(
            customer_id
        )

    def _source_clock_offset(self) -> timedelta:
        """SuiteQL's times are the integration user's wall clock, in whatever time zone their
        preference names, with no offset: NetSuite's "now" on that clock is read from NetSuite
        (its newest customer change, at or before it), never taken from ours."""
        newest = self.netsuite.newest_customer_change()
        return timedelta(0) if newest is None else newest - now()

    # -- after the writes: our own write-backs ----------------------------------------------------
    # A customer whose content (minus lastmodifieddate and the Zuora cross-reference fields) is
    # what this run synced is ours. Unlike the other direction, the next run re-reads the
    # settle margin through its ordinary selection: SuiteQL pages are large, and the row digest
    # stored with each link (see _row_unchanged) tells our write-backs from edits.
    def _start_read_back(self, written: WrittenBack, since: datetime) -> ReadBack:
        """Send the settle pass's reads: the customers' rows in time slices, and the address
        changes, at once; _finish_read_back() takes their answers."""
        slices = written.slices(since, per_slice=WRITES_PER_SETTLE_SLICE)
        pool = ThreadPoolExecutor(max_workers=len(slices) + 1, thread_name_prefix="settle")
        try:
            # Address edits during the run do not show on the customer: they are read at the
            # same time as the customers, and those customers compared whole.
            addresses = pool.submit(self._address_change_times, since)
            rows = [
                pool.submit(
                    read_back_slice,
                    self.netsuite,
                    start,
                    end,
                    written_ids=written.ids,
                    row_digests=self._row_digests,
                )
                for start, end in slices
            ]
        finally:
            pool.shutdown(wait=False)
        return ReadBack(rows, addresses)

    def _finish_read_back(
        self, read_back: ReadBack
    ) -> tuple[list[SelectedCustomer], datetime | None]:
        """The customers someone changed during the run, and the newest stamp of our own
        write-backs that the read back saw."""
        changed: dict[str, SelectedCustomer] = {}
        own: datetime | None = None
        for future in read_back.rows:
            found, newest_own = future.result()
            for customer, at in found:
                changed[str(customer["id"])] = self._selected(customer, at)
            if newest_own is not None and (own is None or newest_own > own):
                own = newest_own
        addressed = read_back.addresses.result()
        unread = [i for i in addressed if i not in changed]
        for customer in customers_by_ids(
            self.netsuite, unread, SELECTION_WHERE, address_books=True
        ):
            if self._changed_since_read(customer):
                customer_id = str(customer["id"])
                self._address_changed.add(customer_id)
                changed[customer_id] = self._selected(customer, addressed[customer_id])
        return list(changed.values()), own

    def _address_change_times(self, since: datetime) -> dict[str, datetime]:
        return dict(self.netsuite.iter_address_change_times_since(since))

    def _changed_since_read(self, customer: dict[str, Any]) -> bool:
        """Whether a whole record differs from what this run read of it (its row only, for a
        customer skipped without reading its address book)."""
        customer_id = str(customer["id"])
        digest = self._fingerprints.get(customer_id)
        if digest is not None:
            return fingerprint(customer) != digest
        return row_digest(customer) != self._row_digests.get(customer_id)

    def _parent_id(self, customer: dict[str, Any]) -> str | None:
        if not self.options.hierarchies_enabled:
            return None
        return parent_ref(customer)
