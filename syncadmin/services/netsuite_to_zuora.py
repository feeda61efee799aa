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

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time
from typing import Any, TypeVar

from connectors.http import ApiError, RunAborted
from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import to_suiteql_date
from connectors.zuora import fields as z_fields
from connectors.zuora.client import parse_zuora_datetime
from syncadmin.mapping import (
    MappingError,
    NetSuiteLookups,
    ZuoraLookups,
    account_payload,
    account_update,
    changed_fields,
    payload_hash,
)
from syncadmin.mapping.netsuite_to_zuora import CONTACT_KEYS, shared_contact_warning
from syncadmin.models import Direction, Outcome, RecordLink
from syncadmin.selectors import (
    IGNORED_REASON,
    ignored_source_ids,
    open_failures,
    strong_unreviewed_matches,
    writeback_pending_source_ids,
)
from syncadmin.services.concurrency import AdaptiveLimiter
from syncadmin.services.crossref import StrayReference, stray_references_review
from syncadmin.services.engine import SyncEngine
from syncadmin.services.hierarchy import Wording, parents_first
from syncadmin.services.netsuite_reads import netsuite_lookups
from syncadmin.services.recording import AccountOutcome, now
from syncadmin.services.settle import EPOCH, WrittenBack, content_digest

logger = logging.getLogger(__name__)
T = TypeVar("T")

DB_CHUNK = 500
IDS_PER_SUITEQL = 500  # ids spliced into one SuiteQL IN list
IDS_PER_ZUORA_QUERY = 50  # keeps Object Query filter URLs well under gateway limits
# NetSuite internal ids are short digits: 200 of them still make a URL of under 2 KB.
NETSUITE_IDS_PER_ZUORA_QUERY = 200
# Object Query reads at once (Zuora allows 80 per tenant for Object Query).
ZUORA_READS_AT_ONCE = 8
# Zuora writes at once: half the tenant's default concurrency limit of 40, which other
# integrations share; 429s shrink it further (see AdaptiveLimiter).
ZUORA_WRITE_CONCURRENCY = 20

# Customers that sync, plus customers that were in Zuora before (they carry its id) so that one
# that became inactive or lost its "Send to Zuora" tick shows up as skipped with a reason
# instead of silently. Leads and prospects are never read.
SELECTION_WHERE = (
    "stage = 'CUSTOMER' AND ("
    f"(isinactive = 'F' AND {ns_fields.SEND_TO_ZUORA} = 'T') OR {ns_fields.ZUORA_ID} IS NOT NULL)"
)
# RecordLink.last_payload holds what the Zuora → NetSuite sync last sent at its top level; what
# this direction last sent to Zuora lives under this key, so switching the master back and forth
# keeps both and neither direction mistakes the other's payload for its own.
PAYLOAD_KEY = Direction.NETSUITE_TO_ZUORA.value
# The digest of the customer (and of the mapping options) this direction last synced: a customer
# read again with the same digest is unchanged without mapping it (nor reading any lookup).
SOURCE_KEY = f"{PAYLOAD_KEY}_source"
# The same for the customer's row alone: a customer re-read with the same row, and no address
# change since the last run, is unchanged without reading its address book.
SOURCE_ROW_KEY = f"{PAYLOAD_KEY}_row"
# Written by the sync itself (the Zuora write-back) or by NetSuite on every save: they say
# nothing about what the customer holds.
WRITEBACK_FIELDS = frozenset(
    {"lastModifiedDate", ns_fields.ZUORA_ID, ns_fields.ZUORA_ACCOUNT_NUMBER}
)
ACCOUNT_KEYS = (
    "name",
    "accountNumber",
    "notes",
    "parentId",
    "currency",
    "billCycleDay",
    "batch",
    "paymentTerm",
    z_fields.CUSTOMER_ID,
    z_fields.INTEGRATION_ID,
)
CONTACT_FIELDS = (
    "firstName",
    "lastName",
    "workEmail",
    "workPhone",
    "address1",
    "address2",
    "city",
    "state",
    "zipCode",
    "country",
)


# What a run keeps of each selected customer until its turn comes: enough to skip it, place it
# in the hierarchy, name it and write its cross-reference back. The whole record (address book
# included) is read again, FULL_RECORDS_PER_READ at a time, just before it syncs: at 100,000
# customers, holding every record would take several hundred MB.
SUMMARY_KEYS = (
    "id",
    "entityId",
    "companyName",
    "firstName",
    "lastName",
    "isInactive",
    "parent",
    "dateCreated",
    "lastModifiedDate",
    ns_fields.SEND_TO_ZUORA,
    ns_fields.ZUORA_ID,
    ns_fields.ZUORA_ACCOUNT_NUMBER,
)
FULL_RECORDS_PER_READ = 500
# Our write-backs read back per settle slice (a SuiteQL page holds 1,000 rows).
WRITES_PER_SETTLE_SLICE = 1000


@dataclass
class SelectedCustomer:
    customer: dict[str, Any]  # the summary (SUMMARY_KEYS)
    # The newest change that selected it; None when it is only here to retry a write-back, so
    # that it never moves the watermark.
    selected_at: datetime | None
    record: dict[str, Any] | None = None  # the whole record, only while it syncs
    link: RecordLink | None = None
    existing: dict[str, Any] | None = None  # a Zuora account carrying its NetSuite id
    state: dict[str, Any] | None = None  # its linked account as Zuora holds it, when needed
    # Other customers of the run wait for this one (see AdaptiveLimiter.urgent).
    is_parent: bool = False

    @property
    def id(self) -> str:
        return str(self.customer["id"])


def summary_of(customer: dict[str, Any]) -> dict[str, Any]:
    return {key: customer[key] for key in SUMMARY_KEYS if key in customer}


def fingerprint(customer: dict[str, Any]) -> bytes:
    """A digest of what a customer holds, address book included, ignoring what our own
    write-back changes: a customer whose digest is the one last synced is unchanged."""
    return content_digest(customer, WRITEBACK_FIELDS)


def row_digest(customer: dict[str, Any]) -> bytes:
    """The digest of a customer's own fields (what the selection and the settle pass read,
    without the address book: address edits are found by their own query)."""
    return content_digest(customer, WRITEBACK_FIELDS | {"addressBook"})


@dataclass
class ReadBack:
    """A settle pass's reads on the wire: each time slice's (customers someone changed, newest
    stamp of our own write-backs), and the address lines changed since the run started."""

    rows: list[Future[tuple[list[tuple[dict[str, Any], datetime]], datetime | None]]]
    addresses: Future[dict[str, datetime]]


@dataclass
class PreparedChunk:
    """What the reader thread gathers for a chunk of customers before they sync."""

    vanished: set[str]
    unchanged: set[str]
    existing: dict[str, dict[str, Any]]
    states: dict[str, dict[str, Any]]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _digits(ids: Iterable[str]) -> list[str]:
    # Ids are spliced into SuiteQL: only plain internal ids pass.
    return [str(int(i)) for i in ids if str(i).strip().isdigit()]


def _stamp(text: str | None) -> datetime:
    return parse_zuora_datetime(text) if text else EPOCH


def _name(customer: dict[str, Any]) -> str:
    person = " ".join(p for p in (customer.get("firstName"), customer.get("lastName")) if p)
    return customer.get("companyName") or person or ""


def describe_customer(customer: dict[str, Any]) -> str:
    number = customer.get("entityId") or customer.get("id")
    name = _name(customer)
    return f"{number} ({name})" if name else str(number)


def _parent_ref(customer: dict[str, Any]) -> str | None:
    parent = customer.get("parent")
    if isinstance(parent, dict):
        parent = parent.get("id")
    return str(parent) if parent else None


def _stray(customer: dict[str, Any], account: dict[str, Any]) -> StrayReference:
    return StrayReference(
        direction=Direction.NETSUITE_TO_ZUORA,
        zuora_account_id=account["id"],
        zuora_account_number=account.get("accountNumber") or "",
        zuora_name=account.get("name") or "",
        netsuite_internal_id=str(customer["id"]),
        netsuite_entity_id=customer.get("entityId") or "",
        netsuite_name=_name(customer),
    )


def zuora_state(account: dict[str, Any]) -> dict[str, Any]:
    """A Zuora account as read through Object Query, in the shape of `account_payload`, so it
    can be diffed against what the customer maps to."""
    state = {key: account[key] for key in ACCOUNT_KEYS if account.get(key) is not None}
    for key, attr in (("billToContact", "billTo"), ("soldToContact", "soldTo")):
        contact = dict(account.get(attr) or {})
        contact.setdefault("zipCode", contact.get("postalCode"))
        state[key] = {f: contact[f] for f in CONTACT_FIELDS if contact.get(f) is not None}
    return state


def change_list(previous: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
    """field -> (before, after), contact fields as "billToContact.city", for the result page."""
    previous = previous or {}
    changes = changed_fields(previous, payload, ignore=CONTACT_KEYS)
    for key in CONTACT_KEYS:
        for name, values in changed_fields(previous.get(key), payload.get(key) or {}).items():
            changes[f"{key}.{name}"] = values
    return changes


class NetSuiteToZuoraSync(SyncEngine):
    direction = Direction.NETSUITE_TO_ZUORA
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
        self._lookups: tuple[ZuoraLookups, NetSuiteLookups] | None = None
        self._lookups_lock = threading.Lock()
        self._lookups_ahead = False
        # Customers whose address lines changed within the selection window.
        self._address_changed: set[str] = set()
        self._options_digest = hashlib.blake2b(
            json.dumps(asdict(self.options), sort_keys=True, default=str).encode(), digest_size=8
        ).hexdigest()

    # -- selection ------------------------------------------------------------------------------
    def customers_by_ids(
        self, ids: Iterable[str], where: str, *, address_books: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Customers by internal id, a few SuiteQL calls per 500 (never one call each)."""
        for chunk in _chunks(_digits(dict.fromkeys(ids)), IDS_PER_SUITEQL):
            extra = f"id IN ({', '.join(chunk)})" + (f" AND {where}" if where else "")
            yield from self.netsuite.iter_customers_changed_since(
                EPOCH, extra_where=extra, address_books=address_books
            )

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
            for customer in self.customers_by_ids(self.account_ids, "stage = 'CUSTOMER'"):
                keep(customer, _stamp(customer.get("lastModifiedDate")))
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
                keep(customer, _stamp(customer.get("lastModifiedDate")))
        if addresses is not None:
            address_changes = addresses.result()
            self._address_changed.update(address_changes)
            missing = [i for i in address_changes if i not in selected]
            for customer in self.customers_by_ids(missing, SELECTION_WHERE):
                keep(customer, address_changes[str(customer["id"])])
            for customer_id, at in address_changes.items():
                if customer_id in selected:
                    keep(selected[customer_id].customer, at)
        # A Zuora id that could not be written back, and a customer that failed or waits for
        # review, are looked at again even if nothing changed since.
        failures = open_failures(direction=Direction.NETSUITE_TO_ZUORA, seen=set(selected))
        self.summary.waiting = failures.waiting
        pending = writeback_pending_source_ids(direction=Direction.NETSUITE_TO_ZUORA) | failures.due
        for customer in self.customers_by_ids(sorted(pending - set(selected)), SELECTION_WHERE):
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

    def _read_records(self, items: list[SelectedCustomer]) -> set[str]:
        """Read the whole records of `items` (a few calls per FULL_RECORDS_PER_READ) into them
        and remember their digests; the answer is the ids NetSuite no longer has. Safe to run
        in another thread."""
        wanted = {item.id: item for item in items if item.record is None}
        ids = list(wanted)
        # The customers' rows and their address lines are two queries: run them at once.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="address-books") as aside:
            books = [aside.submit(self.netsuite.address_books, c) for c in _chunks(ids, 1000)]
            customers = list(self.customers_by_ids(ids, ""))
            by_customer = {k: v for future in books for k, v in future.result().items()}
        for customer in customers:
            item = wanted.pop(str(customer["id"]), None)
            if item is not None:
                customer["addressBook"] = {"items": by_customer.get(str(customer["id"]), [])}
                item.record = customer
                self._fingerprints[item.id] = fingerprint(customer)
        return set(wanted)

    def _prepare(
        self, chunk: list[SelectedCustomer], links: dict[str, RecordLink]
    ) -> PreparedChunk:
        """In the reader thread, while the previous chunk syncs: the whole records, which
        linked customers are unchanged since their last sync, the Zuora accounts that already
        carry an unlinked customer's id, and the accounts of links this direction never wrote.
        No database access here (the main thread owns the connection)."""
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
            vanished = self._read_records(chunk)
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
            and _stamp(customer.get("dateCreated"))
            < datetime.combine(cutover, time.min, tzinfo=UTC)
        ):
            return f"Created before the cutover date {cutover:%Y-%m-%d}"
        return None

    # -- links and what Zuora already holds ------------------------------------------------------
    def _links(self, netsuite_ids: list[str]) -> dict[str, RecordLink]:
        links: dict[str, RecordLink] = {}
        for chunk in _chunks(netsuite_ids, DB_CHUNK):
            for link in RecordLink.objects.filter(netsuite_internal_id__in=chunk):
                links[link.netsuite_internal_id] = link
        return links

    def _link_destination(self, link: RecordLink) -> str:
        return link.zuora_account_id

    def zuora_accounts(self, filters: list[str]) -> Iterator[dict[str, Any]]:
        return self.zuora.iter_accounts(filters)

    def find_existing_accounts(self, customers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Zuora accounts that already carry one of these customers' NetSuite ids
        (IntegrationId__NS), or that a customer's Zuora ID field names: a create that died
        before its link was stored, or accounts made by the incumbent. Bulk Object Query reads,
        a few at once."""
        found: dict[str, dict[str, Any]] = {}
        ids = _digits(str(c["id"]) for c in customers)
        chunks = list(_chunks(ids, NETSUITE_IDS_PER_ZUORA_QUERY))
        for chunk, accounts in zip(
            chunks,
            self._read_in_parallel(
                [[f"{z_fields.INTEGRATION_ID.lower()}.IN:[{','.join(c)}]"] for c in chunks]
            ),
            strict=True,
        ):
            wanted = set(chunk)
            for account in accounts:
                netsuite_id = str(account.get(z_fields.INTEGRATION_ID) or "")
                if netsuite_id in wanted and netsuite_id not in found:
                    found[netsuite_id] = account
        by_zuora_id = {
            str(c[ns_fields.ZUORA_ID]): str(c["id"])
            for c in customers
            if c.get(ns_fields.ZUORA_ID) and str(c["id"]) not in found
        }
        chunks = list(_chunks(list(by_zuora_id), IDS_PER_ZUORA_QUERY))
        for accounts in self._read_in_parallel([[f"id.IN:[{','.join(c)}]"] for c in chunks]):
            for account in accounts:
                netsuite_id = by_zuora_id.get(account["id"])
                if netsuite_id and netsuite_id not in found:
                    found[netsuite_id] = account
        return found

    def _read_in_parallel(self, queries: list[list[str]]) -> list[list[dict[str, Any]]]:
        """The accounts each filter list selects, in order, ZUORA_READS_AT_ONCE queries at once:
        at 100,000 new customers the existence checks are 500 calls."""
        if len(queries) <= 1:
            return [list(self.zuora_accounts(q)) for q in queries]
        with ThreadPoolExecutor(max_workers=ZUORA_READS_AT_ONCE, thread_name_prefix="read") as pool:
            return list(pool.map(lambda q: list(self.zuora_accounts(q)), queries))

    def read_linked_accounts(self, links: list[RecordLink]) -> dict[str, dict[str, Any]]:
        """The Zuora accounts of links this direction has not written yet (made by the other
        direction, or by hand): their state is the baseline for "only what changed", and
        they name the contacts to update. Bulk reads, 50 ids a call, a few at once."""
        ids = [link.zuora_account_id for link in links]
        queries = [[f"id.IN:[{','.join(c)}]"] for c in _chunks(ids, IDS_PER_ZUORA_QUERY)]
        return {a["id"]: a for accounts in self._read_in_parallel(queries) for a in accounts}

    @staticmethod
    def _needs_state(link: RecordLink) -> bool:
        return (
            PAYLOAD_KEY not in (link.last_payload or {})
            or not link.zuora_bill_to_id
            or not link.zuora_sold_to_id
        )

    def _explain_absent_parents(self, parent_ids: list[str]) -> dict[str, str]:
        """Why each unlinked parent outside this run is not in Zuora, naming it."""
        messages: dict[str, str] = {}
        for customer in self.customers_by_ids(parent_ids, "", address_books=False):
            reason = self.skip_reason(customer) or "it has not synced yet (not linked)"
            messages[str(customer["id"])] = (
                f"Parent customer {describe_customer(customer)} is not in Zuora: {reason}. "
                "Sync or link the parent first."
            )
        for parent in parent_ids:
            messages.setdefault(
                parent,
                f"Parent customer {parent} is not in Zuora and was not found in NetSuite "
                "as a customer. Sync or link the parent first.",
            )
        return messages

    # -- the run --------------------------------------------------------------------------------
    def lookups(self) -> tuple[ZuoraLookups, NetSuiteLookups]:
        """Zuora's currencies and terms and NetSuite's reference records, read once per run and
        only when a customer needs a payload (a run with nothing to map never asks)."""
        with self._lookups_lock:
            return self._read_lookups()

    def _read_lookups(self) -> tuple[ZuoraLookups, NetSuiteLookups]:
        if self._lookups is None:
            # Three independent reads at once: at a second of latency each, in a row they would
            # hold the first write back by three seconds.
            with ThreadPoolExecutor(max_workers=3, thread_name_prefix="lookups") as pool:
                currencies = pool.submit(self.zuora.list_currencies)
                terms = pool.submit(self.zuora.list_payment_terms)
                netsuite = pool.submit(netsuite_lookups, self.netsuite)
                self._lookups = (
                    ZuoraLookups(
                        currencies=frozenset(c.upper() for c in currencies.result()),
                        payment_terms=frozenset(terms.result()),
                    ),
                    netsuite.result(),
                )
        return self._lookups

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
            item.id: _stray(item.customer, account)
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

    def _row_source_digest(self, customer_id: str) -> str:
        return f"{self._row_digests[customer_id].hex()}-{self._options_digest}"

    def _source_digest(self, customer_id: str) -> str:
        return f"{self._fingerprints[customer_id].hex()}-{self._options_digest}"

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
                pool.submit(self._read_back_slice, start, end, written) for start, end in slices
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
        for customer in self.customers_by_ids(unread, SELECTION_WHERE, address_books=True):
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

    def _read_back_slice(
        self, start: datetime, end: datetime | None, written: WrittenBack
    ) -> tuple[list[tuple[dict[str, Any], datetime]], datetime | None]:
        """Customers stamped in [start, end) that are not what this run synced, and the newest
        stamp of our own write-backs among them (the NetSuite slots are free by now, or nearly:
        at 100,000 customers the read back is 100 calls)."""
        where = SELECTION_WHERE
        if end is not None:
            where = f"({SELECTION_WHERE}) AND lastmodifieddate < {to_suiteql_date(end)}"
        found: list[tuple[dict[str, Any], datetime]] = []
        own: datetime | None = None
        for customer in self.netsuite.iter_customers_changed_since(
            start, extra_where=where, address_books=False
        ):
            customer_id, at = str(customer["id"]), _stamp(customer.get("lastModifiedDate"))
            if self._row_digests.get(customer_id) == row_digest(customer):
                if customer_id in written.ids and (own is None or at > own):
                    own = at
                continue
            found.append((customer, at))
        return found, own

    def _parent_id(self, customer: dict[str, Any]) -> str | None:
        if not self.options.hierarchies_enabled:
            return None
        return _parent_ref(customer)

    # -- one customer ---------------------------------------------------------------------------
    def _sync(self, item: SelectedCustomer, parent_destination: str | None) -> AccountOutcome:
        return self.sync_customer(
            item, item.link, item.existing, item.state, parent_destination, self.lookups()
        )

    def sync_customer(
        self,
        item: SelectedCustomer,
        link: RecordLink | None,
        existing: dict[str, Any] | None,
        state: dict[str, Any] | None,
        parent_account_id: str | None,
        lookups: tuple[ZuoraLookups, NetSuiteLookups],
    ) -> AccountOutcome:
        try:
            payload, warnings = account_payload(
                item.record or item.customer,
                options=self.options,
                lookups=lookups[0],
                netsuite=lookups[1],
                parent_account_id=parent_account_id,
                is_create=link is None and existing is None,
            )
            if link is not None:
                outcome = self._sync_linked(item, link, payload, state)
            elif existing is not None:
                outcome = self._link_existing(item, existing, payload)
            else:
                outcome = self._create(item, payload)
            outcome.warnings[:0] = warnings
            return outcome
        except MappingError as exc:
            return self._failure(item, exc.code, str(exc))
        except RunAborted:
            raise  # the whole run stops: not this customer's failure
        except ApiError as exc:
            code = exc.code or f"HTTP_{exc.status}"
            return self._failure(item, str(code), str(exc), exc.retryable)

    def _create(self, item: SelectedCustomer, payload: dict[str, Any]) -> AccountOutcome:
        customer = item.customer
        changes = change_list(None, payload)
        if self.dry_run:
            return self._outcome(item, Outcome.CREATED, changes=changes)
        body = {
            **payload,
            z_fields.INTEGRATION_STATUS: z_fields.STATUS_SYNC_COMPLETE,
            z_fields.SYNC_DATE: now().strftime("%Y-%m-%d"),
        }
        # One atomic call with both contacts (never a half-made Draft account); the key makes a
        # retry after a timeout, or a rerun after a crash within 24 h, return the same account.
        with self.zuora_limiter:
            created = self.zuora.create_account(
                body, idempotency_key=f"syncadmin-netsuite-customer-{item.id}"
            )
        self._fault("after_zuora_write", {"customer": customer, "created": created})
        if created.get("accountId"):
            # Children need the new account's id, not the write-back to NetSuite: let them go.
            self._parent_ready(item.id, created["accountId"])
        link = RecordLink(
            zuora_account_id=created["accountId"],
            zuora_account_number=created.get("accountNumber") or "",
            zuora_bill_to_id=created.get("billToContactId") or "",
            zuora_sold_to_id=created.get("soldToContactId") or "",
            netsuite_internal_id=item.id,
            netsuite_entity_id=customer.get("entityId") or "",
            origin=RecordLink.Origin.CREATED,
        )
        outcome = self._outcome(
            item, Outcome.CREATED, changes=changes, destination_id=link.zuora_account_id
        )
        self._remember(link, payload)
        self._write_back(customer, link, outcome)
        outcome.link, outcome.link_is_new = link, True
        return outcome

    def _link_existing(
        self, item: SelectedCustomer, account: dict[str, Any], payload: dict[str, Any]
    ) -> AccountOutcome:
        customer = item.customer
        zuora_id = account["id"]
        # Only an account whose IntegrationId__NS is this customer gets here (see _stray).
        if RecordLink.objects.filter(zuora_account_id=zuora_id).exists():
            return self._failure(
                item,
                "ALREADY_LINKED",
                f"Zuora account {account.get('accountNumber')} ({zuora_id}) carries this "
                "customer's NetSuite id but is already linked to another NetSuite customer. "
                "Review the links before syncing it.",
            )
        link = RecordLink(
            zuora_account_id=zuora_id,
            zuora_account_number=account.get("accountNumber") or "",
            zuora_bill_to_id=account.get("billToId") or "",
            zuora_sold_to_id=account.get("soldToId") or "",
            netsuite_internal_id=item.id,
            netsuite_entity_id=customer.get("entityId") or "",
            origin=RecordLink.Origin.MATCHED,
        )
        current = zuora_state(account)
        if self.new_only:
            # Only the cross-reference fields; standard fields stay as they are.
            target = {
                key: payload[key]
                for key in (z_fields.INTEGRATION_ID, z_fields.CUSTOMER_ID)
                if key in payload
            }
            changes = changed_fields(current, target)
            if changes and not self.dry_run:
                with self.zuora_limiter:
                    self.zuora.update_account(zuora_id, {k: v for k, (_, v) in changes.items()})
            outcome = self._outcome(
                item,
                Outcome.LINKED,
                destination_id=zuora_id,
                changes=changes,
                reason="Existing Zuora account linked (Sync New Records Only)",
            )
            remembered = {**current, **target}
        else:
            # What the account holds was just read: send only what differs from it.
            changes = change_list(current, payload)
            warnings = [] if self.dry_run else self._send_update(link, current, payload)
            outcome = self._outcome(
                item,
                Outcome.LINKED,
                destination_id=zuora_id,
                changes=changes,
                reason="Existing Zuora account linked and updated",
                warnings=warnings,
            )
            remembered = payload
        if not self.dry_run:
            self._fault("after_zuora_write", {"customer": customer, "account": account})
            self._remember(link, remembered)
            self._write_back(customer, link, outcome)
            outcome.link, outcome.link_is_new = link, True
        return outcome

    def _sync_linked(
        self,
        item: SelectedCustomer,
        link: RecordLink,
        payload: dict[str, Any],
        state: dict[str, Any] | None,
    ) -> AccountOutcome:
        customer = item.customer
        destination = link.zuora_account_id
        if self.new_only:
            outcome = self._outcome(
                item,
                Outcome.SKIPPED,
                destination_id=destination,
                reason="Already linked; Sync New Records Only does not update linked records",
            )
            if not self.dry_run:
                self._write_back(customer, link, outcome)
                outcome.link = link
            return outcome
        previous = (link.last_payload or {}).get(PAYLOAD_KEY)
        if state is not None:
            link.zuora_bill_to_id = link.zuora_bill_to_id or state.get("billToId") or ""
            link.zuora_sold_to_id = link.zuora_sold_to_id or state.get("soldToId") or ""
            if previous is None:
                previous = zuora_state(state)
        if previous is None:
            return self._failure(
                item,
                "LINKED_ACCOUNT_MISSING",
                f"The linked Zuora account {link.zuora_account_number or destination} was not "
                "found in Zuora. Remove or fix the link before syncing this customer again.",
            )
        changes = change_list(previous, payload)
        if not changes:
            outcome = self._outcome(item, Outcome.UNCHANGED, destination_id=destination)
            if not self.dry_run:
                if PAYLOAD_KEY not in (link.last_payload or {}):
                    self._remember(link, previous)  # a baseline, so Zuora is not read again
                self._write_back(customer, link, outcome)
                outcome.link = link
            return outcome
        outcome = self._outcome(item, Outcome.UPDATED, destination_id=destination, changes=changes)
        if not self.dry_run:
            outcome.warnings += self._send_update(link, previous, payload)
            self._remember(link, payload)
            self._write_back(customer, link, outcome)
            outcome.link = link
        return outcome

    def _send_update(
        self, link: RecordLink, previous: dict[str, Any], payload: dict[str, Any]
    ) -> list[str]:
        """One call: the account fields and contact fields that changed, contacts nested
        (Zuora updates the account's own Bill To and Sold To in place). The warnings."""
        shared = bool(link.zuora_bill_to_id) and link.zuora_bill_to_id == link.zuora_sold_to_id
        body = account_update(previous, payload, sold_to_is_bill_to=shared)
        if body:
            with self.zuora_limiter:
                self.zuora.update_account(link.zuora_account_id, body)
        if body.get("accountNumber"):
            link.zuora_account_number = body["accountNumber"]
        warning = shared_contact_warning(previous, payload, sold_to_is_bill_to=shared)
        return [warning] if warning else []

    def _remember(self, link: RecordLink, payload: dict[str, Any]) -> None:
        stored = dict(link.last_payload or {})
        stored[PAYLOAD_KEY] = {**(stored.get(PAYLOAD_KEY) or {}), **payload}
        if link.netsuite_internal_id in self._fingerprints:
            stored[SOURCE_KEY] = self._source_digest(link.netsuite_internal_id)
        if link.netsuite_internal_id in self._row_digests:
            stored[SOURCE_ROW_KEY] = self._row_source_digest(link.netsuite_internal_id)
        link.last_payload = stored
        link.last_payload_hash = payload_hash(stored[PAYLOAD_KEY])
        link.last_synced_at = now()

    def _write_back(
        self, customer: dict[str, Any], link: RecordLink, outcome: AccountOutcome
    ) -> None:
        """The Zuora account id (and number) on the NetSuite customer, only when it differs. A
        failure keeps the Zuora work and is retried on the next run (writeback_pending)."""
        update = {}
        if customer.get(ns_fields.ZUORA_ID) != link.zuora_account_id:
            update[ns_fields.ZUORA_ID] = link.zuora_account_id
        number = link.zuora_account_number
        if number and customer.get(ns_fields.ZUORA_ACCOUNT_NUMBER) != number:
            update[ns_fields.ZUORA_ACCOUNT_NUMBER] = number
        if not update:
            link.writeback_pending = False
            return
        try:
            self._netsuite_write(str(customer["id"]), update)
        except ApiError as exc:
            # Even when the run is being stopped (RunAborted): the Zuora account exists, and
            # its link is kept with the write-back pending; the next call stops the run.
            link.writeback_pending = True
            outcome.warnings.append(
                f"Zuora is up to date, but writing the Zuora ID back to the NetSuite customer "
                f"failed ({exc}); it will be retried on the next run."
            )
        else:
            link.writeback_pending = False

    def _netsuite_write(self, customer_id: str, update: dict[str, Any]) -> None:
        started = now()
        try:
            self.netsuite.update_customer(customer_id, update)
        finally:
            self._own_writes.add([customer_id], started)

    # -- outcomes ---------------------------------------------------------------------------------
    def _outcome(self, item: SelectedCustomer, outcome: str, **values: Any) -> AccountOutcome:
        customer = item.customer
        return AccountOutcome(
            source_id=item.id,
            source_number=customer.get("entityId") or "",
            source_name=_name(customer),
            outcome=outcome,
            selected_at=item.selected_at,
            **values,
        )

    def _source(self, item: SelectedCustomer) -> dict[str, Any]:
        return item.customer

    def _describe(self, item: SelectedCustomer) -> str:
        return describe_customer(item.customer)
