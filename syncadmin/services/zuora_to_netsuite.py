"""The Zuora → NetSuite customer sync (Zuora is the master).

Order of a run: select changed accounts (and accounts whose contacts changed) from the
watermark, keep the active ones, find existing NetSuite customers that already carry their
Zuora id, then write level by level of the hierarchy (parents first) with up to N NetSuite
writes at once. See ../shared/reference/sync-rules.md for the rules; the field rules themselves
live in syncadmin/mapping/zuora_to_netsuite.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from connectors.http import ApiError
from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import NetSuiteClient
from connectors.zuora import fields as z_fields
from connectors.zuora.client import ZuoraClient, parse_zuora_datetime
from syncadmin.mapping import (
    MappingError,
    MappingOptions,
    NetSuiteLookups,
    changed_fields,
    customer_payload,
    payload_hash,
    update_payload,
)
from syncadmin.mapping.zuora_to_netsuite import VOLATILE_FIELDS
from syncadmin.models import Direction, Outcome, RecordLink, SyncPreferences
from syncadmin.selectors import open_failure_source_ids
from syncadmin.services.concurrency import AdaptiveLimiter
from syncadmin.services.recording import AccountOutcome, Recorder, now

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Zuora's updatedDate has one-second resolution and commits are not instantaneous: re-reading a
# window before the watermark (and de-duplicating by id) never loses a record changed in the
# same second as the watermark, or committed just after the last read.
OVERLAP = timedelta(minutes=5)
LOOKUP_CHUNK = 200
DB_CHUNK = 500

FaultHook = Callable[[str, dict[str, Any]], None]


@dataclass
class SelectedAccount:
    account: dict[str, Any]
    # The source change that selected it; None when it is looked at again because it failed
    # before (such records never hold the watermark back).
    selected_at: datetime | None

    @property
    def id(self) -> str:
        return self.account["id"]


@dataclass
class RunSummary:
    selected: int = 0
    watermark_after: datetime | None = None
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    throttles: int = 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _describe(account: dict[str, Any]) -> str:
    return f"{account.get('accountNumber') or account.get('id')} ({account.get('name', '')})"


def mapping_options(preferences: SyncPreferences) -> MappingOptions:
    from syncadmin.mapping import NumberMode

    return MappingOptions(
        number_mode=NumberMode(preferences.number_mapping),
        update_number=preferences.number_update,
        netsuite_multi_currency=preferences.netsuite_multi_currency,
        netsuite_one_world=preferences.netsuite_one_world,
        default_subsidiary=preferences.default_subsidiary,
        default_department_id=preferences.default_department_id,
        default_class_id=preferences.default_class_id,
        default_location_id=preferences.default_location_id,
        hierarchies_enabled=preferences.hierarchies_enabled,
        zuora_default_currency=preferences.zuora_default_currency,
        default_bill_cycle_day=preferences.default_bill_cycle_day,
        default_batch=preferences.default_batch,
        default_payment_term=preferences.default_payment_term,
    )


def netsuite_lookups(netsuite: NetSuiteClient) -> NetSuiteLookups:
    currencies = netsuite.list_currencies()
    base = next(
        (
            c["id"]
            for c in currencies
            if str(c.get("isbasecurrency", c.get("isBaseCurrency"))) in ("T", "True")
        ),
        currencies[0]["id"] if currencies else None,
    )
    return NetSuiteLookups(
        currencies={c["symbol"].upper(): c["id"] for c in currencies if c.get("symbol")},
        terms={t["name"]: t["id"] for t in netsuite.list_terms()},
        subsidiaries={s["name"]: s["id"] for s in netsuite.list_subsidiaries()},
        default_currency_id=base,
    )


class ZuoraToNetSuiteSync:
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
    ) -> None:
        self.zuora = zuora
        self.netsuite = netsuite
        self.preferences = preferences
        self.options = mapping_options(preferences)
        self.recorder = recorder
        self.watermark = watermark
        self.dry_run = dry_run
        self.account_ids = list(account_ids) if account_ids is not None else None
        self.fault_hook = fault_hook
        self.limiter = limiter or AdaptiveLimiter(preferences.netsuite_concurrency)
        self.new_only = preferences.sync_behavior == SyncPreferences.Behavior.NEW_ONLY
        self.summary = RunSummary()
        self._newest_seen: datetime | None = None
        self._oldest_retryable: datetime | None = None

    # -- selection ------------------------------------------------------------------------------
    def since(self) -> datetime:
        return self.watermark - OVERLAP if self.watermark else EPOCH

    def select(self) -> dict[str, SelectedAccount]:
        """Every account to look at, by id, each with the newest change that selected it."""
        selected: dict[str, SelectedAccount] = {}

        def keep(account: dict[str, Any], at: datetime) -> None:
            known = selected.get(account["id"])
            if known is None:
                selected[account["id"]] = SelectedAccount(account, at)
            elif known.selected_at is None or at > known.selected_at:
                known.selected_at = at

        if self.account_ids is not None:
            for account in self.zuora.iter_accounts_by_ids(self.account_ids):
                keep(account, parse_zuora_datetime(account["updatedDate"]))
            return selected

        since = self.since()
        for account in self.zuora.iter_accounts_changed_since(since):
            keep(account, parse_zuora_datetime(account["updatedDate"]))
        if self.watermark is not None:
            # A contact edit does not move the account's updatedDate: follow contacts too.
            contact_changes: dict[str, datetime] = {}
            for contact in self.zuora.iter_contacts_changed_since(since):
                at = parse_zuora_datetime(contact["updatedDate"])
                account_id = contact.get("accountId")
                if account_id and at > contact_changes.get(account_id, EPOCH):
                    contact_changes[account_id] = at
            missing = [a for a in contact_changes if a not in selected]
            for account in self.zuora.iter_accounts_by_ids(missing):
                keep(account, contact_changes[account["id"]])
            for account_id, at in contact_changes.items():
                if account_id in selected:
                    keep(selected[account_id].account, at)
            retry = open_failure_source_ids(direction=Direction.ZUORA_TO_NETSUITE) - set(selected)
            for account in self.zuora.iter_accounts_by_ids(sorted(retry)):
                selected.setdefault(account["id"], SelectedAccount(account, None))
        return selected

    def skip_reason(self, account: dict[str, Any]) -> str | None:
        status = account.get("status")
        if status != "Active":
            return f"{status or 'Unknown'} account: only Active accounts sync"
        if (account.get(z_fields.SYNC_TO_NETSUITE) or "Yes") == "No":
            return "Sync to NetSuite is No"
        if account.get(z_fields.INTEGRATION_STATUS) == z_fields.STATUS_IGNORE:
            return "Integration status is Ignore"
        cutover = self.preferences.cutover_date
        if cutover and self.watermark is None and account.get("createdDate"):
            created = parse_zuora_datetime(account["createdDate"])
            if created < datetime.combine(cutover, time.min, tzinfo=UTC):
                return f"Created before the cutover date {cutover:%Y-%m-%d}"
        return None

    # -- links ---------------------------------------------------------------------------------
    def load_links(self, zuora_ids: list[str]) -> dict[str, RecordLink]:
        links: dict[str, RecordLink] = {}
        for chunk in _chunks(zuora_ids, DB_CHUNK):
            for link in RecordLink.objects.filter(zuora_account_id__in=chunk):
                links[link.zuora_account_id] = link
        return links

    def find_existing_customers(self, accounts: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
        """NetSuite customers that already carry one of these Zuora accounts' ids (as external
        id or in the Zuora ID field), or that the account's IntegrationId__NS names: a create
        that died before its link was stored, or records linked by the incumbent."""
        found: dict[str, dict[str, str]] = {}
        by_integration_id = {
            str(a[z_fields.INTEGRATION_ID]): a["id"]
            for a in accounts
            if a.get(z_fields.INTEGRATION_ID)
        }
        ids = [a["id"] for a in accounts]
        for chunk in _chunks(ids, LOOKUP_CHUNK):
            quoted = ", ".join(_quote(i) for i in chunk)
            integration = [n for n, zid in by_integration_id.items() if zid in set(chunk)]
            where = f"externalid IN ({quoted}) OR {ns_fields.ZUORA_ID} IN ({quoted})"
            if integration:
                where += f" OR id IN ({', '.join(_quote(n) for n in integration)})"
            query = (
                f"SELECT id, entityid, externalid, {ns_fields.ZUORA_ID} FROM customer "
                f"WHERE {where} ORDER BY id"
            )
            for row in self.netsuite.suiteql(query):
                zuora_id = row.get("externalid") or row.get(ns_fields.ZUORA_ID)
                if zuora_id not in chunk:
                    zuora_id = by_integration_id.get(row["id"])
                if zuora_id and zuora_id not in found:
                    found[zuora_id] = row
        return found

    def parent_links(self, parent_ids: set[str]) -> dict[str, RecordLink]:
        return self.load_links(sorted(parent_ids))

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        lookups = netsuite_lookups(self.netsuite)
        selected = self.select()
        self.summary.selected = len(selected)
        self.recorder.set_total(len(selected))

        eligible: dict[str, SelectedAccount] = {}
        for item in selected.values():
            reason = self.skip_reason(item.account)
            if reason:
                self._record(self._outcome(item, Outcome.SKIPPED, reason=reason))
            else:
                eligible[item.id] = item

        links = self.load_links(list(eligible))
        unlinked = [eligible[i].account for i in eligible if i not in links]
        existing = self.find_existing_customers(unlinked) if unlinked else {}

        levels, orphans = self.levels(eligible, selected, links)
        for item, message in orphans:
            self._record(self._failure(item, "PARENT_NOT_SYNCED", message))

        failed_ids: set[str] = {item.id for item, _ in orphans}
        destination_ids: dict[str, str] = {
            zid: link.netsuite_internal_id for zid, link in links.items()
        }
        extra_parents = {
            p
            for item in eligible.values()
            if (p := self._parent_id(item.account)) and p not in eligible
        }
        for zid, link in self.parent_links(extra_parents).items():
            destination_ids[zid] = link.netsuite_internal_id

        workers = max(1, self.preferences.netsuite_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
            for level in levels:
                futures: dict[Future[AccountOutcome], SelectedAccount] = {}
                for item in level:
                    parent = self._parent_id(item.account)
                    if parent and parent in failed_ids:
                        parent_item = eligible.get(parent) or selected.get(parent)
                        name = _describe(parent_item.account) if parent_item else parent
                        self._record(
                            self._failure(
                                item,
                                "PARENT_FAILED",
                                f"Parent account {name} did not sync in this run, so this "
                                "account cannot be attached to it. Fix the parent's error first.",
                            )
                        )
                        failed_ids.add(item.id)
                        continue
                    futures[
                        pool.submit(
                            self.sync_account,
                            item,
                            links.get(item.id),
                            existing.get(item.id),
                            destination_ids.get(parent) if parent else None,
                            lookups,
                        )
                    ] = item
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = futures[future]
                        outcome = future.result()
                        if outcome.outcome == Outcome.FAILED:
                            failed_ids.add(item.id)
                        elif outcome.destination_id:
                            destination_ids[item.id] = outcome.destination_id
                        self._record(outcome)
        self.recorder.flush()
        self.summary.watermark_after = self.next_watermark()
        self.summary.throttles = self.limiter.throttles
        return self.summary

    def _parent_id(self, account: dict[str, Any]) -> str | None:
        if not self.options.hierarchies_enabled:
            return None
        return account.get("parentId") or None

    def levels(
        self,
        eligible: dict[str, SelectedAccount],
        selected: dict[str, SelectedAccount],
        links: dict[str, RecordLink],
    ) -> tuple[list[list[SelectedAccount]], list[tuple[SelectedAccount, str]]]:
        """Accounts grouped by depth in the hierarchy (parents in earlier groups), and the ones
        that cannot sync because of their parent (a cycle, or a parent that is not syncable)."""
        depth: dict[str, int] = {}
        orphans: list[tuple[SelectedAccount, str]] = []
        orphan_ids: set[str] = set()
        parent_ids = {p for i in eligible.values() if (p := self._parent_id(i.account))}
        outside = parent_ids - set(eligible)
        linked_outside = set(self.parent_links(outside)) if outside else set()

        def resolve(account_id: str, trail: list[str]) -> int | None:
            if account_id in depth:
                return depth[account_id]
            if account_id in orphan_ids:
                return None
            item = eligible[account_id]
            parent = self._parent_id(item.account)
            if not parent:
                depth[account_id] = 0
                return 0
            if parent in trail or parent == account_id:
                members = (
                    [*trail[trail.index(parent) :], account_id] if parent in trail else [account_id]
                )
                cycle = " → ".join(_describe(eligible[a].account) for a in [*members, parent])
                for member in members:
                    self._orphan(
                        orphans,
                        orphan_ids,
                        eligible[member],
                        f"The account hierarchy has a cycle: {cycle}. Fix the parent in Zuora.",
                    )
                return None
            if parent in eligible:
                parent_depth = resolve(parent, [*trail, account_id])
                if parent_depth is None:
                    name = _describe(eligible[parent].account)
                    self._orphan(
                        orphans,
                        orphan_ids,
                        item,
                        f"Parent account {name} cannot sync, so this account cannot either.",
                    )
                    return None
                depth[account_id] = parent_depth + 1
                return depth[account_id]
            if parent in linked_outside:
                depth[account_id] = 0
                return 0
            parent_item = selected.get(parent)
            if parent_item is not None:
                why = self.skip_reason(parent_item.account) or "not syncable"
                message = (
                    f"Parent account {_describe(parent_item.account)} is not in NetSuite: {why}."
                )
            else:
                message = (
                    f"Parent account {parent} is not in NetSuite yet (not linked and not "
                    "changed in this run). Sync or link the parent first."
                )
            self._orphan(orphans, orphan_ids, item, message)
            return None

        for account_id in eligible:
            resolve(account_id, [])
        grouped: dict[int, list[SelectedAccount]] = {}
        for account_id, level in depth.items():
            grouped.setdefault(level, []).append(eligible[account_id])
        return [grouped[k] for k in sorted(grouped)], orphans

    @staticmethod
    def _orphan(
        orphans: list[tuple[SelectedAccount, str]],
        orphan_ids: set[str],
        item: SelectedAccount,
        message: str,
    ) -> None:
        if item.id not in orphan_ids:
            orphan_ids.add(item.id)
            orphans.append((item, message))

    # -- one account ------------------------------------------------------------------------------
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
            if link is not None:
                return self._sync_linked(item, link, payload)
            if existing is not None:
                return self._link_existing(item, existing, payload)
            return self._create(item, payload)
        except MappingError as exc:
            failure = self._failure(item, exc.code, str(exc))
        except ApiError as exc:
            code = exc.code or f"HTTP_{exc.status}"
            failure = self._failure(item, str(code), str(exc), exc.retryable)
        if link is None and existing is None and not failure.retryable and not self.dry_run:
            self._write_error_status(account)
        return failure

    def _create(self, item: SelectedAccount, payload: dict[str, Any]) -> AccountOutcome:
        account = item.account
        changes = changed_fields(None, payload, ignore=VOLATILE_FIELDS)
        if self.dry_run:
            return self._outcome(item, Outcome.CREATED, changes=changes)
        # Upsert by external id (the Zuora account id): if this run dies after the write, the
        # next run writes to the same customer instead of creating a second one.
        with self.limiter:
            internal_id = self.netsuite.upsert_customer(account["id"], payload)
        self._fault("after_netsuite_write", {"account": account, "internal_id": internal_id})
        link = RecordLink(
            zuora_account_id=account["id"],
            zuora_account_number=account.get("accountNumber", ""),
            netsuite_internal_id=internal_id,
            netsuite_entity_id=payload.get("entityId", ""),
            origin=RecordLink.Origin.CREATED,
        )
        outcome = self._outcome(item, Outcome.CREATED, changes=changes, destination_id=internal_id)
        self._remember(link, payload)
        self._write_back(account, link, outcome)
        outcome.link, outcome.link_is_new = link, True
        return outcome

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
                with self.limiter:
                    self.netsuite.update_customer(internal_id, payload, replace_address_book=True)
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
            with self.limiter:
                self.netsuite.update_customer(
                    destination, patch, replace_address_book="addressBook" in patch
                )
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
        """Cross-reference on the Zuora account. A failure here keeps the NetSuite work and is
        retried on the next run (writeback_pending), never re-creating anything."""
        update = {
            z_fields.INTEGRATION_ID: link.netsuite_internal_id,
            z_fields.INTEGRATION_STATUS: z_fields.STATUS_SYNC_COMPLETE,
            z_fields.SYNC_DATE: now().strftime("%Y-%m-%d"),
        }
        try:
            self.zuora.update_account(account["id"], update)
        except ApiError as exc:
            link.writeback_pending = True
            outcome.warnings.append(
                f"NetSuite is up to date, but writing the cross-reference back to Zuora failed "
                f"({exc}); it will be retried on the next run."
            )
        else:
            link.writeback_pending = False

    def _write_error_status(self, account: dict[str, Any]) -> None:
        if account.get(z_fields.INTEGRATION_STATUS) == z_fields.STATUS_ERROR_CREATING:
            return  # already marked; writing again would re-select it on every run
        try:
            self.zuora.update_account(
                account["id"], {z_fields.INTEGRATION_STATUS: z_fields.STATUS_ERROR_CREATING}
            )
        except ApiError as exc:
            logger.warning("Could not mark Zuora account %s as failed: %s", account["id"], exc)

    # -- outcomes ---------------------------------------------------------------------------------
    def _outcome(self, item: SelectedAccount, outcome: str, **values: Any) -> AccountOutcome:
        account = item.account
        return AccountOutcome(
            source_id=account["id"],
            source_number=account.get("accountNumber", ""),
            source_name=account.get("name", ""),
            outcome=outcome,
            selected_at=item.selected_at,
            **values,
        )

    def _failure(
        self, item: SelectedAccount, code: str, message: str, retryable: bool = False
    ) -> AccountOutcome:
        return self._outcome(
            item, Outcome.FAILED, error_code=code, error_message=message, retryable=retryable
        )

    def _fault(self, point: str, context: dict[str, Any]) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point, context)

    # -- watermark ------------------------------------------------------------------------------
    def _record(self, outcome: AccountOutcome) -> None:
        at = outcome.selected_at
        if at is not None:
            if self._newest_seen is None or at > self._newest_seen:
                self._newest_seen = at
            if outcome.retryable and (
                self._oldest_retryable is None or at < self._oldest_retryable
            ):
                self._oldest_retryable = at
        self.recorder.add(outcome)

    def next_watermark(self) -> datetime | None:
        """The newest change seen, but never past a retryable failure, so it is read again."""
        if self._oldest_retryable is not None:
            return min(self._oldest_retryable, self._newest_seen or self._oldest_retryable)
        if self._newest_seen is None:
            return self.watermark
        if self.watermark is not None and self._newest_seen < self.watermark:
            return self.watermark
        return self._newest_seen
