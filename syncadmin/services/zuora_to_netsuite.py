"""The Zuora → NetSuite customer sync (Zuora is the master).

Order of a run: select changed accounts (and accounts whose contacts changed) from the
watermark, keep the active ones, find existing NetSuite customers that already carry their
Zuora id, then write level by level of the hierarchy (parents first) with up to N NetSuite
writes at once. See ../shared/reference/sync-rules.md for the rules; the field rules themselves
live in syncadmin/mapping/zuora_to_netsuite.py.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from connectors.http import ApiError, RunAborted
from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import NetSuiteClient
from connectors.zuora import fields as z_fields
from connectors.zuora.client import (
    format_filter_datetime,
    format_zoql_datetime,
    parse_zuora_datetime,
)
from syncadmin.mapping import (
    MappingError,
    NetSuiteLookups,
    changed_fields,
    customer_payload,
    payload_hash,
    update_payload,
)
from syncadmin.mapping.zuora_to_netsuite import VOLATILE_FIELDS, address_book_update
from syncadmin.models import Direction, Outcome, RecordLink
from syncadmin.selectors import (
    IGNORED_REASON,
    ignored_source_ids,
    open_failures,
    strong_unreviewed_matches,
    writeback_pending_source_ids,
)
from syncadmin.services.crossref import StrayReference, stray_references_review
from syncadmin.services.engine import (
    EPOCH,
    OVERLAP,
    SETTLE_MARGIN,
    RunStopped,
    RunSummary,
    SyncEngine,
    WrittenBack,
    content_digest,
)
from syncadmin.services.recording import AccountOutcome, now

logger = logging.getLogger(__name__)

# Accounts per existence lookup (one SuiteQL query; Oracle's IN list takes up to 1000 items).
LOOKUP_CHUNK = 1000
DB_CHUNK = 500
# The first batch is one Zuora page, so NetSuite writes start after one read, not ten.
FIRST_BATCH = 99
# A batch is admitted early when fewer than this many accounts per NetSuite slot are still
# queued or on the wire: its existence check (one call, which queues for a slot behind the
# writes) must answer before they run out.
LOW_WATER_PER_SLOT = 5
# Accounts handed to the workers but not finished: bounds memory, keeps the workers fed.
MAX_QUEUED = 2000
# Zuora write-back calls at once (Zuora's default tenant limit is 40; leave room for others).
ZUORA_WRITES_AT_ONCE = 20
# Write-backs per Zuora call (the Actions API's update takes up to 50 objects): half of a
# run's calls were write-backs, one per account, and each costs our CPU as much as a write.
WRITEBACK_BATCH = 50
SETTLE_ROUNDS = 2
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
    z_fields.SYNC_TO_NETSUITE,
    z_fields.SUBSIDIARY,
    z_fields.CUSTOMER_TYPE,
)
_ROW_KEYS = tuple(name.lower() for name in ROW_FIELDS)
# What changes on a contact without an edit of its content.
CONTACT_STAMPS = frozenset({"updatedDate", "updatedById"})
# Our write-backs read back per settle slice (one ZOQL call each).
WRITES_PER_SETTLE_SLICE = 2000
# An initial sync reads the NetSuite customers that may carry a Zuora id while it waits for
# Zuora's first page, if one SuiteQL page holds them all: the first batch's existence check
# then needs no call of its own, and the first writes go a round trip sooner.
CANDIDATES_PER_PAGE = 1000
# A Zuora account id is 32 hexadecimal characters: external ids of any other length (a CRM's,
# say) are not candidates. Should one be missed, the create is still an upsert by external id,
# so it updates that customer rather than making a second one.
ZUORA_ID_LENGTH = 32


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


def fingerprint(account: dict[str, Any]) -> bytes:
    """A digest of what an account holds, ignoring what our own write-back changes."""
    return content_digest(account, WRITEBACK_FIELDS)


def row_digest(account: dict[str, Any]) -> bytes:
    """The digest of an account's own fields (ROW_FIELDS), from either API's shape: Object
    Query's camelCase or ZOQL's PascalCase."""
    lowered = {key.lower(): value for key, value in account.items()}
    return content_digest({key: lowered.get(key) for key in _ROW_KEYS}, frozenset())


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _rows_query(start: datetime, end: datetime | None) -> str:
    """ZOQL for the rows (ROW_FIELDS) of the accounts stamped in [start, end)."""
    where = f"UpdatedDate >= {format_zoql_datetime(start)}"
    if end is not None:
        where += f" and UpdatedDate < {format_zoql_datetime(end)}"
    return f"select {', '.join(ROW_FIELDS)}, UpdatedDate from Account where {where}"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _describe(account: dict[str, Any]) -> str:
    return f"{account.get('accountNumber') or account.get('id')} ({account.get('name', '')})"


_EXISTING_COLUMNS = (
    f"SELECT id, entityid, externalid, {ns_fields.ZUORA_ID}, companyname, firstname, lastname"
    " FROM customer"
)


def _keep_match(
    found: dict[str, dict[str, str]],
    row: dict[str, str],
    wanted: set[str],
    by_integration_id: dict[str, str],
) -> None:
    """File a customer row under the wanted Zuora account it carries (external id first, then
    the Zuora ID field) or that names it in IntegrationId__NS; the first row per account wins."""
    zuora_id = next(
        (c for c in (row.get("externalid"), row.get(ns_fields.ZUORA_ID)) if c in wanted),
        by_integration_id.get(row["id"]),
    )
    # A customer that points back at the account beats one the account merely names.
    if zuora_id and (zuora_id not in found or not _points_back(found[zuora_id], zuora_id)):
        found[zuora_id] = row


def _points_back(row: dict[str, str], zuora_id: str) -> bool:
    """Whether a NetSuite customer row carries this Zuora account id (as its external id, which
    our creates set, or in its Zuora ID field): only then may the sync link it unasked."""
    return zuora_id in (row.get("externalid"), row.get(ns_fields.ZUORA_ID))


def _stray(account: dict[str, Any], row: dict[str, str]) -> StrayReference:
    person = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p)
    return StrayReference(
        direction=Direction.ZUORA_TO_NETSUITE,
        zuora_account_id=account["id"],
        zuora_account_number=account.get("accountNumber") or "",
        zuora_name=account.get("name") or "",
        netsuite_internal_id=str(row["id"]),
        netsuite_entity_id=row.get("entityid") or "",
        netsuite_name=row.get("companyname") or person,
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


REFERENCE_QUERY = (
    "SELECT 'currency' AS kind, id, symbol AS name, isbasecurrency AS base FROM currency"
    " UNION ALL SELECT 'term' AS kind, id, name, 'F' AS base FROM term"
    " UNION ALL SELECT 'subsidiary' AS kind, id, fullname AS name, 'F' AS base FROM subsidiary"
    " ORDER BY kind, id"
)


def netsuite_lookups_one_query(netsuite: NetSuiteClient) -> NetSuiteLookups:
    """The same lookups as netsuite_lookups() in one SuiteQL call instead of three."""
    rows: dict[str, list[dict[str, str]]] = {"currency": [], "term": [], "subsidiary": []}
    for row in netsuite.suiteql(REFERENCE_QUERY):
        rows.setdefault(row.get("kind", ""), []).append(row)
    currencies = rows["currency"]
    base = next(
        (c["id"] for c in currencies if c.get("base") == "T"),
        currencies[0]["id"] if currencies else None,
    )
    return NetSuiteLookups(
        currencies={c["name"].upper(): c["id"] for c in currencies if c.get("name")},
        terms={t["name"]: t["id"] for t in rows["term"] if t.get("name")},
        subsidiaries={s["name"]: s["id"] for s in rows["subsidiary"] if s.get("name")},
        default_currency_id=base,
    )


class ZuoraToNetSuiteSync(SyncEngine):
    direction = Direction.ZUORA_TO_NETSUITE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lookups: NetSuiteLookups | None = None
        self._lookups_lock = threading.Lock()
        self._run_started = now()
        self._pool: ThreadPoolExecutor | None = None
        # Write-backs to Zuora, not queued behind the accounts waiting for a NetSuite slot:
        # an account's result and link are stored once its write-back answers, so they are
        # stored while the run goes on (a killed run keeps them), not all near its end.
        self._writeback_pool: ThreadPoolExecutor | None = None
        # The streaming pipeline's state: ids and short texts only, never whole accounts
        # (except children waiting for a parent later in the stream, and what is in flight).
        self._futures: dict[Future[Any], SelectedAccount | None] = {}  # None: a write-back
        # Outcomes whose write-back to Zuora waits for a full batch.
        self._writebacks: list[AccountOutcome] = []
        # Finished futures, and (zuora id, netsuite id) of parents created in NetSuite whose
        # write-back to Zuora is still running.
        self._done: queue.SimpleQueue[Future[Any] | tuple[str, str]] = queue.SimpleQueue()
        self._in_flight: set[str] = set()
        self._destinations: dict[str, str] = {}  # zuora id -> netsuite id, usable as parent
        self._failed: dict[str, str] = {}  # zuora id -> description, failed in this run
        self._not_syncable: dict[str, str] = {}  # zuora id -> message for its children
        self._ignored: set[str] = set()
        self._waiting: dict[str, list[SelectedAccount]] = {}  # parent id -> children
        self._waiting_ids: dict[str, str] = {}  # child id -> parent id
        self._zuora_slots = threading.Semaphore(ZUORA_WRITES_AT_ONCE)
        self._row_digests: dict[str, bytes] = {}
        self._candidates: Future[list[dict[str, str]] | None] | None = None
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
                and self._rows_at_watermark[account["id"]] == row_digest(account).hex()
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
        for row in self.zuora.iter_zoql(_rows_query(start, end)):
            at = parse_zuora_datetime(row["UpdatedDate"])
            digest = row_digest(row).hex()
            if self._rows_at_watermark.get(row["Id"]) != digest:
                edits[row["Id"]] = max(at, edits.get(row["Id"], at))
            else:
                self._note_synced_row(row["Id"], at, digest)
        return edits

    def select(self) -> dict[str, SelectedAccount]:
        """The whole selection by id (for callers that want it at once; run() streams)."""
        return {item.id: item for item in self.iter_selected()}

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

    def find_existing_customers(
        self, accounts: list[dict[str, Any]], *, candidates: list[dict[str, str]] | None = None
    ) -> dict[str, dict[str, str]]:
        """NetSuite customers that already carry one of these Zuora accounts' ids (as external
        id or in the Zuora ID field), or that the account's IntegrationId__NS names: a create
        that died before its link was stored, or records linked by the incumbent. With
        `candidates` (every customer that may carry a Zuora id, just read), without a call."""
        found: dict[str, dict[str, str]] = {}
        by_integration_id = {
            str(a[z_fields.INTEGRATION_ID]): a["id"]
            for a in accounts
            if a.get(z_fields.INTEGRATION_ID)
        }
        if candidates is not None and not by_integration_id:
            wanted = {a["id"] for a in accounts}
            for row in candidates:
                _keep_match(found, row, wanted, by_integration_id)
            return found
        ids = [a["id"] for a in accounts]
        for chunk in _chunks(ids, LOOKUP_CHUNK):
            wanted = set(chunk)
            quoted = ", ".join(_quote(i) for i in chunk)
            integration = [n for n, zid in by_integration_id.items() if zid in wanted]
            where = f"externalid IN ({quoted}) OR {ns_fields.ZUORA_ID} IN ({quoted})"
            if integration:
                where += f" OR id IN ({', '.join(_quote(n) for n in integration)})"
            for row in self.netsuite.suiteql(f"{_EXISTING_COLUMNS} WHERE {where} ORDER BY id"):
                _keep_match(found, row, wanted, by_integration_id)
        return found

    def _read_candidates(self) -> list[dict[str, str]] | None:
        """Every NetSuite customer that may carry a Zuora account's id, if one page holds
        them all (None otherwise, or if the read failed: each batch then asks for its own)."""
        where = f"LENGTH(externalid) = {ZUORA_ID_LENGTH} OR {ns_fields.ZUORA_ID} IS NOT NULL"
        try:
            rows, more = self.netsuite.suiteql_first_page(
                f"{_EXISTING_COLUMNS} WHERE {where} ORDER BY id", page_size=CANDIDATES_PER_PAGE
            )
        except ApiError as exc:
            logger.info("Reading the candidates for the first existence check failed: %s", exc)
            return None
        return None if more else rows

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
                self._lookups = netsuite_lookups_one_query(self.netsuite)
            return self._lookups

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        self._run_started = now()
        self._ignored = ignored_source_ids(direction=Direction.ZUORA_TO_NETSUITE)
        workers = max(1, self.preferences.netsuite_concurrency)
        # NetSuite calls are bounded by the limiter, not by the pool; the Zuora write-backs
        # have threads of their own, so a NetSuite slot never waits for Zuora.
        self._pool = ThreadPoolExecutor(max_workers=workers * 3 + 2, thread_name_prefix="sync")
        self._writeback_pool = ThreadPoolExecutor(
            max_workers=ZUORA_WRITES_AT_ONCE, thread_name_prefix="writeback"
        )
        if self.watermark is None and self.account_ids is None:
            # An initial sync: what its first writes need from NetSuite (existing customers,
            # the lookups) is read while Zuora's token and first page are on the wire.
            self._candidates = self._pool.submit(self._read_candidates)
            self._pool.submit(self.lookups)
        try:
            batch: list[SelectedAccount] = []
            size = FIRST_BATCH
            for item in self.iter_selected():
                if self.stopping():
                    break
                batch.append(item)
                if len(batch) >= size or (
                    len(batch) % FIRST_BATCH == 0 and self._running_low(workers)
                ):
                    self._admit_batch(batch)
                    batch, size = [], LOOKUP_CHUNK
            if batch:
                self._admit_batch(batch)
            self._finish_stream(settle_early=not self.dry_run and self.account_ids is None)
            try:
                self.settle()
            finally:
                # Even if the read back failed: the last write-backs' links are recorded.
                self._finish_stream()
        except RunStopped:
            self._finish_stream()  # a read met the stop: record what was sent
        except BaseException:
            self._pool.shutdown(wait=True)  # nothing of this run may still be on the wire
            self._writeback_pool.shutdown(wait=True)
            raise
        # Every call has answered: the idle threads exit on their own, unjoined.
        self._pool.shutdown(wait=False)
        self._writeback_pool.shutdown(wait=False)
        return self._conclude(throttles=self.limiter.throttles)

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

    def _admit_batch(self, batch: list[SelectedAccount]) -> None:
        """Skip, look up links and existing customers for a batch (one query each), then send
        every account whose parent is ready; children of parents not synced yet wait."""
        self.summary.selected += len(batch)
        self.recorder.set_total(self.summary.selected)
        self._collect(block=False)
        links = self.load_links([item.id for item in batch])
        eligible: list[SelectedAccount] = []
        for item in batch:
            self._fingerprints[item.id] = fingerprint(item.account)
            self._row_digests[item.id] = row_digest(item.account)
            self._note_synced_row(item.id, item.selected_at, self._row_digests[item.id].hex())
            reason = IGNORED_REASON if item.id in self._ignored else self.skip_reason(item.account)
            if reason is None:
                eligible.append(item)
                continue
            self._record(self._outcome(item, Outcome.SKIPPED, reason=reason))
            link = links.get(item.id)
            if link is not None:
                # A skipped parent that is already in NetSuite still carries its children.
                self._destinations[item.id] = link.netsuite_internal_id
                self._release_children(item.id, link.netsuite_internal_id)
            else:
                message = f"Parent account {_describe(item.account)} is not in NetSuite: {reason}."
                self._not_syncable[item.id] = message
                self._cascade(item.id)
        if eligible and self._lookups is None:
            # Read NetSuite's reference lists while the existence checks run: both stand
            # between the first read and the first write. A failure here is raised again by
            # the lookups() call that needs them.
            self._pool.submit(self.lookups)
        unlinked = [item.account for item in eligible if item.id not in links]
        candidates = self._take_candidates()
        existing = self.find_existing_customers(unlinked, candidates=candidates) if unlinked else {}
        # A customer that IntegrationId__NS names but that does not point back is not ours to
        # overwrite: it waits for a person (or, once that pair is rejected, is ignored).
        by_id = {a["id"]: a for a in unlinked}
        strays = {zid: row for zid, row in existing.items() if not _points_back(row, zid)}
        stray_review = stray_references_review(
            (_stray(by_id[zid], row) for zid, row in strays.items()), suggest=not self.dry_run
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
        if review:
            for item in [i for i in eligible if i.id in review]:
                eligible.remove(item)
                self._record(self._outcome(item, Outcome.NEEDS_REVIEW, reason=review[item.id]))
                self._not_syncable[item.id] = (
                    f"Parent account {_describe(item.account)} is not in NetSuite: it waits "
                    "for a match to be reviewed."
                )
                self._cascade(item.id)
        unknown = {
            parent
            for item in eligible
            if (parent := self._parent_id(item.account))
            and parent not in self._destinations
            and parent not in self._in_flight
            and parent not in self._waiting_ids
        }
        for zid, link in self.load_links(sorted(unknown)).items():
            self._destinations[zid] = link.netsuite_internal_id
        # Parents first: their children then join the queue while the rest of the batch is
        # still in it, instead of making a chain of single writes after the last batch.
        parents = {p for item in eligible if (p := self._parent_id(item.account))}
        parents.update(self._waiting)
        eligible.sort(key=lambda item: item.id not in parents)
        for item in eligible:
            item.link, item.existing = links.get(item.id), existing.get(item.id)
            item.is_parent = item.id in parents
            self._place(item)
        while len(self._futures) > MAX_QUEUED:
            self._collect(block=True)

    def _place(self, item: SelectedAccount) -> None:
        parent = self._parent_id(item.account)
        if not parent:
            self._submit(item, None)
        elif parent == item.id:
            self._orphan(
                item,
                f"The account hierarchy has a cycle: {_describe(item.account)} → "
                f"{_describe(item.account)}. Fix the parent in Zuora.",
            )
        elif parent in self._failed:
            self._fail_child(item, parent)
        elif parent in self._not_syncable:
            self._orphan(item, self._not_syncable[parent])
        elif parent in self._destinations:
            self._submit(item, self._destinations[parent])
        elif parent in self._in_flight or parent in self._waiting_ids:
            self._wait(item, parent)
        else:
            self._wait(item, parent)  # the parent may still come later in the stream

    def _wait(self, item: SelectedAccount, parent: str) -> None:
        self._waiting.setdefault(parent, []).append(item)
        self._waiting_ids[item.id] = parent

    def _submit(self, item: SelectedAccount, parent_destination: str | None) -> None:
        if self.stopping():
            return  # not sent: the next run sends it
        lookups = self.lookups()
        sync = self.sync_account
        if item.is_parent or item.id in self._waiting:
            sync = self._sync_parent
        future = self._pool.submit(
            sync, item, item.link, item.existing, parent_destination, lookups
        )
        self._futures[future] = item
        self._in_flight.add(item.id)
        future.add_done_callback(self._done.put)

    def _collect(self, *, block: bool) -> None:
        """Record finished accounts (in this thread: the recorder is not thread-safe) and
        send the children that waited for them."""
        if not self._futures:
            return
        # A queue fed by done-callbacks: concurrent.futures.wait() would walk every pending
        # future on each call, which at thousands in flight costs more CPU than the sync.
        done: list[Future[Any] | tuple[str, str]] = []
        try:
            done.append(self._done.get(block=block))
            while True:
                done.append(self._done.get_nowait())
        except queue.Empty:
            pass
        for future in done:
            if isinstance(future, tuple):
                zuora_id, internal_id = future
                self._destinations[zuora_id] = internal_id
                self._release_children(zuora_id, internal_id)
                continue
            item = self._futures.pop(future)
            if item is None:
                for written in future.result():
                    self._record(written)
                continue
            self._in_flight.discard(item.id)
            try:
                outcome = future.result()
            except RunStopped:
                continue  # not sent: the next run sends it
            if outcome.writeback:
                self._writebacks.append(outcome)
                if len(self._writebacks) >= WRITEBACK_BATCH:
                    self._flush_writebacks()
            else:
                self._record(outcome)
            if outcome.outcome == Outcome.FAILED:
                self._failed[item.id] = _describe(item.account)
                self._cascade(item.id)
            else:
                if outcome.destination_id:
                    self._destinations[item.id] = outcome.destination_id
                self._release_children(item.id, outcome.destination_id or None)

    def _flush_writebacks(self) -> None:
        batch, self._writebacks = self._writebacks, []
        if batch:
            assert self._writeback_pool is not None
            future = self._writeback_pool.submit(self._write_back_batch, batch)
            self._futures[future] = None
            future.add_done_callback(self._done.put)

    def _release_children(self, parent: str, destination: str | None) -> None:
        for child in self._waiting.pop(parent, []):
            self._waiting_ids.pop(child.id, None)
            self._submit(child, destination)

    def _fail_child(self, item: SelectedAccount, parent: str) -> None:
        self._record(
            self._failure(
                item,
                "PARENT_FAILED",
                f"Parent account {self._failed[parent]} did not sync in this run, so this "
                "account cannot be attached to it. Fix the parent's error first.",
            )
        )
        self._failed[item.id] = _describe(item.account)
        self._cascade(item.id)

    def _orphan(self, item: SelectedAccount, message: str) -> None:
        self._record(self._failure(item, "PARENT_NOT_SYNCED", message))
        self._not_syncable[item.id] = (
            f"Parent account {_describe(item.account)} cannot sync, so this account cannot either."
        )
        self._cascade(item.id)

    def _cascade(self, parent: str) -> None:
        """Children waiting for a parent that will not reach NetSuite fail, and theirs too."""
        for child in self._waiting.pop(parent, []):
            self._waiting_ids.pop(child.id, None)
            if parent in self._failed:
                self._fail_child(child, parent)
            else:
                self._orphan(child, self._not_syncable[parent])

    def _finish_stream(self, *, settle_early: bool = False) -> None:
        """After the last account: wait for every write, then fail the children whose parent
        never came (not linked, not changed) or that sit in a hierarchy cycle.

        With settle_early, return as soon as only write-backs to Zuora are on the wire and an
        earlier one has answered: settle() reads back while they finish, instead of a round
        trip after them."""
        while self._futures or self._waiting or self._writebacks:
            if not self._in_flight:
                # Only write-backs are left: settle() writes the results while it reads back.
                self.recorder.hold = not self.dry_run and self.account_ids is None
                if self._writebacks:
                    self._flush_writebacks()  # nothing more will join this batch
                if settle_early and not self._waiting and self._own_writes.pending():
                    return
            if self._futures:
                self._collect(block=True)
                continue
            if self.stopping():
                # Their parents were never sent: the next run reads them all again.
                self._waiting.clear()
                self._waiting_ids.clear()
                continue
            absent = next((p for p in self._waiting if p not in self._waiting_ids), None)
            if absent is None:
                self._break_cycle()
                continue
            for child in self._waiting.pop(absent):
                self._waiting_ids.pop(child.id, None)
                self._orphan(
                    child,
                    f"Parent account {absent} is not in NetSuite yet (not linked and not "
                    "changed in this run). Sync or link the parent first.",
                )

    def _break_cycle(self) -> None:
        start = next(iter(self._waiting_ids))
        trail: list[str] = []
        cursor = start
        while cursor not in trail:
            trail.append(cursor)
            cursor = self._waiting_ids[cursor]
        members = trail[trail.index(cursor) :]
        items = {c.id: c for p in members for c in self._waiting.get(p, [])}
        names = [_describe(items[m].account) for m in members if m in items]
        cycle = " → ".join([*names, names[0]]) if names else " → ".join(members)
        for member in members:
            parent = self._waiting_ids.pop(member)
            children = self._waiting.get(parent, [])
            item = next(c for c in children if c.id == member)
            children.remove(item)
            if not children:
                self._waiting.pop(parent, None)
            self._record(
                self._failure(
                    item,
                    "PARENT_NOT_SYNCED",
                    f"The account hierarchy has a cycle: {cycle}. Fix the parent in Zuora.",
                )
            )
            self._not_syncable[member] = (
                f"Parent account {_describe(item.account)} cannot sync, so this account cannot "
                "either."
            )
        for member in members:
            self._cascade(member)

    # -- after the writes: our own write-backs ----------------------------------------------------
    def settle(self) -> None:
        """Re-read what changed in Zuora since this run started, so the watermark can move past
        the run's own write-backs (each one bumps the account's updatedDate).

        A row whose content (minus updatedDate and the cross-reference fields) is what this run
        synced is ours; any other row is someone's edit made during the run, and it is synced
        now. Afterwards the watermark is the newest of our own write-back stamps, and the next
        run reads from there without the overlap window, except for the settle margin: a
        write by someone else stamped just before our last write-back may commit after this
        read. The digests of the margin's rows go with the watermark, so the next run tells
        our write-backs there from such writes with one ZOQL call (see _edits_in_margin).
        """
        if self.dry_run or self.account_ids is not None or self.stopping():
            return
        for round_ in range(SETTLE_ROUNDS):
            written = self._own_writes.take()
            if written is None:
                if round_ == 0:
                    self._settle_without_write_backs()
                break
            since = max(self.since(), self._run_started - OVERLAP)
            changed = self._settle_read(since, written)
            self._fault("after_read_back", {"changed": [item.id for item in changed]})
            if self._futures:
                # The run's last write-backs were on the wire during the read (see run()).
                self._finish_stream()
                if not changed:
                    # Their rows' digests: the next run tells them from edits as it does
                    # the margin's (see iter_selected).
                    self._settle_late_write_backs(self._row_digests)
                    break
                # The accounts found look up their links: this run's must be stored first.
                self.recorder.flush()
            if changed:
                self._admit_batch(changed)
                self._finish_stream()
        if self._own_writes.pending():  # someone kept creating accounts: keep the overlap
            self._settled_at = None

    def _settle_read(self, since: datetime, written: WrittenBack) -> list[SelectedAccount]:
        """Accounts changed since `since` that are not what this run synced: their rows read
        back through ZOQL in time slices at once, the contacts changed since at the same time;
        then the whole accounts (contacts embedded) of those that differ."""
        slices = written.slices(since, per_slice=WRITES_PER_SETTLE_SLICE)
        # The settling run's own write-backs in the margin before the watermark, as the
        # selection knows them (see iter_selected): not edits, unless their row changed.
        settled_before = self._rows_at_watermark if self.watermark_settled() else {}
        changed_at: dict[str, datetime] = {}
        newest_own: list[datetime] = []
        lock = threading.Lock()

        def read(start: datetime, end: datetime | None) -> None:
            own: datetime | None = None
            synced: list[tuple[str, datetime, bytes]] = []
            prune_at = 4096
            for row in self.zuora.iter_zoql(_rows_query(start, end)):
                at = parse_zuora_datetime(row["UpdatedDate"])
                digest = row_digest(row)
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
                    and settled_before.get(row["Id"]) == digest.hex()
                    and self.watermark is not None
                    and at <= self.watermark
                ):
                    # Still known by its row if it falls in this run's margin too.
                    synced.append((row["Id"], at, digest))
                    continue
                with lock:
                    changed_at[row["Id"]] = max(at, changed_at.get(row["Id"], at))
            with lock:
                if own is not None:
                    newest_own.append(own)
                    # Kept for the next run only if they fall in the margin before the
                    # watermark (see SyncEngine._conclude).
                    for row_id, at, digest in synced:
                        if at >= own - SETTLE_MARGIN:
                            self._settled_rows[row_id] = (at, digest.hex())

        def contact_accounts() -> set[str]:
            return {
                c["accountId"]
                for c in self.zuora.iter_contacts_changed_since(since)
                if c.get("accountId")
            }

        with ThreadPoolExecutor(max_workers=len(slices) + 1, thread_name_prefix="settle") as pool:
            contacts = pool.submit(contact_accounts)
            reads = pool.map(read, *zip(*slices, strict=True))
            # While the reads are on the wire: the links of this run must be visible to the
            # lookups of the accounts they find.
            self.recorder.flush()
            list(reads)
            # Contact edits during the run do not show on the account: compare those whole.
            edited_contacts = contacts.result() - set(changed_at)
        changed: dict[str, SelectedAccount] = {}
        for account in self.zuora.iter_accounts_by_ids(sorted(changed_at)):
            at = changed_at[account["id"]]
            changed[account["id"]] = SelectedAccount(account, at)
        for account in self.zuora.iter_accounts_by_ids(sorted(edited_contacts)):
            if self._fingerprints.get(account["id"]) != fingerprint(account):
                at = parse_zuora_datetime(account["updatedDate"])
                changed[account["id"]] = SelectedAccount(account, at)
        if newest_own:
            stamp = max(newest_own)
            self._settled_at = max(stamp, self._settled_at) if self._settled_at else stamp
        return list(changed.values())

    # -- one account ------------------------------------------------------------------------------
    def _sync_parent(self, *args: Any) -> AccountOutcome:
        """sync_account() ahead of the writes no account waits for: the run's last calls are
        then its leaves, side by side, not a child a round trip after each parent."""
        with self.limiter.urgent():
            return self.sync_account(*args)

    def sync_account(
        self,
        item: SelectedAccount,
        link: RecordLink | None,
        existing: dict[str, str] | None,
        parent_destination_id: str | None,
        lookups: NetSuiteLookups,
    ) -> AccountOutcome:
        self._stop_here()
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
        self._done.put((account["id"], internal_id))
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
        """One Zuora call for up to WRITEBACK_BATCH write-backs. A failed cross-reference keeps
        the NetSuite work and is retried on the next run (writeback_pending), never
        re-creating anything; a failed error status is only logged."""
        self._fault("before_zuora_write_back", {"ids": [o.source_id for o in batch]})
        started = now()
        try:
            with self._zuora_slots:
                errors: list[ApiError | None] = list(
                    self.zuora.update_accounts([(o.source_id, o.writeback or {}) for o in batch])
                )
        except ApiError as exc:
            # Even when the run is being stopped (RunAborted): the NetSuite work is done, and
            # its links are kept with the write-back pending; the next call stops the run.
            errors = [exc] * len(batch)
        finally:
            self._own_writes.add((o.source_id for o in batch), started)
        for outcome, error in zip(batch, errors, strict=True):
            outcome.writeback = None
            link = outcome.link
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

    def _source(self, item: SelectedAccount) -> dict[str, Any]:
        return item.account
