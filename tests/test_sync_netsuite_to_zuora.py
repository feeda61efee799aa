"""The NetSuite → Zuora sync (NetSuite is master) through the engine, against both sandboxes
over real HTTP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
import requests
from django.utils import timezone

from connectors.http import CircuitBreaker
from connectors.netsuite import fields as ns_fields
from connectors.zuora import fields as z_fields
from syncadmin.models import AccountResult, RecordLink, SyncCursor, SyncLease, SyncRun
from syncadmin.services.preferences import preferences_update
from tests.conftest import FAST_CLIENTS
from tests.factories import (
    IgnoredAccountFactory,
    MatchSuggestionFactory,
    SyncCursorFactory,
    SyncPreferencesFactory,
)

CUSTOMERS = 20
ZUORA_WRITES = ("v1.account.create", "v1.account.update", "v1.contact.update")
NETSUITE_WRITES = ("record.customer.update", "record.customer.upsert", "record.customer.create")


@pytest.fixture
def seeded(systems: Any) -> Any:
    """Both sandboxes running; NetSuite holds CUSTOMERS customers (most with Send to Zuora)."""
    systems.netsuite.seed(customers=CUSTOMERS, seed=7)
    return systems


@pytest.fixture
def ns_master(seeded: Any) -> Any:
    """The seeded sandboxes with NetSuite as master."""
    SyncPreferencesFactory(netsuite_master=True)
    return seeded


# -- helpers --------------------------------------------------------------------------------------
def zuora_writes(systems: Any) -> int:
    return sum(systems.zuora.calls_to(e) for e in ZUORA_WRITES)


def netsuite_writes(systems: Any) -> int:
    return sum(systems.netsuite.calls_to(e) for e in NETSUITE_WRITES)


def patient_clients() -> dict[str, Any]:
    """Client options with a breaker that never opens: the run goes on through an outage,
    customer by customer."""
    return {**FAST_CLIENTS, "breaker": CircuitBreaker(failures_to_open=10**6)}


def reset_calls(systems: Any) -> None:
    systems.zuora.reset_calls()
    systems.netsuite.reset_calls()


def syncable(systems: Any) -> list[str]:
    """Ids of customers that should reach Zuora: syncable, and so is every ancestor."""
    rows = {
        str(r["id"]): r
        for r in systems.netsuite.sql(
            f"SELECT id, parent, isinactive, stage, {ns_fields.SEND_TO_ZUORA} AS send FROM customer"
        )
    }

    def ok(row: dict[str, Any], depth: int = 0) -> bool:
        if depth > 50 or row["isinactive"] == "T" or row["stage"] != "CUSTOMER":
            return False
        if row["send"] != "T":
            return False
        parent = row["parent"]
        return parent is None or (str(parent) in rows and ok(rows[str(parent)], depth + 1))

    return [i for i, row in rows.items() if ok(row)]


def assert_the_rerun_reads_almost_nothing(systems: Any, run_sync: Any) -> None:
    """After a settled run: the changed-customer query (its address lines ride along) and the
    address-change query; no lookup, no Zuora call, no write, nothing reported."""
    assert SyncCursor.objects.get(direction="netsuite_to_zuora").settled_through is not None
    for _ in range(2):  # and so does the run after it
        reset_calls(systems)

        report = run_sync()

        assert report.api_calls.get("zuora", {}) == {}
        assert sum(report.api_calls["netsuite"].values()) <= 3, report.api_calls
        assert netsuite_writes(systems) == zuora_writes(systems) == 0
        assert report.counts == {}, report.counts


def roots(systems: Any) -> list[str]:
    """Syncable customers without a parent (nothing else depends on them being created)."""
    ids = set(syncable(systems))
    parents = {
        str(r["parent"])
        for r in systems.netsuite.sql("SELECT parent FROM customer WHERE parent IS NOT NULL")
    }
    rows = systems.netsuite.sql("SELECT id FROM customer WHERE parent IS NULL ORDER BY id")
    return [str(r["id"]) for r in rows if str(r["id"]) in ids and str(r["id"]) not in parents]


def account_for(systems: Any, customer_id: str) -> dict[str, Any]:
    link = RecordLink.objects.get(netsuite_internal_id=customer_id)
    return systems.zuora.accounts[link.zuora_account_id]


def contact(systems: Any, account: dict[str, Any], role: str) -> dict[str, Any]:
    return systems.zuora.contacts[account["billToId" if role == "bill" else "soldToId"]]


def accounts_for_customer(systems: Any, customer_id: str) -> list[dict[str, Any]]:
    return [
        a for a in systems.zuora.accounts.values() if a.get(z_fields.INTEGRATION_ID) == customer_id
    ]


def set_customer(systems: Any, customer_id: str, **columns: Any) -> None:
    """Edit a customer in NetSuite (and move its last-modified date, as NetSuite would)."""
    sets = ", ".join(f"{c} = ?" for c in columns)
    systems.netsuite.sql(
        f"UPDATE customer SET {sets}, lastmodifieddate = strftime('%Y-%m-%d %H:%M:%f000', 'now')"
        " WHERE id = ?",
        (*columns.values(), int(customer_id)),
    )


def billing_address(systems: Any, customer_id: str, **columns: Any) -> None:
    sets = ", ".join(f"{c} = ?" for c in columns)
    systems.netsuite.sql(
        f"UPDATE customeraddressbookentityaddress SET {sets} WHERE nkey = ("
        "SELECT addressbookaddress FROM customeraddressbook"
        " WHERE entity = ? AND defaultbilling = 'T')",
        (*columns.values(), int(customer_id)),
    )


def address_lines(systems: Any, customer_id: str) -> int:
    return systems.netsuite.sql(
        "SELECT COUNT(*) AS n FROM customeraddressbook WHERE entity = ?", (int(customer_id),)
    )[0]["n"]


def result(customer_id: str) -> AccountResult:
    return AccountResult.objects.filter(source_id=customer_id).latest("id")


class Crash(BaseException):
    """Stands in for the process dying: not an Exception, so nothing catches it on the way."""


def release_dead_lease() -> None:
    # A crashed process's lease would expire on its own; tests do not wait for that.
    SyncLease.objects.update(holder="", expires_at=None)


# -- selection ------------------------------------------------------------------------------------
def test_first_run_creates_one_zuora_account_per_syncable_customer(ns_master, run_sync):
    zuora_before = len(ns_master.zuora.accounts)

    report = run_sync()

    expected = syncable(ns_master)
    assert report.counts["created"] == len(expected), AccountResult.objects.filter(
        outcome="failed"
    ).values_list("error_message", flat=True)
    assert len(ns_master.zuora.accounts) == zuora_before + len(expected)
    assert set(RecordLink.objects.values_list("netsuite_internal_id", flat=True)) == set(expected)
    run = SyncRun.objects.get()
    assert run.direction == "netsuite_to_zuora"
    assert run.watermark_after is not None


def test_each_account_is_created_in_one_call_with_both_contacts_even_when_identical(
    ns_master, run_sync
):
    single_line = next(i for i in roots(ns_master) if address_lines(ns_master, i) == 1)

    run_sync()

    created = len(syncable(ns_master))
    assert ns_master.zuora.calls_to("v1.account.create") == created
    assert ns_master.zuora.calls_to("v1.account.update") == 0
    assert ns_master.zuora.calls_to("v1.contact.update") == 0
    assert all(account_for(ns_master, i)["status"] == "Active" for i in syncable(ns_master))
    account = account_for(ns_master, single_line)
    assert account["billToId"] != account["soldToId"]
    bill, sold = contact(ns_master, account, "bill"), contact(ns_master, account, "sold")
    assert {k: bill[k] for k in ("firstName", "lastName", "address1", "city", "country")} == {
        k: sold[k] for k in ("firstName", "lastName", "address1", "city", "country")
    }
    keys = [
        r["idempotency_key"]
        for r in ns_master.zuora.requests_seen
        if r["method"] == "POST" and r["path"] == "/v1/accounts"
    ]
    assert f"syncadmin-netsuite-customer-{single_line}" in keys


def test_only_active_customers_with_send_to_zuora_are_selected(ns_master, run_sync):
    inactive, unticked, lead = roots(ns_master)[:3]
    set_customer(ns_master, inactive, isinactive="T")
    set_customer(ns_master, unticked, **{ns_fields.SEND_TO_ZUORA: "F"})
    set_customer(ns_master, lead, stage="LEAD")

    run_sync()

    linked = set(RecordLink.objects.values_list("netsuite_internal_id", flat=True))
    assert linked.isdisjoint({inactive, unticked, lead})
    assert not accounts_for_customer(ns_master, inactive)
    assert len(linked) == len(syncable(ns_master))


def test_a_synced_customer_made_inactive_is_skipped_with_a_reason_and_its_account_kept(
    ns_master, run_sync
):
    run_sync()
    customer_id = roots(ns_master)[0]
    account = account_for(ns_master, customer_id)
    set_customer(ns_master, customer_id, isinactive="T", companyname="Renamed while inactive")

    run_sync()

    outcome = result(customer_id)
    assert outcome.outcome == "skipped"
    assert "Inactive" in outcome.reason
    assert ns_master.zuora.accounts[account["id"]]["status"] == "Active"
    assert ns_master.zuora.accounts[account["id"]]["name"] != "Renamed while inactive"


def test_reads_are_a_few_bulk_calls_never_one_per_customer(ns_master, run_sync):
    report = run_sync()

    assert report.counts["created"] == len(syncable(ns_master))
    assert ns_master.netsuite.calls_to("record.customer.get") == 0
    assert ns_master.zuora.calls_to("query.account") == 0
    assert ns_master.zuora.calls_to("v1.account.get") == 0
    # NetSuite: the selection (customers' rows), the reference lists in one query, the whole
    # records per chunk of 500 (customers, address lines), and the settle pass (customers' rows,
    # address changes, the whole records of customers whose address lines changed). Zuora:
    # currencies, payment terms, one existing-account lookup.
    assert ns_master.netsuite.calls_to("query.suiteql") <= 2 + 1 + 2 * 3 + 3
    assert ns_master.zuora.calls_to("query.accounts") <= 2


def test_netsuite_write_backs_never_exceed_its_concurrency_limit(ns_master, run_sync):
    ns_master.netsuite.config.update({"latency_ms": 20})

    run_sync()

    assert ns_master.netsuite.peak_in_flight <= 5
    assert ns_master.netsuite.statuses.get("record.customer.update 429", 0) == 0
    assert not RecordLink.objects.filter(writeback_pending=True).exists()


# -- field mapping --------------------------------------------------------------------------------
def test_created_account_carries_the_mapped_fields_and_the_netsuite_cross_reference(
    ns_master, run_sync
):
    customer_id = roots(ns_master)[0]
    set_customer(ns_master, customer_id, comments="Key account", terms=3)

    run_sync()

    customer = ns_master.netsuite.customer(customer_id)
    account = account_for(ns_master, customer_id)
    assert account["accountNumber"] == customer["entityId"]
    assert account["name"] == (
        customer.get("companyName") or f"{customer['firstName']} {customer['lastName']}"
    )
    assert account["notes"] == "Key account"
    assert account["paymentTerm"] == "Net 45"
    symbol = ns_master.netsuite.sql(
        "SELECT symbol FROM currency WHERE id = ?", (int(customer["currency"]["id"]),)
    )[0]["symbol"]
    assert account["currency"] == symbol
    assert account[z_fields.CUSTOMER_ID] == customer["entityId"]
    assert account[z_fields.INTEGRATION_ID] == customer_id
    assert account[z_fields.INTEGRATION_STATUS] == "Sync Complete"
    assert account["billCycleDay"] == 1
    assert account["batch"] == "Batch1"


def test_the_zuora_account_id_is_written_back_to_the_netsuite_customer(ns_master, run_sync):
    run_sync()

    for customer_id in syncable(ns_master):
        customer = ns_master.netsuite.customer(customer_id)
        account = account_for(ns_master, customer_id)
        assert customer[ns_fields.ZUORA_ID] == account["id"]
        assert customer[ns_fields.ZUORA_ACCOUNT_NUMBER] == account["accountNumber"]
    assert not RecordLink.objects.filter(writeback_pending=True).exists()


def test_one_word_addressee_is_used_as_first_and_last_name_with_a_warning(ns_master, run_sync):
    customer_id = roots(ns_master)[0]
    billing_address(ns_master, customer_id, addressee="Cher")

    run_sync()

    bill = contact(ns_master, account_for(ns_master, customer_id), "bill")
    assert (bill["firstName"], bill["lastName"]) == ("Cher", "Cher")
    assert any("no last name" in w for w in result(customer_id).warnings)


def test_addressee_is_split_into_first_and_last_name(ns_master, run_sync):
    customer_id = roots(ns_master)[0]
    billing_address(ns_master, customer_id, addressee="Ada King Lovelace")

    run_sync()

    bill = contact(ns_master, account_for(ns_master, customer_id), "bill")
    assert (bill["firstName"], bill["lastName"]) == ("Ada", "King Lovelace")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("source_number", "entity"), ("source_name", "name"), ("destination_auto", "auto")],
)
def test_account_number_follows_the_number_mapping_preference(ns_master, run_sync, mode, expected):
    preferences_update(values={"number_mapping": mode})
    customer_id = next(
        i for i in roots(ns_master) if ns_master.netsuite.customer(i).get("companyName")
    )

    run_sync()

    customer = ns_master.netsuite.customer(customer_id)
    number = account_for(ns_master, customer_id)["accountNumber"]
    if expected == "entity":
        assert number == customer["entityId"]
    elif expected == "name":
        assert number == customer["companyName"]
    else:
        assert number not in (customer["entityId"], customer["companyName"])
        assert number.startswith("A")


def test_customer_without_currency_gets_the_zuora_default_currency(ns_master, run_sync):
    preferences_update(values={"zuora_default_currency": "CHF"})
    customer_id = roots(ns_master)[0]
    set_customer(ns_master, customer_id, currency=None)

    run_sync()

    created = AccountResult.objects.filter(source_id=customer_id, outcome="created")
    assert [r.changes["currency"] for r in created] == [[None, "CHF"]]


def test_billing_settings_come_from_the_customer_or_the_preference_defaults(ns_master, run_sync):
    preferences_update(
        values={
            "default_bill_cycle_day": 5,
            "default_batch": "Batch3",
            "default_payment_term": "Net 15",
        }
    )
    own, defaulted = roots(ns_master)[:2]
    set_customer(
        ns_master,
        own,
        terms=None,
        **{
            ns_fields.ZUORA_BILL_CYCLE_DAY: "15",
            ns_fields.ZUORA_BATCH: "Batch7",
            ns_fields.ZUORA_PAYMENT_TERM: "Net 45",
        },
    )
    set_customer(ns_master, defaulted, terms=None)

    run_sync()

    account = account_for(ns_master, own)
    assert (account["billCycleDay"], account["batch"], account["paymentTerm"]) == (
        15,
        "Batch7",
        "Net 45",
    )
    account = account_for(ns_master, defaulted)
    assert (account["billCycleDay"], account["batch"], account["paymentTerm"]) == (
        5,
        "Batch3",
        "Net 15",
    )


@pytest.mark.parametrize(
    ("setup", "code", "words"),
    [
        ("addressee", "MISSING_ADDRESSEE", "addressee"),
        ("bill_cycle_day", "INVALID_BILL_CYCLE_DAY", "'40'"),
        ("batch", "INVALID_BATCH", "Batch99"),
        ("currency", "UNKNOWN_CURRENCY", "NZD"),
        ("terms", "UNKNOWN_PAYMENT_TERM", "Net 90"),
    ],
)
def test_an_invalid_customer_fails_alone_with_a_readable_message(
    ns_master, run_sync, setup, code, words
):
    bad = roots(ns_master)[0]
    if setup == "addressee":
        billing_address(ns_master, bad, addressee=None)
    elif setup == "bill_cycle_day":
        set_customer(ns_master, bad, **{ns_fields.ZUORA_BILL_CYCLE_DAY: "40"})
    elif setup == "batch":
        set_customer(ns_master, bad, **{ns_fields.ZUORA_BATCH: "Batch99"})
    elif setup == "currency":
        ns_master.netsuite.sql(
            "INSERT INTO currency VALUES (7, 'NZD', 'New Zealand Dollar', 'F', 0.6, 'F')"
        )
        set_customer(ns_master, bad, currency=7)
    else:
        ns_master.netsuite.sql("INSERT INTO term VALUES (6, 'Net 90', 90, 'F')")
        set_customer(ns_master, bad, terms=6)

    report = run_sync()

    failure = result(bad)
    assert failure.outcome == "failed"
    assert failure.error_code == code
    assert words in failure.error_message
    assert not accounts_for_customer(ns_master, bad)
    assert report.counts["created"] == len(syncable(ns_master)) - 1
    assert SyncRun.objects.get().status == SyncRun.Status.PARTLY_FAILED


# -- hierarchy ------------------------------------------------------------------------------------
def test_children_are_attached_to_their_parents_zuora_account(ns_master, run_sync):
    children = ns_master.netsuite.sql("SELECT id, parent FROM customer WHERE parent IS NOT NULL")
    ids = set(syncable(ns_master))
    children = [c for c in children if str(c["id"]) in ids]
    assert children, "the seed should hold hierarchies"

    run_sync()

    for child in children:
        account = account_for(ns_master, str(child["id"]))
        assert account["parentId"] == account_for(ns_master, str(child["parent"]))["id"]


def test_child_of_an_unticked_parent_fails_with_a_message_naming_the_parent(ns_master, run_sync):
    parent, child = roots(ns_master)[:2]
    set_customer(ns_master, parent, **{ns_fields.SEND_TO_ZUORA: "F"})
    set_customer(ns_master, child, parent=int(parent))
    entity_id = ns_master.netsuite.customer(parent)["entityId"]

    run_sync()

    failure = result(child)
    assert failure.outcome == "failed"
    assert failure.error_code == "PARENT_NOT_SYNCED"
    assert entity_id in failure.error_message
    assert "Send to Zuora" in failure.error_message


def test_changed_child_of_an_unchanged_unlinked_parent_fails_naming_the_parent(ns_master, run_sync):
    # The parent is outside the second run's selection: its name and reason are read for the
    # message while the run's writes go on.
    parent, child, other = roots(ns_master)[:3]
    set_customer(ns_master, parent, **{ns_fields.SEND_TO_ZUORA: "F"})
    ns_master.netsuite.sql(
        "UPDATE customer SET lastmodifieddate = '2020-01-01 00:00:00.000000' WHERE id = ?",
        (int(parent),),
    )
    set_customer(ns_master, child, parent=int(parent))
    entity_id = ns_master.netsuite.customer(parent)["entityId"]
    run_sync()
    set_customer(ns_master, child, comments="Edited")
    set_customer(ns_master, other, comments="Edited too")

    report = run_sync()

    failure = result(child)
    assert failure.run_id == report.run.id
    assert failure.error_code == "PARENT_NOT_SYNCED"
    assert entity_id in failure.error_message
    assert "Send to Zuora" in failure.error_message
    assert account_for(ns_master, other)["notes"] == "Edited too"


def test_child_of_a_parent_that_failed_fails_with_a_message_naming_the_parent(ns_master, run_sync):
    parent, child = roots(ns_master)[:2]
    set_customer(ns_master, parent, **{ns_fields.ZUORA_BATCH: "Batch99"})
    set_customer(ns_master, child, parent=int(parent))

    run_sync()

    failure = result(child)
    assert failure.error_code == "PARENT_FAILED"
    assert ns_master.netsuite.customer(parent)["entityId"] in failure.error_message


def test_grandchild_of_a_parent_that_failed_fails_too_and_nothing_is_created_under_it(
    ns_master, run_sync
):
    parent, child, grandchild = roots(ns_master)[:3]
    set_customer(ns_master, parent, **{ns_fields.ZUORA_BATCH: "Batch99"})
    set_customer(ns_master, child, parent=int(parent))
    set_customer(ns_master, grandchild, parent=int(child))

    run_sync()

    assert result(child).error_code == "PARENT_FAILED"
    failure = result(grandchild)
    assert failure.error_code == "PARENT_FAILED"
    assert ns_master.netsuite.customer(child)["entityId"] in failure.error_message
    assert not accounts_for_customer(ns_master, child)
    assert not accounts_for_customer(ns_master, grandchild)


# -- reruns and changes ---------------------------------------------------------------------------
def test_rerun_without_changes_writes_nothing_on_either_side(ns_master, run_sync):
    run_sync()
    reset_calls(ns_master)

    report = run_sync()

    assert zuora_writes(ns_master) == 0
    assert netsuite_writes(ns_master) == 0
    assert report.counts.get("created", 0) == report.counts.get("updated", 0) == 0


def test_first_run_settles_its_own_write_backs_so_the_rerun_reads_almost_nothing(
    ns_master, run_sync
):
    run_sync()

    # Our write-backs in the second before the watermark are read again, but are not news.
    assert_the_rerun_reads_almost_nothing(ns_master, run_sync)


def test_an_edit_stamped_before_the_watermark_but_committed_after_the_read_back_is_synced_next(
    ns_master, run_sync
):
    # Someone's write that started just before our last write-back and committed after the
    # settle read: its stamp is below the watermark, yet no run has seen it.
    run_sync()
    watermark = SyncCursor.objects.get(direction="netsuite_to_zuora").watermark
    customer_id = roots(ns_master)[0]
    late = (watermark - timedelta(milliseconds=300)).astimezone(UTC)
    ns_master.netsuite.sql(
        "UPDATE customer SET comments = ?, lastmodifieddate = ? WHERE id = ?",
        ("Committed late", late.strftime("%Y-%m-%d %H:%M:%S.%f"), int(customer_id)),
    )
    reset_calls(ns_master)

    report = run_sync()

    assert report.counts.get("updated") == 1
    assert account_for(ns_master, customer_id)["notes"] == "Committed late"
    assert zuora_writes(ns_master) == 1


class _LastWriteBacksHeld:
    """A fault hook that holds the write-backs of three customers nothing waits for until the
    read back has gone out and been answered, as slow last calls would."""

    def __init__(self, systems: Any) -> None:
        self.systems = systems
        self.late = set(roots(systems)[-3:])
        self.read_back_out = threading.Event()
        self.held: list[bool] = []

    def __call__(self, point: str, context: dict[str, Any]) -> None:
        if point == "after_zuora_write" and str(context["customer"]["id"]) in self.late:
            self.held.append(self.read_back_out.wait(timeout=10))
        elif point == "read_back_sent":
            # Its queries (rows, address lines) answered before the held write-backs go. Waited
            # for by their futures: on a busy machine they may have answered before this hook.
            read_back = context["read_back"]
            for answer in [*read_back.rows, read_back.addresses]:
                answer.result(timeout=5)  # raises if the read back never reached NetSuite
            # NetSuite stamps to the second: theirs must fall past the watermark's second.
            time.sleep(1.05 - time.time() % 1.0)
            self.read_back_out.set()


def test_the_read_back_goes_out_beside_the_last_write_backs_and_the_rerun_reports_nothing(
    ns_master, run_sync
):
    hook = _LastWriteBacksHeld(ns_master)

    run_sync(fault_hook=hook)

    assert hook.held == [True, True, True]
    assert RecordLink.objects.count() == len(syncable(ns_master))
    # Their write-backs are stamped past the watermark: read again, known, not news.
    assert_the_rerun_reads_almost_nothing(ns_master, run_sync)


def test_edits_after_the_read_back_to_customers_written_back_late_are_synced_next(
    ns_master, run_sync
):
    hook = _LastWriteBacksHeld(ns_master)
    run_sync(fault_hook=hook)
    renamed, moved, _ = sorted(hook.late)
    set_customer(ns_master, renamed, comments="Edited after the run")
    response = requests.post(
        f"{ns_master.netsuite.url}/_sandbox/ui/customer/{moved}/address",
        json={"addr1": "3 Late Lane"},
        timeout=5,
    )
    assert response.status_code == 204
    reset_calls(ns_master)

    report = run_sync()

    assert report.counts == {"updated": 2}, report.counts
    assert account_for(ns_master, renamed)["notes"] == "Edited after the run"
    assert contact(ns_master, account_for(ns_master, moved), "bill")["address1"] == "3 Late Lane"


def test_an_edit_made_during_the_run_is_synced_by_that_run(ns_master, run_sync):
    customer_id = roots(ns_master)[0]
    edited: list[str] = []

    def edit_after_first_create(point: str, context: dict[str, Any]) -> None:
        if point == "after_zuora_write" and not edited:
            edited.append(customer_id)
            set_customer(ns_master, customer_id, comments="Edited while the run ran")

    run_sync(fault_hook=edit_after_first_create)

    assert account_for(ns_master, customer_id)["notes"] == "Edited while the run ran"
    reset_calls(ns_master)
    run_sync()
    assert zuora_writes(ns_master) == 0


@pytest.mark.parametrize("hours", [-8, 10])
def test_a_netsuite_user_outside_utc_loses_no_edit_and_reruns_quietly(ns_master, run_sync, hours):
    # SuiteQL answers in the integration user's wall clock, without an offset: at UTC-8 every
    # stamp reads 8 hours behind our clock, at UTC+10 ten hours ahead.
    ns_master.netsuite.time_zone = dt_timezone(timedelta(hours=hours))
    during, after = roots(ns_master)[:2]
    edited: list[str] = []

    def edit_after_first_create(point: str, context: dict[str, Any]) -> None:
        if point == "after_zuora_write" and not edited:
            edited.append(during)
            set_customer(ns_master, during, comments="Edited while the run ran")

    first = run_sync(fault_hook=edit_after_first_create)

    assert first.counts["created"] == len(syncable(ns_master))
    assert "skipped" not in first.counts and "failed" not in first.counts
    assert RecordLink.objects.count() == len(syncable(ns_master))
    assert account_for(ns_master, during)["notes"] == "Edited while the run ran"
    set_customer(ns_master, after, comments="Edited after the run")
    reset_calls(ns_master)

    second = run_sync()

    assert second.counts == {"updated": 1}, second.counts
    assert account_for(ns_master, after)["notes"] == "Edited after the run"
    assert zuora_writes(ns_master) == 1
    reset_calls(ns_master)

    third = run_sync()

    assert third.counts == {}, third.counts
    assert zuora_writes(ns_master) == netsuite_writes(ns_master) == 0


def test_address_only_edit_in_netsuite_updates_only_the_bill_to_contact(ns_master, run_sync):
    run_sync()
    run_sync()  # settles the write-backs' own change
    # Out of the overlap window, so only the address query can find the edit.
    ns_master.netsuite.set_last_modified(
        syncable(ns_master), datetime.now(UTC) - timedelta(hours=1)
    )
    customer_id = next(i for i in roots(ns_master) if address_lines(ns_master, i) == 2)
    before = ns_master.netsuite.customer(customer_id)["lastModifiedDate"]
    response = requests.post(
        f"{ns_master.netsuite.url}/_sandbox/ui/customer/{customer_id}/address",
        json={"addr1": "9 New Road", "city": "Portland"},
        timeout=5,
    )
    assert response.status_code == 204
    assert ns_master.netsuite.customer(customer_id)["lastModifiedDate"] == before
    reset_calls(ns_master)

    report = run_sync()

    assert report.counts["updated"] == 1
    bill = contact(ns_master, account_for(ns_master, customer_id), "bill")
    assert (bill["address1"], bill["city"]) == ("9 New Road", "Portland")
    # One write, the contact nested in the account update.
    assert ns_master.zuora.calls_to("v1.account.update") == 1
    assert ns_master.zuora.calls_to("v1.contact.update") == 0
    assert "billToContact.address1" in result(customer_id).changes


def test_a_renamed_customer_updates_only_the_account_fields(ns_master, run_sync):
    customer_id = next(
        i for i in roots(ns_master) if ns_master.netsuite.customer(i).get("companyName")
    )
    run_sync()
    reset_calls(ns_master)
    set_customer(ns_master, customer_id, companyname="Renamed Ltd")

    report = run_sync()

    assert report.counts["updated"] == 1
    assert account_for(ns_master, customer_id)["name"] == "Renamed Ltd"
    assert ns_master.zuora.calls_to("v1.account.update") == 1
    assert ns_master.zuora.calls_to("v1.contact.update") == 0
    assert list(result(customer_id).changes) == ["name"]


def test_an_empty_value_in_netsuite_does_not_clear_the_zuora_value(ns_master, run_sync):
    customer_id = roots(ns_master)[0]
    set_customer(ns_master, customer_id, comments="Keep me")
    run_sync()
    set_customer(ns_master, customer_id, comments=None)

    run_sync()

    assert account_for(ns_master, customer_id)["notes"] == "Keep me"


# -- recovery -------------------------------------------------------------------------------------
def test_crash_between_zuora_create_and_link_store_leaves_no_duplicate(ns_master, run_sync):
    crashed: list[str] = []

    def die_after_first_create(point: str, context: dict[str, Any]) -> None:
        if point == "after_zuora_write" and not crashed:
            crashed.append(str(context["customer"]["id"]))
            raise Crash()

    with pytest.raises(Crash):
        run_sync(fault_hook=die_after_first_create)
    customer_id = crashed[0]
    assert len(accounts_for_customer(ns_master, customer_id)) == 1
    assert not RecordLink.objects.filter(netsuite_internal_id=customer_id).exists()
    release_dead_lease()

    run_sync()

    accounts = accounts_for_customer(ns_master, customer_id)
    assert len(accounts) == 1
    assert result(customer_id).outcome == "linked"
    assert (
        RecordLink.objects.get(netsuite_internal_id=customer_id).zuora_account_id
        == (accounts[0]["id"])
    )
    for other in syncable(ns_master):
        assert len(accounts_for_customer(ns_master, other)) == 1
    assert RecordLink.objects.count() == len(syncable(ns_master))


def test_a_customer_unlinked_and_synced_again_within_a_day_gets_a_new_account(ns_master, run_sync):
    # Zuora replays the first answer to an Idempotency-Key for 24 hours: a re-create with the
    # first create's key would be answered with the account that was deleted after the unlink.
    from syncadmin.services.linking import record_link_delete

    customer_id = roots(ns_master)[0]
    run_sync()
    link = RecordLink.objects.get(netsuite_internal_id=customer_id)
    old_account = link.zuora_account_id
    record_link_delete(link=link, user=None)
    with ns_master.zuora.state_lock:  # the finance team deletes the account in Zuora
        del ns_master.zuora.accounts[old_account]
        ns_master.zuora._integration_index = None
    set_customer(ns_master, customer_id, companyname="Made Again Ltd")

    report = run_sync()

    assert report.counts["created"] == 1
    new_link = RecordLink.objects.get(netsuite_internal_id=customer_id)
    assert new_link.zuora_account_id != old_account
    assert ns_master.zuora.accounts[new_link.zuora_account_id]["name"] == "Made Again Ltd"
    assert ns_master.netsuite.customer(customer_id)[ns_fields.ZUORA_ID] == (
        new_link.zuora_account_id
    )
    assert len(accounts_for_customer(ns_master, customer_id)) == 1

    keys = [
        r["idempotency_key"]
        for r in ns_master.zuora.requests_seen
        if r["method"] == "POST" and r["path"] == "/v1/accounts"
    ]
    # The first create's key, then a new one for the attempt after the unlink (the same key
    # again on any retry of it: see test_sync_under_faults).
    assert keys.count(f"syncadmin-netsuite-customer-{customer_id}") == 1
    assert keys.count(f"syncadmin-netsuite-customer-{customer_id}-after-unlink-1") == 1


def test_existing_zuora_account_carrying_the_netsuite_id_is_linked_not_duplicated(
    ns_master, run_sync
):
    from tests.zuora_fixtures import make_zuora_client

    customer_id = roots(ns_master)[0]
    made = make_zuora_client(ns_master.zuora).create_account(
        {
            "name": "Made by hand",
            "currency": "USD",
            "billCycleDay": 1,
            "billToContact": {"firstName": "Hand", "lastName": "Made"},
            z_fields.INTEGRATION_ID: customer_id,
        },
        idempotency_key="by-hand",
    )

    report = run_sync()

    link = RecordLink.objects.get(netsuite_internal_id=customer_id)
    assert link.zuora_account_id == made["accountId"]
    assert link.origin == RecordLink.Origin.MATCHED
    assert report.counts["linked"] == 1
    assert len(accounts_for_customer(ns_master, customer_id)) == 1
    customer = ns_master.netsuite.customer(customer_id)
    assert ns_master.zuora.accounts[made["accountId"]]["name"] != "Made by hand"
    assert customer[ns_fields.ZUORA_ID] == made["accountId"]


def test_new_only_mode_links_existing_accounts_without_updating_them(ns_master, run_sync):
    from tests.zuora_fixtures import make_zuora_client

    preferences_update(values={"sync_behavior": "new_only"})
    customer_id = roots(ns_master)[0]
    made = make_zuora_client(ns_master.zuora).create_account(
        {
            "name": "Kept as is",
            "currency": "USD",
            "billCycleDay": 1,
            "billToContact": {"firstName": "Kept", "lastName": "AsIs"},
            z_fields.INTEGRATION_ID: customer_id,
        },
        idempotency_key="kept",
    )

    report = run_sync()

    assert report.counts["linked"] == 1
    account = ns_master.zuora.accounts[made["accountId"]]
    assert account["name"] == "Kept as is"
    assert account[z_fields.CUSTOMER_ID] == ns_master.netsuite.customer(customer_id)["entityId"]
    assert ns_master.netsuite.customer(customer_id)[ns_fields.ZUORA_ID] == made["accountId"]


def test_a_failed_write_back_keeps_the_account_and_is_retried_on_the_next_run(ns_master, run_sync):
    ns_master.netsuite.config.update(
        {"fault_rate": 1.0, "faults": ["503"], "fault_paths": "record"}
    )
    run_sync(client_options=patient_clients())
    pending = RecordLink.objects.filter(writeback_pending=True)
    assert pending.count() == len(syncable(ns_master))
    assert any(
        "retried on the next run" in w for w in result(pending[0].netsuite_internal_id).warnings
    )
    accounts_before = len(ns_master.zuora.accounts)

    ns_master.netsuite.config.update({"fault_rate": 0.0})
    run_sync()

    assert not RecordLink.objects.filter(writeback_pending=True).exists()
    assert len(ns_master.zuora.accounts) == accounts_before
    for customer_id in syncable(ns_master):
        customer = ns_master.netsuite.customer(customer_id)
        assert customer[ns_fields.ZUORA_ID] == account_for(ns_master, customer_id)["id"]


def test_injected_429s_and_503s_on_both_sides_still_end_with_every_customer_synced(
    ns_master, run_sync
):
    ns_master.zuora.config.update({"fault_rate": 0.3, "faults": ["429", "503"]})
    ns_master.netsuite.config.update({"fault_rate": 0.3, "faults": ["429", "503"]})

    for _ in range(4):
        report = run_sync()
        if report.ok and not report.counts.get("failed"):
            break

    expected = syncable(ns_master)
    assert RecordLink.objects.count() == len(expected)
    for customer_id in expected:
        assert len(accounts_for_customer(ns_master, customer_id)) == 1
    assert (
        ns_master.zuora.statuses.get("v1.account.create 429", 0)
        + ns_master.zuora.statuses.get("v1.account.create 503", 0)
        > 0
    )


def test_watermark_stays_before_a_customer_that_failed_with_a_retryable_error(ns_master, run_sync):
    ns_master.zuora.config.update({"fault_rate": 1.0, "faults": ["503"], "fault_paths": "/v1/"})
    run_sync(client_options=patient_clients())
    failed = AccountResult.objects.filter(outcome="failed", retryable=True)
    assert failed.count() == len(syncable(ns_master))
    oldest = min(
        ns_master.netsuite.customer(r.source_id)["lastModifiedDate"] for r in failed
    ).replace("Z", "+00:00")
    watermark = SyncCursor.objects.get(direction="netsuite_to_zuora").watermark
    assert watermark <= datetime.fromisoformat(oldest)

    ns_master.zuora.config.update({"fault_rate": 0.0})
    run_sync()

    assert RecordLink.objects.count() == len(syncable(ns_master))
    assert SyncCursor.objects.get(direction="netsuite_to_zuora").watermark >= watermark


# -- master switch --------------------------------------------------------------------------------
def test_switching_master_back_and_forth_keeps_links_and_duplicates_nothing(seeded, run_sync):
    # A NetSuite-master period long ago left its watermark behind.
    SyncCursorFactory(direction="netsuite_to_zuora", watermark=timezone.now())
    run_sync()  # Zuora is master: Zuora accounts become NetSuite customers
    zuora_links = set(RecordLink.objects.values_list("zuora_account_id", "netsuite_internal_id"))
    assert zuora_links

    preferences_update(values={"master": "netsuite"})
    assert SyncCursor.objects.get(direction="netsuite_to_zuora").watermark is None
    # Finance ticks "Send to Zuora" on the customers that came from Zuora.
    seeded.netsuite.sql(
        f"UPDATE customer SET {ns_fields.SEND_TO_ZUORA} = 'T' WHERE externalid IS NOT NULL"
    )
    zuora_before = len(seeded.zuora.accounts)
    report = run_sync()

    fresh = set(syncable(seeded)) - {n for _, n in zuora_links}
    assert report.counts["created"] == len(fresh)
    assert len(seeded.zuora.accounts) == zuora_before + len(fresh)
    links_after = set(RecordLink.objects.values_list("zuora_account_id", "netsuite_internal_id"))
    assert zuora_links <= links_after

    preferences_update(values={"master": "zuora"})
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").watermark is None
    customers_before = seeded.netsuite.customers_count()
    report = run_sync()

    assert report.counts.get("created", 0) == 0
    assert seeded.netsuite.customers_count() == customers_before
    assert set(RecordLink.objects.values_list("zuora_account_id", "netsuite_internal_id")) == (
        links_after
    )
    per_customer = Counter(a.get(z_fields.INTEGRATION_ID) for a in seeded.zuora.accounts.values())
    assert all(n == 1 for key, n in per_customer.items() if key)


# -- dry run --------------------------------------------------------------------------------------
def test_dry_run_writes_nothing_anywhere(ns_master, run_sync):
    zuora_before = len(ns_master.zuora.accounts)

    report = run_sync(dry_run=True)

    assert report.counts["created"] == len(syncable(ns_master))
    assert len(ns_master.zuora.accounts) == zuora_before
    assert netsuite_writes(ns_master) == 0
    assert not RecordLink.objects.exists()
    assert not SyncCursor.objects.exclude(watermark=None).exists()


# -- review and ignore --------------------------------------------------------------------------
def test_a_customer_with_an_unreviewed_strong_match_is_not_created_but_waits_for_review(
    ns_master, run_sync
):
    from syncadmin.models import MatchSuggestion

    customer_id = roots(ns_master)[0]
    MatchSuggestionFactory(netsuite_internal_id=customer_id, strong=True)

    run_sync()

    result = AccountResult.objects.get(source_id=customer_id)
    assert result.outcome == "review"
    assert "Needs review" in result.reason
    assert not accounts_for_customer(ns_master, customer_id)

    MatchSuggestion.objects.update(status=MatchSuggestion.Status.REJECTED)
    run_sync()  # nothing changed in NetSuite: it comes back because it waited for review

    assert len(accounts_for_customer(ns_master, customer_id)) == 1


def test_child_of_a_parent_waiting_for_review_fails_naming_the_parent_and_the_review(
    ns_master, run_sync
):
    parent, child = roots(ns_master)[:2]
    set_customer(ns_master, child, parent=int(parent))
    MatchSuggestionFactory(netsuite_internal_id=parent, strong=True)

    run_sync()

    failure = result(child)
    assert failure.error_code == "PARENT_NOT_SYNCED"
    assert ns_master.netsuite.customer(parent)["entityId"] in failure.error_message
    assert "waits for a match to be reviewed" in failure.error_message
    assert not accounts_for_customer(ns_master, child)


def test_an_ignored_customer_is_skipped_until_put_back(ns_master, run_sync):
    from syncadmin.models import Direction

    customer_id = roots(ns_master)[0]
    IgnoredAccountFactory(direction=Direction.NETSUITE_TO_ZUORA, source_id=customer_id)

    run_sync()

    result = AccountResult.objects.get(source_id=customer_id)
    assert result.outcome == "skipped"
    assert "Ignored" in result.reason
    assert not accounts_for_customer(ns_master, customer_id)


def test_children_of_a_parent_that_failed_are_created_once_it_is_fixed_runs_later(
    ns_master, run_sync
):
    parent, first, second = roots(ns_master)[:3]
    set_customer(ns_master, parent, **{ns_fields.ZUORA_BATCH: "Batch99"})
    set_customer(ns_master, first, parent=int(parent))
    set_customer(ns_master, second, parent=int(parent))
    run_sync()
    assert result(first).error_code == result(second).error_code == "PARENT_FAILED"
    ns_master.netsuite.sql(
        "UPDATE customer SET lastmodifieddate = '2020-01-01 00:00:00.000000' WHERE id IN (?, ?, ?)",
        (int(parent), int(first), int(second)),
    )
    # Nothing changes and the parent still fails: a cheap run, the children stay failed.
    reset_calls(ns_master)
    report = run_sync()
    assert report.counts == {"failed": 3}, report.counts
    assert sum(ns_master.zuora.calls_to(e) for e in ZUORA_WRITES) == 0
    assert sum(report.api_calls["netsuite"].values()) <= 6, report.api_calls

    set_customer(ns_master, parent, **{ns_fields.ZUORA_BATCH: "Batch1"})
    report = run_sync()

    assert report.counts == {"created": 3}, report.counts
    for child in (first, second):
        assert account_for(ns_master, child)["parentId"] == account_for(ns_master, parent)["id"]
    assert run_sync().counts == {}


def test_a_child_waiting_for_an_unticked_parent_is_created_when_it_is_ticked_runs_later(
    ns_master, run_sync
):
    parent, child = roots(ns_master)[:2]
    set_customer(ns_master, parent, **{ns_fields.SEND_TO_ZUORA: "F"})
    set_customer(ns_master, child, parent=int(parent))
    run_sync()
    assert result(child).error_code == "PARENT_NOT_SYNCED"
    # Runs with no change do not look at the child again: they report nothing.
    ns_master.netsuite.sql(
        "UPDATE customer SET lastmodifieddate = '2020-01-01 00:00:00.000000' WHERE id IN (?, ?)",
        (int(parent), int(child)),
    )
    assert run_sync().counts == {}
    assert run_sync().counts == {}

    set_customer(ns_master, parent, **{ns_fields.SEND_TO_ZUORA: "T"})
    report = run_sync()

    assert report.counts == {"created": 2}, report.counts
    assert account_for(ns_master, child)["parentId"] == account_for(ns_master, parent)["id"]


def test_runs_after_an_update_only_run_report_nothing_and_the_watermark_settles(
    ns_master, run_sync
):
    ns_master.zuora.config.update({"latency_ms": 300})
    run_sync()
    edited = roots(ns_master)[2]
    time.sleep(1.1)  # past the settle margin of the first run's write-backs
    set_customer(ns_master, edited, comments="Edited")
    assert run_sync().counts == {"updated": 1}
    cursor = SyncCursor.objects.get(direction="netsuite_to_zuora")
    reset_calls(ns_master)

    for _ in range(2):
        report = run_sync()
        assert report.counts == {}, report.counts
    assert zuora_writes(ns_master) == 0
    assert SyncCursor.objects.get(direction="netsuite_to_zuora").watermark == cursor.watermark


# -- fax, contact descriptions, tax registrations -------------------------------------------------
def test_new_accounts_contacts_carry_the_fax_and_their_descriptions(ns_master, run_sync):
    with_fax = next(i for i in roots(ns_master) if ns_master.netsuite.customer(i).get("fax"))
    fax = ns_master.netsuite.customer(with_fax)["fax"]

    run_sync()

    account = account_for(ns_master, with_fax)
    bill, sold = contact(ns_master, account, "bill"), contact(ns_master, account, "sold")
    assert (bill["fax"], sold["fax"]) == (fax, fax)
    assert (bill["description"], sold["description"]) == ("Bill To Contact", "Sold To Contact")


def test_a_fax_change_reaches_the_zuora_contacts_in_the_one_account_update(ns_master, run_sync):
    customer_id = roots(ns_master)[1]
    run_sync()
    run_sync()  # settles the write-backs' own change
    account = account_for(ns_master, customer_id)
    # A Zuora user describes the Bill To contact in their own words.
    ns_master.zuora_client().update_contact(account["billToId"], {"description": "AP desk"})
    reset_calls(ns_master)
    set_customer(ns_master, customer_id, fax="+1 555 0987")

    report = run_sync()

    assert report.counts["updated"] == 1
    bill = contact(ns_master, account, "bill")
    assert bill["fax"] == "+1 555 0987"
    assert bill["description"] == "AP desk"  # set on create only, never overwritten
    assert ns_master.zuora.calls_to("v1.account.update") == 1
    assert ns_master.zuora.calls_to("v1.contact.update") == 0
    assert "billToContact.fax" in result(customer_id).changes
    reset_calls(ns_master)

    run_sync()

    assert zuora_writes(ns_master) == 0


def test_netsuite_tax_registration_numbers_never_reach_zuora(ns_master, run_sync):
    customer_id = roots(ns_master)[0]
    set_customer(ns_master, customer_id, vatregnumber="GB123456789", fax="+44 20 0000")

    run_sync()

    account = account_for(ns_master, customer_id)
    assert account.get("vATId") is None and account.get("taxExemptCertificateID") is None
    for role in ("bill", "sold"):
        assert contact(ns_master, account, role).get("taxRegion") is None
    assert "GB123456789" not in str(list(ns_master.zuora.accounts.values()))
    assert "GB123456789" not in str(list(ns_master.zuora.contacts.values()))


def test_netsuite_without_the_zuora_only_copies_still_syncs_to_zuora(ns_master, run_sync):
    # A NetSuite-master account needs none of the fields only Zuora → NetSuite writes.
    for name in ns_fields.ZUORA_TO_NETSUITE_ONLY:
        ns_master.netsuite.remove_custom_field(name)

    report = run_sync()

    assert report.counts["created"] == len(syncable(ns_master))
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED


def test_a_full_run_after_the_upgrade_copies_the_fax_to_accounts_linked_before(ns_master, run_sync):
    from syncadmin.services.zuora_writes import PAYLOAD_KEY, SOURCE_KEY, SOURCE_ROW_KEY

    with_fax = next(i for i in roots(ns_master) if ns_master.netsuite.customer(i).get("fax"))
    run_sync()
    account = account_for(ns_master, with_fax)
    for link in RecordLink.objects.all():  # as links made before the fax was read or mapped
        stored = link.last_payload
        stored[SOURCE_KEY] = stored[SOURCE_ROW_KEY] = "before-the-upgrade"
        for key in ("billToContact", "soldToContact"):
            stored[PAYLOAD_KEY][key].pop("fax", None)
        link.save(update_fields=["last_payload"])
    for role in ("bill", "sold"):
        contact(ns_master, account, role)["fax"] = None
    reset_calls(ns_master)

    run_sync(full=True)

    assert (
        contact(ns_master, account, "bill")["fax"] == ns_master.netsuite.customer(with_fax)["fax"]
    )
    assert contact(ns_master, account, "bill")["description"] == "Bill To Contact"
    assert ns_master.zuora.calls_to("v1.account.update") == len(
        [i for i in syncable(ns_master) if ns_master.netsuite.customer(i).get("fax")]
    )
