"""The NetSuite customers as the NetSuite → Zuora sync reads them: which it selects, what it
keeps of each until its turn, their digests, and the reads by id and by time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import NetSuiteClient, to_suiteql_date
from connectors.zuora.client import parse_zuora_datetime
from syncadmin.models import Direction, RecordLink
from syncadmin.services.crossref import StrayReference
from syncadmin.services.settle import EPOCH, content_digest

IDS_PER_SUITEQL = 500  # ids spliced into one SuiteQL IN list

# Customers that sync, plus customers that were in Zuora before (they carry its id) so that one
# that became inactive or lost its "Send to Zuora" tick shows up as skipped with a reason
# instead of silently. Leads and prospects are never read.
SELECTION_WHERE = (
    "stage = 'CUSTOMER' AND ("
    f"(isinactive = 'F' AND {ns_fields.SEND_TO_ZUORA} = 'T') OR {ns_fields.ZUORA_ID} IS NOT NULL)"
)
# Written by the sync itself (the Zuora write-back) or by NetSuite on every save: they say
# nothing about what the customer holds.
WRITEBACK_FIELDS = frozenset(
    {"lastModifiedDate", ns_fields.ZUORA_ID, ns_fields.ZUORA_ACCOUNT_NUMBER}
)

# What a run keeps of each selected customer until its turn comes: enough to skip it, place it
# in the hierarchy, name it and write its cross-reference back. The whole record (address book
# included) is read again, a chunk at a time, just before it syncs: at 100,000 customers,
# holding every record would take several hundred MB.
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


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stamp(text: str | None) -> datetime:
    return parse_zuora_datetime(text) if text else EPOCH


def parent_ref(customer: dict[str, Any]) -> str | None:
    parent = customer.get("parent")
    if isinstance(parent, dict):
        parent = parent.get("id")
    return str(parent) if parent else None


def plain_ids(ids: Iterable[str]) -> list[str]:
    # Ids are spliced into SuiteQL: only plain internal ids pass.
    return [str(int(i)) for i in ids if str(i).strip().isdigit()]


def customer_name(customer: dict[str, Any]) -> str:
    person = " ".join(p for p in (customer.get("firstName"), customer.get("lastName")) if p)
    return customer.get("companyName") or person or ""


def describe_customer(customer: dict[str, Any]) -> str:
    number = customer.get("entityId") or customer.get("id")
    name = customer_name(customer)
    return f"{number} ({name})" if name else str(number)


def customers_by_ids(
    netsuite: NetSuiteClient, ids: Iterable[str], where: str, *, address_books: bool = False
) -> Iterator[dict[str, Any]]:
    """Customers by internal id, a few SuiteQL calls per 500 (never one call each)."""
    for chunk in _chunks(plain_ids(dict.fromkeys(ids)), IDS_PER_SUITEQL):
        extra = f"id IN ({', '.join(chunk)})" + (f" AND {where}" if where else "")
        yield from netsuite.iter_customers_changed_since(
            EPOCH, extra_where=extra, address_books=address_books
        )


def read_back_slice(
    netsuite: NetSuiteClient,
    start: datetime,
    end: datetime | None,
    *,
    written_ids: set[str],
    row_digests: dict[str, bytes],
) -> tuple[list[tuple[dict[str, Any], datetime]], datetime | None]:
    """Customers stamped in [start, end) that are not what this run synced, and the newest
    stamp of our own write-backs among them (the NetSuite slots are free by now, or nearly:
    at 100,000 customers the read back is 100 calls)."""
    where = SELECTION_WHERE
    if end is not None:
        where = f"({SELECTION_WHERE}) AND lastmodifieddate < {to_suiteql_date(end)}"
    found: list[tuple[dict[str, Any], datetime]] = []
    own: datetime | None = None
    for customer in netsuite.iter_customers_changed_since(
        start, extra_where=where, address_books=False
    ):
        customer_id, at = str(customer["id"]), stamp(customer.get("lastModifiedDate"))
        if row_digests.get(customer_id) == row_digest(customer):
            if customer_id in written_ids and (own is None or at > own):
                own = at
            continue
        found.append((customer, at))
    return found, own


def read_records(netsuite: NetSuiteClient, items: list[SelectedCustomer]) -> set[str]:
    """Read the whole records of `items` (address books included, a few calls per 500) into
    them; the answer is the ids NetSuite no longer has."""
    wanted = {item.id: item for item in items if item.record is None}
    ids = list(wanted)
    # The customers' rows and their address lines are two queries: run them at once.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="address-books") as aside:
        books = [aside.submit(netsuite.address_books, c) for c in _chunks(ids, 1000)]
        customers = list(customers_by_ids(netsuite, ids, ""))
        by_customer = {k: v for future in books for k, v in future.result().items()}
    for customer in customers:
        item = wanted.pop(str(customer["id"]), None)
        if item is not None:
            customer["addressBook"] = {"items": by_customer.get(str(customer["id"]), [])}
            item.record = customer
    return set(wanted)


def stray_reference(customer: dict[str, Any], account: dict[str, Any]) -> StrayReference:
    return StrayReference(
        direction=Direction.NETSUITE_TO_ZUORA,
        zuora_account_id=account["id"],
        zuora_account_number=account.get("accountNumber") or "",
        zuora_name=account.get("name") or "",
        netsuite_internal_id=str(customer["id"]),
        netsuite_entity_id=customer.get("entityId") or "",
        netsuite_name=customer_name(customer),
    )


def absent_parent_messages(
    netsuite: NetSuiteClient,
    parent_ids: list[str],
    skip_reason: Callable[[dict[str, Any]], str | None],
    *,
    earlier: dict[str, str] | None = None,
) -> dict[str, str]:
    """Why each unlinked parent outside a run is not in Zuora, naming it (one read); for a
    parent the read does not return, `earlier`'s message (what an earlier run found) if any."""
    messages: dict[str, str] = {}
    for customer in customers_by_ids(netsuite, parent_ids, "", address_books=False):
        reason = skip_reason(customer) or "it has not synced yet (not linked)"
        messages[str(customer["id"])] = (
            f"Parent customer {describe_customer(customer)} is not in Zuora: {reason}. "
            "Sync or link the parent first."
        )
    for parent in parent_ids:
        messages.setdefault(
            parent,
            (earlier or {}).get(parent)
            or f"Parent customer {parent} is not in Zuora and was not found in NetSuite "
            "as a customer. Sync or link the parent first.",
        )
    return messages
