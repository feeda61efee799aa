"""The Zuora → NetSuite customer sync (Zuora is the master).

Order of a run: select changed accounts (and accounts whose contacts changed) from the
watermark, keep the active ones, find existing NetSuite customers that already carry their
Zuora id, then write parents before children with up to N NetSuite writes at once, and write
the NetSuite id back to Zuora in batches. This module reads and selects; the writes are in
netsuite_writes.py, the run itself in engine.py. See
../shared/reference/sync-rules.md for the rules; the field rules themselves live in
syncadmin/mapping/zuora_to_netsuite.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from connectors.zuora import fields as z_fields
from connectors.zuora.client import (
    format_filter_datetime,
    format_zoql_datetime,
    parse_zuora_datetime,
)
from syncadmin.mapping import NetSuiteLookups
from syncadmin.models import Direction
from syncadmin.selectors import (
    IGNORED_REASON,
    ignored_source_ids,
    open_failures,
    strong_unreviewed_matches,
    writeback_pending_source_ids,
)
from syncadmin.services.crossref import stray_references_review
from syncadmin.services.hierarchy import Wording
from syncadmin.services.netsuite_reads import (
    LOOKUP_CHUNK,
    candidate_customers,
    existing_customers,
    netsuite_lookups,
    points_back,
    stray_reference,
)
from syncadmin.services.netsuite_writes import NetSuiteWrites, SelectedAccount, describe_account
from syncadmin.services.settle import EPOCH, SETTLE_MARGIN, WrittenBack, content_digest

logger = logging.getLogger(__name__)

# The first batch is one Zuora page, so NetSuite writes start after one read, not ten.
FIRST_BATCH = 99
# A batch is admitted early when fewer than this many accounts per NetSuite slot are still
# queued or on the wire: its existence check (one call, which queues for a slot behind the
# writes) must answer before they run out.
LOW_WATER_PER_SLOT = 5
# Zuora write-back calls at once (Zuora's default tenant limit is 40; leave room for others).
ZUORA_WRITES_AT_ONCE = 20
# Write-backs per Zuora call (the Actions API's update takes up to 50 objects): half of a
# run's calls were write-backs, one per account, and each costs our CPU as much as a write.
WRITEBACK_BATCH = 50
# Written by the sync itself: they change on every write-back and say nothing about the
# account's content.
WRITEBACK_FIELDS = frozenset(
    {"updatedDate", z_fields.INTEGRATION_ID, z_fields.INTEGRATION_STATUS, z_fields.SYNC_DATE}
)
# The account's own fields as the settle pass reads them back through ZOQL (2,000 rows a call,
# where Object Query stops at 99): all that the mapping and the skip rules read, except dates
# (their text differs between the two APIs) and the cross-reference fields our write-back sets.
# Contact edits are found by their own query.
ROW_FIELDS = (
    "Id",
    "AccountNumber",
    "Name",
    "Status",
    "Currency",
    "ParentId",
    "BillToId",
    "SoldToId",
    "CrmId",
    "Batch",
    "BillCycleDay",
    "AutoPay",
    "PaymentTerm",
    "Notes",
    "SalesRepName",
    "CustomerServiceRepName",
    "PurchaseOrderNumber",
    # Not Mrr: the SOAP Account object that ZOQL queries is not documented to have it, and
    # Zuora recomputes MRR without it being an edit of the account.
    "TaxExemptStatus",
    "TaxExemptCertificateID",
    z_fields.SYNC_TO_NETSUITE,
    z_fields.SUBSIDIARY,
    z_fields.CUSTOMER_TYPE,
)
_ROW_KEYS = tuple(name.lower() for name in ROW_FIELDS)
# What changes on a contact without an edit of its content.
CONTACT_STAMPS = frozenset({"updatedDate", "updatedById"})
# Our write-backs read back per settle slice (one ZOQL call each).
WRITES_PER_SETTLE_SLICE = 2000


def fingerprint(account: dict[str, Any]) -> bytes:
    """A digest of what an account holds, ignoring what our own write-back changes."""
    return content_digest(account, WRITEBACK_FIELDS)


def row_digest(account: dict[str, Any], extra: tuple[str, ...] = ()) -> bytes:
    """The digest of an account's own fields (ROW_FIELDS and the `extra` ones the added
    mappings read), from either API's shape: Object Query's camelCase or ZOQL's PascalCase."""
    lowered = {key.lower(): value for key, value in account.items()}
    keys = _ROW_KEYS + tuple(name.lower() for name in extra)
    return content_digest({key: lowered.get(key) for key in keys}, frozenset())


def changed_rows_query(start: datetime, end: datetime | None, extra: tuple[str, ...] = ()) -> str:
    """ZOQL for the rows (ROW_FIELDS and `extra`) of the accounts stamped in [start, end)."""
    where = f"UpdatedDate >= {format_zoql_datetime(start)}"
    if end is not None:
        where += f" and UpdatedDate < {format_zoql_datetime(end)}"
    return f"select {', '.join(ROW_FIELDS + extra)}, UpdatedDate from Account where {where}"


def added_row_fields(sources: list[str]) -> tuple[str, ...]:
    """The ZOQL names of the account fields the added mappings read (contact fields are found
    by the contacts' own query): "Region__c" as it is, "salesRepName" as "SalesRepName"."""
    lowered = {name.lower() for name in ROW_FIELDS}
    names: dict[str, None] = {}
    for source in sources:
        if "." in source or not source.replace("_", "").isalnum():
            continue
        name = source if "__" in source else source[:1].upper() + source[1:]
        if name.lower() not in lowered:
            names[name] = None
    return tuple(names)


@dataclass
class ReadBack:
    """A settle pass's reads on the wire: each time slice's rows, and the accounts whose
    contacts changed since the run started."""

    rows: list[Future[SliceRead]]
    contacts: Future[set[str]]


# A read-back time slice: accounts someone changed (newest stamp by id), the newest stamp of
# our own write-backs in it, and the rows this run synced in it (id, stamp, digest).
SliceRead = tuple[dict[str, datetime], datetime | None, list[tuple[str, datetime, bytes]]]


class ZuoraToNetSuiteSync(NetSuiteWrites):
    direction = Direction.ZUORA_TO_NETSUITE
    source_key, destination_key = "zuora_account_id", "netsuite_internal_id"
    wording = Wording(record="account", source="Zuora", destination="NetSuite")
    writeback_batch = WRITEBACK_BATCH
    # Write-backs to Zuora have threads of their own, not queued behind the accounts waiting
    # for a NetSuite slot: an account's result and link are stored once its write-back
    # answers, so they are stored while the run goes on (a killed run keeps them).
    writebacks_at_once = ZUORA_WRITES_AT_ONCE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lookups: NetSuiteLookups | None = None
        self._lookups_lock = threading.Lock()
        self._ignored: set[str] = set()
        self._candidates: Future[list[dict[str, str]] | None] | None = None
        # The account fields the added mappings read are part of an account's row: someone's
        # edit of one during the run is then told from our own write-backs.
        self._row_extra = added_row_fields([m.source_field for m in self.options.added_mappings])
        # Every NetSuite call of this direction is a record's write or a read of the run:
        # once it must stop, none is sent.
        self.limiter.stop = self.should_stop

    # -- selection ------------------------------------------------------------------------------
    def iter_selected(self) -> Iterator[SelectedAccount]:
        """Every account to look at, once, in the source's change order (a stream: never the
        whole selection in memory), each with the newest change that selected it."""
        seen: set[str] = set()
        if self.account_ids is not None:
            for account in self.zuora.iter_accounts_by_ids(self.account_ids):
                if account["id"] not in seen:
                    seen.add(account["id"])
                    yield SelectedAccount(account, parse_zuora_datetime(account["updatedDate"]))
            return
        since = self.since()
        listed_from = since
        # Changes the listing below does not show, read first (they are few) so that each
        # account is looked at once, with its newest change time: contact edits (they do not
        # move the account's updatedDate) and, after a settled run, edits in the settle margin.
        unlisted: dict[str, datetime] = {}

        def note(account_id: str, at: datetime) -> None:
            if at > unlisted.get(account_id, EPOCH):
                unlisted[account_id] = at

        if self.watermark is not None:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="margin") as aside:
                margin = None
                if self.watermark_settled():
                    # The margin holds the settling run's own write-backs: its rows, through
                    # ZOQL, against the digests that run kept (not page by page, whole).
                    listed_from = self.watermark
                    margin = aside.submit(self._edits_in_margin, since, listed_from)
                for contact in self.zuora.iter_contacts_changed_since(since):
                    if contact.get("accountId"):
                        at = parse_zuora_datetime(contact["updatedDate"])
                        # A contact edit is known by its digest like an account row: one at
                        # the watermark that the settling run synced is not read again.
                        key = f"contact:{contact.get('id')}"
                        digest = content_digest(contact, CONTACT_STAMPS).hex()
                        self._note_synced_row(key, at, digest)
                        if margin is None or self._rows_at_watermark.get(key) != digest:
                            note(contact["accountId"], at)
                for account_id, at in (margin.result() if margin else {}).items():
                    note(account_id, at)
        # Bounded by the run's start: our own write-backs move accounts past it, and paging
        # after them would read them twice (settle() reads what changed since).
        window = [
            f"updateddate.GE:{format_filter_datetime(listed_from)}",
            f"updateddate.LT:{format_filter_datetime(self._run_started)}",
        ]
        for account in self.zuora.iter_accounts(window):
            at = parse_zuora_datetime(account["updatedDate"])
            if (
                listed_from == self.watermark
                and account["id"] in self._rows_at_watermark
                and account["id"] not in unlisted
                and self._settled_row(account)
            ):
                # The settling run's own write-back at the watermark, unchanged.
                self._note_synced_row(account["id"], at, self._rows_at_watermark[account["id"]])
                continue
            if account["id"] in seen:
                # Changed again while this run pages: hold the watermark before that change
                # so the next run reads it.
                self._hold_watermark(at)
                continue
            seen.add(account["id"])
            at = max(at, unlisted.pop(account["id"], EPOCH))
            yield SelectedAccount(account, at)
        for account in self.zuora.iter_accounts_by_ids(list(unlisted)):
            if account["id"] not in seen:
                seen.add(account["id"])
                yield SelectedAccount(account, unlisted[account["id"]])
        if self.watermark is not None:
            # Failures, and cross-references that could not be written back, are looked at
            # again even if nothing changed since.
            failures = open_failures(direction=Direction.ZUORA_TO_NETSUITE, seen=seen)
            self.summary.waiting = failures.waiting
            retry = (
                failures.due | writeback_pending_source_ids(direction=Direction.ZUORA_TO_NETSUITE)
            ) - seen
            for account in self.zuora.iter_accounts_by_ids(sorted(retry)):
                if account["id"] not in seen:
                    seen.add(account["id"])
                    yield SelectedAccount(account, None)

    def _edits_in_margin(self, start: datetime, end: datetime) -> dict[str, datetime]:
        """Accounts stamped in [start, end) whose row is not one the settling run synced."""
        edits: dict[str, datetime] = {}
        for row in self.zuora.iter_zoql(changed_rows_query(start, end, self._row_extra)):
            at = parse_zuora_datetime(row["UpdatedDate"])
            digest = row_digest(row, self._row_extra).hex()
            if not self._settled_row(row):
                edits[row["Id"]] = max(at, edits.get(row["Id"], at))
            else:
                self._note_synced_row(row["Id"], at, digest)
        return edits

    def _settled_row(self, account: dict[str, Any]) -> bool:
        """Whether an account's row (Object Query's or ZOQL's) is the one the settling run
        synced. Its digest covers the fields the added mappings read: after a mapping is added,
        the settling run's few write-backs in the margin are looked at again (and given the new
        field), rather than an edit of that field being taken for our own write-back."""
        key = account.get("id") or account.get("Id")
        stored = self._rows_at_watermark.get(key)
        return stored is not None and stored == row_digest(account, self._row_extra).hex()

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

    # -- parents outside the run ---------------------------------------------------------------
    def _explain_absent_parents(self, parent_ids: list[str]) -> dict[str, str]:
        """What an earlier run found of each parent; a parent no run has seen yet is read from
        Zuora (one query) so the message still names it and says why it is not in NetSuite."""
        messages = super()._explain_absent_parents(parent_ids)
        unseen = [parent for parent in parent_ids if parent not in messages]
        for account in self.zuora.iter_accounts_by_ids(unseen) if unseen else ():
            reason = self.skip_reason(account) or "it has not synced yet (not linked)"
            messages[account["id"]] = (
                f"Parent account {describe_account(account)} is not in NetSuite: {reason}. "
                "Sync or link the parent first."
            )
        return messages

    # -- what NetSuite already holds -------------------------------------------------------------
    def _take_candidates(self) -> list[dict[str, str]] | None:
        """The candidates read at the start, for the first batch only: later batches ask
        NetSuite themselves, so a customer given a Zuora id during the run is still found."""
        future, self._candidates = self._candidates, None
        return future.result() if future is not None else None

    def lookups(self) -> NetSuiteLookups:
        """NetSuite's currencies, terms and subsidiaries, read once per run and only when an
        account needs a payload (a run with nothing to write never asks)."""
        with self._lookups_lock:
            if self._lookups is None:
                self._lookups = netsuite_lookups(self.netsuite)
            return self._lookups

    # -- the run --------------------------------------------------------------------------------
    def _worker_count(self) -> int:
        # NetSuite calls are bounded by the limiter, not by the pool.
        return max(1, self.preferences.netsuite_concurrency) * 3 + 2

    def _batches(self) -> Iterator[list[SelectedAccount]]:
        """The selection as it streams in: the first batch one Zuora page, then up to one
        existence lookup's worth, sent early when the writers are about to run out."""
        self._ignored = ignored_source_ids(direction=Direction.ZUORA_TO_NETSUITE)
        assert self._pool is not None
        if self.watermark is None and self.account_ids is None:
            # An initial sync: what its first writes need from NetSuite (existing customers,
            # the lookups) is read while Zuora's token and first page are on the wire.
            self._candidates = self._pool.submit(candidate_customers, self.netsuite)
            self._pool.submit(self.lookups)
        workers = max(1, self.preferences.netsuite_concurrency)
        batch: list[SelectedAccount] = []
        size = FIRST_BATCH
        for item in self.iter_selected():
            if self.stopping():
                break
            batch.append(item)
            if len(batch) >= size or (len(batch) % FIRST_BATCH == 0 and self._running_low(workers)):
                yield batch
                batch, size = [], LOOKUP_CHUNK
        if batch:
            yield batch

    def _running_low(self, workers: int) -> bool:
        """Whether the writers are about to run out of accounts: the batch being gathered
        then goes now rather than at its full size, so the NetSuite slots never stand idle
        while the selection is still paging."""
        self._collect(block=False)
        return len(self._futures) < workers * LOW_WATER_PER_SLOT

    def _parent_id(self, account: dict[str, Any]) -> str | None:
        if not self.options.hierarchies_enabled:
            return None
        return account.get("parentId") or None

    def _admit(self, batch: list[SelectedAccount]) -> list[SelectedAccount]:
        """Skip, look up links and existing customers for a batch (one query each)."""
        self._count_selected(len(batch))
        links = self._links([item.id for item in batch])
        eligible: list[SelectedAccount] = []
        for item in batch:
            self._fingerprints[item.id] = fingerprint(item.account)
            self._row_digests[item.id] = row_digest(item.account, self._row_extra)
            self._note_synced_row(item.id, item.selected_at, self._row_digests[item.id].hex())
            reason = IGNORED_REASON if item.id in self._ignored else self.skip_reason(item.account)
            if reason is None:
                eligible.append(item)
            else:
                self._skip(item, reason, links.get(item.id))
        if eligible and self._lookups is None:
            # Read NetSuite's reference lists while the existence checks run: both stand
            # between the first read and the first write. A failure here is raised again by
            # the lookups() call that needs them.
            assert self._pool is not None
            self._pool.submit(self.lookups)
        unlinked = [item.account for item in eligible if item.id not in links]
        candidates = self._take_candidates()
        existing = (
            existing_customers(self.netsuite, unlinked, candidates=candidates) if unlinked else {}
        )
        # A customer that IntegrationId__NS names but that does not point back is not ours to
        # overwrite: it waits for a person (or, once that pair is rejected, is ignored).
        by_id = {a["id"]: a for a in unlinked}
        strays = {zid: row for zid, row in existing.items() if not points_back(row, zid)}
        stray_review = stray_references_review(
            (stray_reference(by_id[zid], row) for zid, row in strays.items()),
            suggest=not self.dry_run,
        )
        for zid in strays:
            del existing[zid]
        # Never create a record a person has not yet confirmed is new (see Match suggestions).
        review = strong_unreviewed_matches(
            direction=Direction.ZUORA_TO_NETSUITE,
            source_ids=[
                a["id"] for a in unlinked if a["id"] not in existing and a["id"] not in stray_review
            ],
        )
        review.update(stray_review)
        admitted: list[SelectedAccount] = []
        for item in eligible:
            if item.id in review:
                self._hold_for_review(item, review[item.id])
            else:
                item.link, item.existing = links.get(item.id), existing.get(item.id)
                admitted.append(item)
        # Parents first (the stream is in change order, not the hierarchy's): their children
        # then join the queue while the rest of the batch is still in it, instead of making a
        # chain of single writes after the last batch.
        parents = self.hierarchy.parents(admitted)
        admitted.sort(key=lambda item: item.id not in parents)
        return admitted

    # -- after the writes: our own write-backs ----------------------------------------------------
    # A row whose content (minus updatedDate and the cross-reference fields) is what this run
    # synced is ours. The digests of the margin's rows go with the watermark, so the next run
    # tells our write-backs there from others' writes with one ZOQL call (see _edits_in_margin).
    def _start_read_back(self, written: WrittenBack, since: datetime) -> ReadBack:
        """The rows of the accounts changed since `since`, through ZOQL in time slices at
        once, and the contacts changed since, at the same time."""
        slices = written.slices(since, per_slice=WRITES_PER_SETTLE_SLICE)
        pool = ThreadPoolExecutor(max_workers=len(slices) + 1, thread_name_prefix="settle")
        try:
            contacts = pool.submit(self._contact_accounts, since)
            rows = [
                pool.submit(self._read_back_slice, start, end, written) for start, end in slices
            ]
        finally:
            pool.shutdown(wait=False)
        return ReadBack(rows, contacts)

    def _finish_read_back(
        self, read_back: ReadBack
    ) -> tuple[list[SelectedAccount], datetime | None]:
        """The accounts someone changed during the run (whole, contacts embedded), and the
        newest stamp of our own write-backs that the read back saw."""
        changed_at: dict[str, datetime] = {}
        newest_own: datetime | None = None
        for future in read_back.rows:
            found, own, synced = future.result()
            for account_id, at in found.items():
                changed_at[account_id] = max(at, changed_at.get(account_id, at))
            if own is not None:
                newest_own = own if newest_own is None else max(own, newest_own)
                # Kept for the next run only if they fall in the margin before the watermark
                # (see SettleState._sum_up).
                for row_id, at, digest in synced:
                    if at >= own - SETTLE_MARGIN:
                        self._settled_rows[row_id] = (at, digest.hex())
        # Contact edits during the run do not show on the account: compare those whole.
        edited_contacts = read_back.contacts.result() - set(changed_at)
        changed: dict[str, SelectedAccount] = {}
        for account in self.zuora.iter_accounts_by_ids(sorted(changed_at)):
            at = changed_at[account["id"]]
            changed[account["id"]] = SelectedAccount(account, at)
        for account in self.zuora.iter_accounts_by_ids(sorted(edited_contacts)):
            if self._fingerprints.get(account["id"]) != fingerprint(account):
                at = parse_zuora_datetime(account["updatedDate"])
                changed[account["id"]] = SelectedAccount(account, at)
        return list(changed.values()), newest_own

    def _read_back_slice(
        self, start: datetime, end: datetime | None, written: WrittenBack
    ) -> SliceRead:
        # The settling run's own write-backs in the margin before the watermark, as the
        # selection knows them (see iter_selected): not edits, unless their row changed.
        settled_before = self._rows_at_watermark if self.watermark_settled() else {}
        changed_at: dict[str, datetime] = {}
        own: datetime | None = None
        synced: list[tuple[str, datetime, bytes]] = []
        prune_at = 4096
        for row in self.zuora.iter_zoql(changed_rows_query(start, end, self._row_extra)):
            at = parse_zuora_datetime(row["UpdatedDate"])
            digest = row_digest(row, self._row_extra)
            if self._row_digests.get(row["Id"]) == digest:
                if row["Id"] in written.ids and (own is None or at > own):
                    own = at
                synced.append((row["Id"], at, digest))
                if len(synced) >= prune_at and own is not None:  # rows come in no order
                    synced = [r for r in synced if r[1] >= own - SETTLE_MARGIN]
                    prune_at = max(prune_at, 2 * len(synced))
                continue
            if (
                row["Id"] not in self._row_digests
                and row["Id"] in settled_before
                and self._settled_row(row)
                and self.watermark is not None
                and at <= self.watermark
            ):
                # Still known by its row if it falls in this run's margin too.
                synced.append((row["Id"], at, digest))
                continue
            changed_at[row["Id"]] = max(at, changed_at.get(row["Id"], at))
        return changed_at, own, synced

    def _contact_accounts(self, since: datetime) -> set[str]:
        return {
            c["accountId"]
            for c in self.zuora.iter_contacts_changed_since(since)
            if c.get("accountId")
        }
