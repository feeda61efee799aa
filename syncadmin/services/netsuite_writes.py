"""Writing one Zuora account to NetSuite (create, link an existing customer, update) and the
NetSuite id back to Zuora: the write half of the Zuora → NetSuite sync (see
zuora_to_netsuite.py for the read half)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.http import ApiError, RunAborted
from connectors.netsuite import fields as ns_fields
from connectors.zuora import fields as z_fields
from syncadmin.labels import field_label
from syncadmin.mapping import (
    MappingError,
    NetSuiteLookups,
    changed_fields,
    customer_payload,
    payload_hash,
    update_payload,
)
from syncadmin.mapping.added_fields import NETSUITE, added_fields, with_added_fields
from syncadmin.mapping.zuora_to_netsuite import VOLATILE_FIELDS, address_book_update
from syncadmin.models import Outcome, RecordLink
from syncadmin.services.engine import SyncEngine
from syncadmin.services.recording import AccountOutcome, now

logger = logging.getLogger(__name__)


@dataclass
class SelectedAccount:
    account: dict[str, Any]
    # The source change that selected it; None when it is looked at again because it failed
    # before (such records never hold the watermark back).
    selected_at: datetime | None
    link: RecordLink | None = None
    existing: dict[str, str] | None = None
    # Other accounts of the run wait for this one (see AdaptiveLimiter.urgent).
    is_parent: bool = False

    @property
    def id(self) -> str:
        return self.account["id"]


def describe_account(account: dict[str, Any]) -> str:
    return f"{account.get('accountNumber') or account.get('id')} ({account.get('name', '')})"


class WriteBackCheck:
    """Whether Zuora kept the cross-reference fields this run wrote back. Zuora's Actions update
    answers success for a custom field the tenant lacks and writes nothing, so the first batch
    that answers is read back; when a field did not stick, the run says so once, and the rest
    of its write-backs wait (pending) for the field instead of being sent for nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: bool | None = None  # None: not read back yet; then whether they stuck
        self._checking = False
        self.missing: set[str] = set()
        self.accounts: list[str] = []  # the accounts whose cross-reference waits, described

    def claim(self) -> bool:
        """True for the one batch that reads back (the first to answer)."""
        with self._lock:
            if self._state is None and not self._checking:
                self._checking = True
                return True
            return False

    def settle(self, kept: bool | None) -> None:
        with self._lock:
            self._state, self._checking = kept, False

    def failed(self) -> bool:
        with self._lock:
            return self._state is False

    def hold(self, batch: list[AccountOutcome]) -> None:
        with self._lock:
            self.accounts.extend(f"{o.source_number or o.source_id} {o.source_name}" for o in batch)

    def problem(self) -> str | None:
        """The run-level message, in finance words, with what to fix."""
        if not self.missing:
            return None
        fields = ", ".join(sorted(self.missing))
        first, more = self.accounts[0], len(self.accounts) - 1
        which = f"{first} and {more} more" if more else first
        return (
            f"Zuora did not keep {fields} on the accounts written back in this run ({which}), "
            f"so those accounts do not show their NetSuite customer. Add the custom field "
            f"{fields} to the Zuora Account object (Extension Studio > Object Manager > Account "
            "> Custom Fields), then run Check setup; the next run writes them again."
        )


class RefusedCopies:
    """Informational custom fields NetSuite refused in this run (a field not created yet, or
    created with another type). A refused copy is left out of the account's write, which is
    sent again at once, and out of every later write of the run, so one missing field does not
    fail every account; the run says once which fields to fix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refused: dict[str, str] = {}  # field -> NetSuite's reason
        self.accounts: list[str] = []  # the accounts written without them, described

    def learn(self, exc: ApiError, *, sent: dict[str, Any]) -> bool:
        """True when `exc` is NetSuite refusing one of the optional copies in `sent` (from now
        on left out)."""
        field = getattr(exc, "path", None)
        if exc.status != 400 or field not in ns_fields.OPTIONAL_COPIES or field not in sent:
            return False
        with self._lock:
            reason = getattr(exc, "detail", "") or str(exc)
            self.refused.setdefault(field, reason.strip().rstrip("."))
        return True

    def strip(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            refused = set(self.refused)
        return {key: value for key, value in payload.items() if key not in refused}

    def note(self, account: dict[str, Any]) -> None:
        with self._lock:
            self.accounts.append(describe_account(account))

    def problem(self) -> str | None:
        with self._lock:
            if not self.refused:
                return None
            fields = ", ".join(
                f"{field_label(name)} ({name}: {reason})" for name, reason in self.refused.items()
            )
            first, more = self.accounts[0] if self.accounts else "", len(self.accounts) - 1
        which = f" ({first} and {more} more)" if more > 0 else f" ({first})" if first else ""
        return (
            f"NetSuite refused these copies of Zuora values, so the customers written in this "
            f"run{which} were written without them: {fields}. Create the field on the customer "
            "record in NetSuite (Customization > Lists, Records, & Fields > Entity Fields; "
            "Check setup gives its ID and type); a later change of each account copies it."
        )


class NetSuiteWrites(SyncEngine):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._writeback_check = WriteBackCheck()
        self._refused_copies = RefusedCopies()

    # -- one account ------------------------------------------------------------------------------
    def _sync(self, item: SelectedAccount, parent_destination: str | None) -> AccountOutcome:
        return self.sync_account(item, item.link, item.existing, parent_destination, self.lookups())

    def sync_account(
        self,
        item: SelectedAccount,
        link: RecordLink | None,
        existing: dict[str, str] | None,
        parent_destination_id: str | None,
        lookups: NetSuiteLookups,
    ) -> AccountOutcome:
        account = item.account
        try:
            payload = customer_payload(
                account,
                options=self.options,
                lookups=lookups,
                parent_id=parent_destination_id,
                is_create=link is None and existing is None,
            )
            # The added fields travel in the same single write, diffed like the built-in ones.
            payload = with_added_fields(
                payload, added_fields(account, self.options.added_mappings, system=NETSUITE)
            )
            return self._write(item, link, existing, payload)
        except MappingError as exc:
            failure = self._failure(item, exc.code, str(exc))
        except RunAborted:
            raise  # the whole run stops: not this account's failure
        except ApiError as exc:
            code = exc.code or f"HTTP_{exc.status}"
            failure = self._failure(item, str(code), str(exc), exc.retryable)
        # Marked once: writing the status again would re-select the account on every run.
        marked = account.get(z_fields.INTEGRATION_STATUS) == z_fields.STATUS_ERROR_CREATING
        new_record = link is None and existing is None
        if new_record and not failure.retryable and not self.dry_run and not marked:
            failure.writeback = {z_fields.INTEGRATION_STATUS: z_fields.STATUS_ERROR_CREATING}
        return failure

    def _write(
        self,
        item: SelectedAccount,
        link: RecordLink | None,
        existing: dict[str, str] | None,
        payload: dict[str, Any],
    ) -> AccountOutcome:
        """Create, link or update; an optional copy NetSuite refuses is left out and the write
        sent again (NetSuite validates a body before writing any of it, so nothing is half
        written, and an upsert by external id never makes a second customer)."""
        while True:  # each pass leaves out one more copy that was sent: it ends
            body = self._refused_copies.strip(payload)
            try:
                if link is not None:
                    outcome = self._sync_linked(item, link, body)
                elif existing is not None:
                    outcome = self._link_existing(item, existing, body)
                else:
                    outcome = self._create(item, body)
            except ApiError as exc:
                if not self._refused_copies.learn(exc, sent=body):
                    raise
                continue
            if body != payload:
                self._refused_copies.note(item.account)
            return outcome

    def _create(self, item: SelectedAccount, payload: dict[str, Any]) -> AccountOutcome:
        account = item.account
        changes = changed_fields(None, payload, ignore=VOLATILE_FIELDS)
        if self.dry_run:
            return self._outcome(item, Outcome.CREATED, changes=changes)
        # Upsert by external id (the Zuora account id): if this run dies after the write, the
        # next run writes to the same customer instead of creating a second one. Its address
        # book replaces the lines only of a customer that this very write made (a retried
        # call): an existing one is found first and linked (_link_existing), never replaced.
        internal_id = self.netsuite.upsert_customer(account["id"], payload)
        self._fault("after_netsuite_write", {"account": account, "internal_id": internal_id})
        # Children need the parent's NetSuite id, not its Zuora write-back: let them go now.
        self._parent_ready(account["id"], internal_id)
        link = RecordLink(
            zuora_account_id=account["id"],
            zuora_account_number=account.get("accountNumber", ""),
            netsuite_internal_id=internal_id,
            netsuite_entity_id=payload.get("entityId", ""),
            origin=RecordLink.Origin.CREATED,
        )
        outcome = self._outcome(item, Outcome.CREATED, changes=changes, destination_id=internal_id)
        return self._newly_linked(account, link, payload, outcome)

    def _link_existing(
        self, item: SelectedAccount, existing: dict[str, str], payload: dict[str, Any]
    ) -> AccountOutcome:
        account = item.account
        internal_id = existing["id"]
        link = RecordLink(
            zuora_account_id=account["id"],
            zuora_account_number=account.get("accountNumber", ""),
            netsuite_internal_id=internal_id,
            netsuite_entity_id=existing.get("entityid", ""),
            origin=RecordLink.Origin.MATCHED,
        )
        if RecordLink.objects.filter(netsuite_internal_id=internal_id).exists():
            return self._failure(
                item,
                "ALREADY_LINKED",
                f"NetSuite customer {internal_id} carries this account's Zuora id but is already "
                "linked to another Zuora account. Review the links before syncing it.",
            )
        if self.new_only:
            outcome = self._outcome(
                item,
                Outcome.LINKED,
                destination_id=internal_id,
                reason="Existing NetSuite customer linked (Sync New Records Only)",
            )
        else:
            # We do not know what the customer holds: send every mapped field once.
            changes = changed_fields(None, payload, ignore=VOLATILE_FIELDS)
            if not self.dry_run:
                body = self._with_our_lines(internal_id, payload, link)
                self.netsuite.update_customer(internal_id, body)
                self._remember(link, payload)
            outcome = self._outcome(
                item,
                Outcome.LINKED,
                destination_id=internal_id,
                changes=changes,
                reason="Existing NetSuite customer linked and updated",
            )
        if not self.dry_run:
            self._write_back(account, link, outcome)
            outcome.link, outcome.link_is_new = link, True
        return outcome

    def _sync_linked(
        self, item: SelectedAccount, link: RecordLink, payload: dict[str, Any]
    ) -> AccountOutcome:
        account = item.account
        destination = link.netsuite_internal_id
        if self.new_only:
            outcome = self._outcome(
                item,
                Outcome.SKIPPED,
                destination_id=destination,
                reason="Already linked; Sync New Records Only does not update linked records",
            )
            if link.writeback_pending and not self.dry_run:
                self._write_back(account, link, outcome)
                outcome.link = link
            return outcome
        changes = changed_fields(link.last_payload, payload, ignore=VOLATILE_FIELDS)
        if not changes:
            outcome = self._outcome(item, Outcome.UNCHANGED, destination_id=destination)
            if link.writeback_pending and not self.dry_run:
                self._write_back(account, link, outcome)
                outcome.link = link
            return outcome
        patch = update_payload(link.last_payload, payload, ignore=VOLATILE_FIELDS)
        # The informational "updated" copy rides along with a real change, never alone.
        for volatile in VOLATILE_FIELDS:
            if volatile in payload:
                patch[volatile] = payload[volatile]
        if not self.dry_run:
            if "addressBook" in patch:
                patch = self._with_our_lines(destination, patch, link)
            self.netsuite.update_customer(destination, patch)
            self._remember(link, payload)
            link.zuora_account_number = account.get("accountNumber", link.zuora_account_number)
            if "entityId" in patch:
                link.netsuite_entity_id = patch["entityId"]
            if link.writeback_pending:
                outcome = self._outcome(
                    item, Outcome.UPDATED, destination_id=destination, changes=changes
                )
                self._write_back(account, link, outcome)
            else:
                outcome = self._outcome(
                    item, Outcome.UPDATED, destination_id=destination, changes=changes
                )
            outcome.link = link
            return outcome
        return self._outcome(item, Outcome.UPDATED, destination_id=destination, changes=changes)

    def _with_our_lines(
        self, internal_id: str, body: dict[str, Any], link: RecordLink
    ) -> dict[str, Any]:
        """`body` with its address book turned into an in-place update of our two lines, by
        their line ids, read from the customer now (never ?replace=addressBook: the other lines
        belong to NetSuite users). The link learns the ids of our lines."""
        wanted = body.get("addressBook")
        body = {k: v for k, v in body.items() if k != "addressBook"}
        if wanted is None:
            return body
        customer = self.netsuite.get_customer(internal_id)
        # A customer our create made carries the account id as its external id, and our labels
        # on its lines; any other (linked, or made in NetSuite with NetSuite as master) has
        # its default billing and shipping lines taken over as ours.
        adopt_defaults = customer.get("externalId") != link.zuora_account_id
        book, ids = address_book_update(
            wanted,
            (customer.get("addressBook") or {}).get("items") or [],
            known={
                ns_fields.ADDRESS_LABEL_BILL_TO: link.netsuite_bill_to_line,
                ns_fields.ADDRESS_LABEL_SOLD_TO: link.netsuite_sold_to_line,
            },
            sent=(link.last_payload or {}).get("addressBook"),
            adopt_defaults=adopt_defaults,
        )
        # A line deleted in NetSuite is forgotten; the one added instead is found by its label.
        link.netsuite_bill_to_line = ids.get(ns_fields.ADDRESS_LABEL_BILL_TO, "")
        link.netsuite_sold_to_line = ids.get(ns_fields.ADDRESS_LABEL_SOLD_TO, "")
        if book is not None:
            body["addressBook"] = book
        return body

    def _remember(self, link: RecordLink, payload: dict[str, Any]) -> None:
        merged = {**(link.last_payload or {}), **payload}
        link.last_payload = merged
        link.last_payload_hash = payload_hash(
            {k: v for k, v in merged.items() if k not in VOLATILE_FIELDS}
        )
        link.last_synced_at = now()

    def _write_back(
        self, account: dict[str, Any], link: RecordLink, outcome: AccountOutcome
    ) -> None:
        """Ask for the cross-reference on the Zuora account; it is written in a batch, and the
        outcome recorded, after this account's NetSuite work (see _write_back_batch)."""
        outcome.writeback = {
            z_fields.INTEGRATION_ID: link.netsuite_internal_id,
            z_fields.INTEGRATION_STATUS: z_fields.STATUS_SYNC_COMPLETE,
            z_fields.SYNC_DATE: now().strftime("%Y-%m-%d"),
        }

    def _write_back_batch(self, batch: list[AccountOutcome]) -> list[AccountOutcome]:
        """One Zuora call for up to `writeback_batch` write-backs. A failed cross-reference keeps
        the NetSuite work and is retried on the next run (writeback_pending), never
        re-creating anything; a failed error status is only logged."""
        if self._writeback_check.failed():
            # Zuora does not keep the fields: they wait for the fix (see WriteBackCheck).
            self._writeback_check.hold(batch)
            for outcome in batch:
                outcome.writeback = None
                if outcome.link is not None:
                    outcome.link.writeback_pending = True
            return batch
        self._fault("before_zuora_write_back", {"ids": [o.source_id for o in batch]})
        started = self.source_now()
        try:
            errors: list[ApiError | None] = list(
                self.zuora.update_accounts([(o.source_id, o.writeback or {}) for o in batch])
            )
        except ApiError as exc:
            # Even when the run is being stopped (RunAborted): the NetSuite work is done, and
            # its links are kept with the write-back pending; the next call stops the run.
            errors = [exc] * len(batch)
        finally:
            self._own_writes.add((o.source_id for o in batch), started)
        not_kept = self._check_write_backs(batch, errors)
        for outcome, error in zip(batch, errors, strict=True):
            outcome.writeback = None
            link = outcome.link
            if outcome.source_id in not_kept:
                if link is not None:
                    link.writeback_pending = True  # written again once the field exists
                continue
            if link is None:
                if error is not None:
                    logger.warning(
                        "Could not mark Zuora account %s as failed: %s", outcome.source_id, error
                    )
            elif error is None:
                link.writeback_pending = False
            else:
                link.writeback_pending = True
                outcome.warnings.append(
                    f"NetSuite is up to date, but writing the cross-reference back to Zuora "
                    f"failed ({error}); it will be retried on the next run."
                )
        return batch

    def _check_write_backs(
        self, batch: list[AccountOutcome], errors: list[ApiError | None]
    ) -> set[str]:
        """For the first batch of the run that answered: read its accounts back and compare
        what Zuora holds with what was written. The ids whose fields did not stick."""
        written = {
            o.source_id: o.writeback or {} for o, e in zip(batch, errors, strict=True) if e is None
        }
        if not written or not self._writeback_check.claim():
            return set()
        not_kept: set[str] = set()
        try:
            for account in self.zuora.iter_accounts_by_ids(list(written)):
                missing = {
                    name
                    for name, value in written.get(account["id"], {}).items()
                    if str(account.get(name) or "") != str(value)
                }
                if missing:
                    self._writeback_check.missing |= missing
                    not_kept.add(account["id"])
        except ApiError as exc:
            # Unconfirmed is not failed: the next batch reads back instead.
            logger.warning("Could not read back the cross-references written to Zuora: %s", exc)
            self._writeback_check.settle(None)
            return set()
        self._writeback_check.settle(not not_kept)
        self._writeback_check.hold([o for o in batch if o.source_id in not_kept])
        return not_kept

    def run_problems(self) -> list[str]:
        problems = (self._writeback_check.problem(), self._refused_copies.problem())
        return [problem for problem in problems if problem]

    # -- outcomes ---------------------------------------------------------------------------------
    def _number_and_name(self, account: dict[str, Any]) -> tuple[str, str]:
        return account.get("accountNumber", ""), account.get("name", "")

    def _source(self, item: SelectedAccount) -> dict[str, Any]:
        return item.account

    def _describe(self, item: SelectedAccount) -> str:
        return describe_account(item.account)
