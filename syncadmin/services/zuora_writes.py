"""Writing one NetSuite customer to Zuora (create, link an existing account, update) and the
Zuora id back to NetSuite, and reading what Zuora already holds for the customers of a run:
the write half of the NetSuite → Zuora sync (see netsuite_to_zuora.py for the read half)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from django.db.models import Count

from connectors.http import ApiError, RunAborted
from connectors.netsuite import fields as ns_fields
from connectors.zuora import fields as z_fields
from syncadmin.mapping import (
    MappingError,
    MappingOptions,
    NetSuiteLookups,
    ZuoraLookups,
    account_payload,
    account_update,
    changed_fields,
    payload_hash,
)
from syncadmin.mapping.added import AddedMapping
from syncadmin.mapping.added_fields import (
    ZUORA,
    added_fields,
    destination_paths,
    with_added_fields,
)
from syncadmin.mapping.netsuite_to_zuora import CONTACT_KEYS, shared_contact_warning
from syncadmin.models import Direction, LinkEvent, Outcome, RecordLink
from syncadmin.services.concurrency import AdaptiveLimiter
from syncadmin.services.engine import SyncEngine
from syncadmin.services.netsuite_customers import (
    SelectedCustomer,
    customer_name,
    describe_customer,
)
from syncadmin.services.netsuite_reads import netsuite_lookups
from syncadmin.services.recording import AccountOutcome, now

IDS_PER_ZUORA_QUERY = 50  # keeps Object Query filter URLs well under gateway limits
# NetSuite internal ids are short digits: 200 of them still make a URL of under 2 KB.
NETSUITE_IDS_PER_ZUORA_QUERY = 200
# Object Query reads at once (Zuora allows 80 per tenant for Object Query).
ZUORA_READS_AT_ONCE = 8
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
    "fax",
)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _digits(ids: Iterable[str]) -> list[str]:
    # Ids are spliced into SuiteQL: only plain internal ids pass.
    return [str(int(i)) for i in ids if str(i).strip().isdigit()]


def zuora_state(account: dict[str, Any], added: tuple[AddedMapping, ...] = ()) -> dict[str, Any]:
    """A Zuora account as read through Object Query, in the shape of `account_payload` (the
    destinations of the `added` mappings included), so it can be diffed against what the
    customer maps to."""
    state = {key: account[key] for key in ACCOUNT_KEYS if account.get(key) is not None}
    extra = destination_paths(added, system=ZUORA)
    for key, attr in (("billToContact", "billTo"), ("soldToContact", "soldTo")):
        contact = dict(account.get(attr) or {})
        contact.setdefault("zipCode", contact.get("postalCode"))
        names = [*CONTACT_FIELDS, *(name for k, name in extra if k == key)]
        state[key] = {f: contact[f] for f in names if contact.get(f) is not None}
    for key, name in extra:
        if not name and account.get(key) is not None:
            state[key] = account[key]
    return state


def options_digest(options: MappingOptions) -> str:
    """A digest of the mapping options, stored with each link: a change of the options (lookup
    tables and added mappings included) is a change of the source. Without tables or mappings
    it is what it was before they existed, so they alone do not make every customer new."""
    values = asdict(options)
    if not options.added_mappings:
        del values["added_mappings"]
    if not any(asdict(options.translations).values()):
        del values["translations"]
    return hashlib.blake2b(
        json.dumps(values, sort_keys=True, default=str).encode(), digest_size=8
    ).hexdigest()


def change_list(previous: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
    """field -> (before, after), contact fields as "billToContact.city", for the result page."""
    previous = previous or {}
    changes = changed_fields(previous, payload, ignore=CONTACT_KEYS)
    for key in CONTACT_KEYS:
        for name, values in changed_fields(previous.get(key), payload.get(key) or {}).items():
            changes[f"{key}.{name}"] = values
    return changes


def create_idempotency_key(customer_id: str, unlinks: int) -> str:
    """The Idempotency-Key of a customer's account create. Zuora replays the first answer to
    a key for 24 hours: the key stays the same across retries and reruns of one attempt (a
    crash between the create and storing the link must not make a second account), and is new
    once the customer has been unlinked, so a re-create is not answered with the old account."""
    key = f"syncadmin-netsuite-customer-{customer_id}"
    return f"{key}-after-unlink-{unlinks}" if unlinks else key


class ZuoraWrites(SyncEngine):
    zuora_limiter: AdaptiveLimiter  # Zuora's writes at once (set by the direction)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lookups: tuple[ZuoraLookups, NetSuiteLookups] | None = None
        self._lookups_lock = threading.Lock()
        # Stored with each link: a change of the mapping options is a change of the source.
        self._options_digest = options_digest(self.options)
        # Customers unlinked by hand, with how often: each unlink ends a create attempt (see
        # create_idempotency_key). One read per run; unlinks are few.
        self._unlinks: dict[str, int] = dict(
            LinkEvent.objects.filter(action=LinkEvent.Action.UNLINKED)
            .order_by()
            .values("netsuite_internal_id")
            .annotate(count=Count("id"))
            .values_list("netsuite_internal_id", "count")
        )

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

    # -- what Zuora already holds --------------------------------------------------------------
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

    def _row_source_digest(self, customer_id: str) -> str:
        return f"{self._row_digests[customer_id].hex()}-{self._options_digest}"

    def _source_digest(self, customer_id: str) -> str:
        return f"{self._fingerprints[customer_id].hex()}-{self._options_digest}"

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
            # The added fields travel in the same single call, contact fields inside
            # billToContact / soldToContact, diffed like the built-in ones.
            added = added_fields(
                item.record or item.customer, self.options.added_mappings, system=ZUORA
            )
            payload = with_added_fields(payload, added)
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
                body, idempotency_key=create_idempotency_key(item.id, self._unlinks.get(item.id, 0))
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
        return self._newly_linked(customer, link, payload, outcome)

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
        current = zuora_state(account, self.options.added_mappings)
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
        if self.dry_run:
            return outcome
        self._fault("after_zuora_write", {"customer": customer, "account": account})
        return self._newly_linked(customer, link, remembered, outcome)

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
                previous = zuora_state(state, self.options.added_mappings)
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
        started = self.source_now()
        try:
            self.netsuite.update_customer(customer_id, update)
        finally:
            self._own_writes.add([customer_id], started)

    # -- outcomes ---------------------------------------------------------------------------------
    def _number_and_name(self, customer: dict[str, Any]) -> tuple[str, str]:
        return customer.get("entityId") or "", customer_name(customer)

    def _source(self, item: SelectedCustomer) -> dict[str, Any]:
        return item.customer

    def _describe(self, item: SelectedCustomer) -> str:
        return describe_customer(item.customer)
