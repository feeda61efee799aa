"""The Zuora → NetSuite sync through the engine, against both sandboxes over real HTTP."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.urls import reverse

from connectors.http import CircuitBreaker
from connectors.netsuite import fields as ns_fields
from connectors.zuora import fields as z_fields
from syncadmin.models import AccountResult, RecordLink, SyncCursor, SyncRun
from syncadmin.services import lease
from syncadmin.services.preferences import preferences_update
from tests.conftest import FAST_CLIENTS

WRITES = ("record.customer.upsert", "record.customer.update", "record.customer.create")


def patient_clients() -> dict[str, Any]:
    """Client options with a breaker that never opens: the run goes on through an outage,
    account by account."""
    return {**FAST_CLIENTS, "breaker": CircuitBreaker(failures_to_open=10**6)}


def ns_writes(systems: Any) -> int:
    return sum(systems.netsuite.calls_to(e) for e in WRITES)


def syncable(systems: Any) -> list[dict[str, Any]]:
    """Accounts that should reach NetSuite: active, not excluded, and so is every ancestor."""
    accounts = systems.zuora.accounts

    def ok(account: dict[str, Any], depth: int = 0) -> bool:
        if (
            depth > 50
            or account["status"] != "Active"
            or account.get(z_fields.SYNC_TO_NETSUITE) == "No"
            or account.get(z_fields.INTEGRATION_STATUS) == "Ignore"
        ):
            return False
        parent = account.get("parentId")
        return parent is None or (parent in accounts and ok(accounts[parent], depth + 1))

    return [a for a in accounts.values() if ok(a)]


def failures() -> list[str]:
    return list(
        AccountResult.objects.filter(outcome="failed").values_list("error_message", flat=True)
    )


def zuora_put(systems: Any, path: str, body: dict[str, Any]) -> None:
    from tests.zuora_fixtures import make_zuora_client

    client = make_zuora_client(systems.zuora)
    if path.startswith("/v1/contacts/"):
        client.update_contact(path.rsplit("/", 1)[1], body)
    else:
        client.update_account(path.rsplit("/", 1)[1], body)


def customer_for(systems: Any, zuora_id: str) -> dict[str, Any]:
    link = RecordLink.objects.get(zuora_account_id=zuora_id)
    return systems.netsuite.customer(link.netsuite_internal_id)


def test_first_run_creates_one_customer_per_active_account(systems, run_sync):
    report = run_sync()

    expected = syncable(systems)
    assert all(m.startswith("Parent account") for m in failures()), failures()
    assert report.counts["created"] == len(expected)
    assert systems.netsuite.customers_count() == len(expected)
    assert RecordLink.objects.count() == len(expected)
    run = SyncRun.objects.get()
    assert run.created == len(expected)
    assert run.watermark_after is not None


def test_a_cross_reference_zuora_did_not_keep_is_reported_once_with_the_fix(
    systems, run_sync, admin_client
):
    # Zuora's Actions update answers success for a custom field the tenant lacks, and writes
    # nothing: the read back must catch it rather than the run reporting success.
    systems.zuora.remove_custom_field(z_fields.INTEGRATION_ID)
    expected = syncable(systems)

    report = run_sync()

    run = SyncRun.objects.get()
    assert report.counts["created"] == len(expected)
    assert run.status == SyncRun.Status.PARTLY_FAILED
    assert run.message.count("Zuora did not keep IntegrationId__NS") == 1
    assert "Account > Custom Fields" in run.message and "Check setup" in run.message
    assert f"and {len(expected) - 1} more" in run.message
    assert not any(
        "IntegrationId__NS" in w for r in AccountResult.objects.all() for w in r.warnings
    )
    # One batch was written and read back; the others wait for the field.
    assert systems.zuora.calls_to("v1.action.update") == 1
    assert RecordLink.objects.filter(writeback_pending=True).count() == len(expected)
    # Shown where the run is looked at: its page and the dashboard's last-run line.
    page = admin_client.get(reverse("admin:syncadmin_syncrun_change", args=[run.pk]))
    assert "Zuora did not keep IntegrationId__NS" in page.content.decode()
    progress = admin_client.get(reverse("admin:syncadmin_syncrun_progress")).json()["run"]
    assert progress["status_display"] == "Partly failed"
    assert "Zuora did not keep IntegrationId__NS" in progress["message"]

    with systems.zuora.state_lock:  # the finance team adds the field
        systems.zuora.missing_custom_fields.discard(z_fields.INTEGRATION_ID)
        systems.zuora._integration_index = None
    run_sync()

    latest = SyncRun.objects.latest("id")
    assert "did not keep" not in latest.message
    assert not RecordLink.objects.filter(writeback_pending=True).exists()
    for link in RecordLink.objects.all():
        account = systems.zuora.accounts[link.zuora_account_id]
        assert account[z_fields.INTEGRATION_ID] == link.netsuite_internal_id


def test_created_customer_carries_the_mapped_fields_and_the_zuora_cross_reference(
    systems, run_sync
):
    run_sync()
    account = next(a for a in syncable(systems) if a.get("CustomerType__NS") == "Company")
    customer = customer_for(systems, account["id"])

    assert customer["entityId"] == account["accountNumber"]
    assert customer["companyName"] == account["name"]
    assert customer["externalId"] == account["id"]
    assert customer[ns_fields.ZUORA_ID] == account["id"]
    lines = customer["addressBook"]["items"]
    billing = next(line for line in lines if line["defaultBilling"])
    assert billing["label"] == ns_fields.ADDRESS_LABEL_BILL_TO
    assert billing["addressBookAddress"]["addressee"] == account["name"]
    # and the cross-reference went back to Zuora
    stored = systems.zuora.accounts[account["id"]]
    assert stored[z_fields.INTEGRATION_ID] == customer["id"]
    assert stored[z_fields.INTEGRATION_STATUS] == "Sync Complete"
    assert stored[z_fields.SYNC_DATE]


def test_draft_canceled_and_excluded_accounts_are_skipped_with_a_reason(systems, run_sync):
    accounts = list(systems.zuora.accounts.values())
    active = [a for a in accounts if a["status"] == "Active"]
    active[0][z_fields.SYNC_TO_NETSUITE] = "No"
    active[1][z_fields.INTEGRATION_STATUS] = "Ignore"
    run_sync()

    reasons = dict(
        AccountResult.objects.filter(outcome="skipped").values_list("source_id", "reason")
    )
    assert reasons[active[0]["id"]] == "Sync to NetSuite is No"
    assert reasons[active[1]["id"]] == "Integration status is Ignore"
    draft = next(a for a in accounts if a["status"] == "Draft")
    assert "Draft" in reasons[draft["id"]]
    assert not RecordLink.objects.filter(
        zuora_account_id__in=[active[0]["id"], draft["id"]]
    ).exists()


def test_second_run_without_changes_makes_no_write(systems, run_sync):
    run_sync()
    systems.netsuite.reset_calls()

    report = run_sync()

    assert ns_writes(systems) == 0
    assert report.counts.get("created", 0) == report.counts.get("updated", 0) == 0


def test_first_run_settles_its_own_write_backs_so_the_rerun_reads_almost_nothing(systems, run_sync):
    run_sync()
    # Our write-backs were read back in one ZOQL call, not page by page through Object Query.
    assert systems.zuora.calls_to("v1.action.query") == 1
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").settled_through is not None
    systems.zuora.reset_calls()
    systems.netsuite.reset_calls()

    report = run_sync()

    assert sum(sum(kinds.values()) for kinds in report.api_calls.values()) <= 5
    # Our write-backs in the last second before the watermark, and at it, are known by their
    # rows: none is read whole, so NetSuite is not even asked for its lookups.
    assert report.api_calls["netsuite"] == {}, report.api_calls
    assert "unchanged" not in report.counts, report.counts
    assert systems.zuora.calls_to("v1.action.query") == 1
    assert systems.zuora.calls_to("v1.action.update") == 0


def test_an_edit_stamped_before_the_watermark_but_committed_after_the_read_back_is_synced_next(
    systems, run_sync
):
    # Someone's write that started just before our last write-back and committed after the
    # settle read: its stamp is below the watermark, yet no run has seen it.
    run_sync()
    watermark = SyncCursor.objects.get(direction="zuora_to_netsuite").watermark
    account = syncable(systems)[2]
    with systems.zuora.state_lock:
        stored = systems.zuora.accounts[account["id"]]
        stored["notes"] = "Committed late"
        stored["updatedDate"] = watermark - timedelta(milliseconds=300)
    systems.netsuite.reset_calls()

    report = run_sync()

    assert report.counts.get("updated") == 1
    assert customer_for(systems, account["id"])["comments"] == "Committed late"
    assert ns_writes(systems) == 1


def _edit_once_after_the_first_write(edit: Any) -> Any:
    edited: list[dict[str, Any]] = []

    def hook(point: str, context: dict[str, Any]) -> None:
        if point == "after_netsuite_write" and not edited:
            edited.append(context["account"])
            edit(context["account"])

    hook.edited = edited  # type: ignore[attr-defined]
    return hook


def test_an_account_edited_during_the_run_is_synced_by_that_run(systems, run_sync):
    hook = _edit_once_after_the_first_write(
        lambda account: zuora_put(
            systems, f"/v1/accounts/{account['id']}", {"notes": "Edited while the run ran"}
        )
    )

    run_sync(fault_hook=hook)

    account = hook.edited[0]
    assert customer_for(systems, account["id"])["comments"] == "Edited while the run ran"
    systems.netsuite.reset_calls()
    run_sync()
    assert ns_writes(systems) == 0


def test_a_contact_edited_during_the_run_is_synced_by_that_run(systems, run_sync):
    hook = _edit_once_after_the_first_write(
        lambda account: zuora_put(
            systems, f"/v1/contacts/{account['billToId']}", {"address1": "7 Moved Lane"}
        )
    )

    run_sync(fault_hook=hook)

    account = hook.edited[0]
    billing = next(
        i
        for i in customer_for(systems, account["id"])["addressBook"]["items"]
        if i["defaultBilling"]
    )
    assert billing["addressBookAddress"]["addr1"] == "7 Moved Lane"


class _LastWriteBacksHeld:
    """A fault hook that keeps the run's last, partial batch of write-backs to Zuora from
    being sent until the read back has answered, as a slow last call would."""

    def __init__(self, edit: Any = None) -> None:
        self.read_back = threading.Event()
        self.held: list[bool] = []  # per partial batch: whether the read back came first
        self.late_ids: list[str] = []
        self.edit = edit
        self.edited: list[dict[str, Any]] = []

    def __call__(self, point: str, context: dict[str, Any]) -> None:
        if point == "after_netsuite_write" and self.edit is not None:
            self.edited.append(context["account"])
            self.edit(context["account"])
        elif point == "before_zuora_write_back" and len(context["ids"]) < 50:
            self.late_ids.extend(context["ids"])
            self.held.append(self.read_back.wait(timeout=10))
        elif point == "after_read_back":
            self.read_back.set()


def test_the_read_back_does_not_wait_for_the_last_write_backs_and_the_rerun_reads_almost_nothing(
    systems, run_sync
):
    systems.zuora.seed(160, seed=42)
    hook = _LastWriteBacksHeld()

    run_sync(fault_hook=hook)

    assert hook.held == [True]  # the read back answered while the last batch waited
    assert RecordLink.objects.count() == len(syncable(systems))  # the late batch's links too
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").settled_through is not None
    assert all(systems.zuora.accounts[i][z_fields.INTEGRATION_STATUS] for i in hook.late_ids)
    systems.zuora.reset_calls()
    systems.netsuite.reset_calls()

    for _ in range(2):  # and so does the run after it
        report = run_sync()

        # The late write-backs' rows are past the watermark, known by their digests: not read.
        assert sum(sum(kinds.values()) for kinds in report.api_calls.values()) <= 5
        assert report.api_calls["netsuite"] == {}, report.api_calls
        assert report.counts == {}, report.counts
    assert systems.zuora.calls_to("v1.action.update") == 0


def test_an_edit_after_the_read_back_to_an_account_written_back_late_is_synced_next(
    systems, run_sync
):
    systems.zuora.seed(160, seed=42)
    hook = _LastWriteBacksHeld()
    run_sync(fault_hook=hook)
    account_id = next(
        i for i in hook.late_ids if RecordLink.objects.filter(zuora_account_id=i).exists()
    )
    zuora_put(systems, f"/v1/accounts/{account_id}", {"notes": "Edited after the run"})
    systems.netsuite.reset_calls()

    report = run_sync()

    assert report.counts == {"updated": 1}, report.counts
    assert customer_for(systems, account_id)["comments"] == "Edited after the run"
    assert ns_writes(systems) == 1


def test_edits_the_read_back_finds_while_the_last_write_backs_run_are_synced_by_that_run(
    systems, run_sync
):
    # Every account is edited just after its NetSuite write, so the read back finds accounts
    # of the late batch too: their links must be stored before they are looked up again.
    systems.zuora.seed(160, seed=42)
    hook = _LastWriteBacksHeld(
        edit=lambda account: zuora_put(
            systems, f"/v1/accounts/{account['id']}", {"notes": "Edited while the run ran"}
        )
    )

    run_sync(fault_hook=hook)

    assert hook.held == [True]
    assert RecordLink.objects.count() == len(syncable(systems))
    for account_id in hook.late_ids[:3]:
        assert customer_for(systems, account_id)["comments"] == "Edited while the run ran"
    systems.netsuite.reset_calls()
    assert run_sync().counts == {}
    assert ns_writes(systems) == 0


def test_a_read_back_that_fails_still_stores_the_links_of_the_last_write_backs(systems, run_sync):
    systems.zuora.seed(160, seed=42)
    # The read back (ZOQL) answers 503 every time; the run stops, but what reached NetSuite
    # is linked, and the next run makes nothing twice.
    systems.zuora.config.update(
        {"fault_rate": 1.0, "faults": ["503"], "fault_paths": "/v1/action/query"}
    )

    report = run_sync()

    assert report.status == "failed"
    assert RecordLink.objects.count() == len(syncable(systems))
    assert SyncCursor.objects.get(direction="zuora_to_netsuite").watermark is None
    systems.zuora.config.update({"fault_rate": 0.0})
    systems.netsuite.reset_calls()

    run_sync()

    assert systems.netsuite.customers_count() == len(syncable(systems))
    assert systems.netsuite.calls_to("record.customer.upsert") == 0


def test_address_only_change_in_zuora_reaches_netsuite(systems, run_sync):
    run_sync()
    account = syncable(systems)[3]
    before = systems.zuora.accounts[account["id"]]["updatedDate"]
    zuora_put(
        systems,
        f"/v1/contacts/{account['billToId']}",
        {"address1": "1 New Street", "city": "Portland"},
    )
    assert systems.zuora.accounts[account["id"]]["updatedDate"] == before  # Zuora did not bump it

    report = run_sync()

    assert report.counts["updated"] == 1
    billing = next(
        i
        for i in customer_for(systems, account["id"])["addressBook"]["items"]
        if i["defaultBilling"]
    )
    assert billing["addressBookAddress"]["addr1"] == "1 New Street"
    assert billing["addressBookAddress"]["city"] == "Portland"
    result = AccountResult.objects.get(outcome="updated")
    assert "addressBook" in result.changes


def test_a_null_in_zuora_does_not_clear_the_netsuite_value(systems, run_sync):
    run_sync()
    account = next(
        a for a in syncable(systems) if systems.zuora.contacts[a["billToId"]].get("workPhone")
    )
    phone = customer_for(systems, account["id"]).get("phone")
    assert phone
    zuora_put(systems, f"/v1/contacts/{account['billToId']}", {"workPhone": None, "city": "Oslo"})

    run_sync()

    assert customer_for(systems, account["id"]).get("phone") == phone


def test_edit_in_netsuite_is_kept_until_the_zuora_account_changes(systems, run_sync):
    run_sync()
    account = syncable(systems)[5]
    link = RecordLink.objects.get(zuora_account_id=account["id"])
    systems.netsuite.sql(
        "UPDATE customer SET comments = 'edited in NetSuite' WHERE id = ?",
        (link.netsuite_internal_id,),
    )
    run_sync()
    assert customer_for(systems, account["id"])["comments"] == "edited in NetSuite"

    zuora_put(systems, f"/v1/accounts/{account['id']}", {"notes": "Changed in Zuora"})
    run_sync()
    assert customer_for(systems, account["id"])["comments"] == "Changed in Zuora"


class Crash(BaseException):
    """Stands in for the process dying: not an Exception, so nothing catches it on the way."""


def test_crash_between_netsuite_write_and_link_store_leaves_one_customer(systems, run_sync):
    written: list[str] = []

    def die_after_first_write(point: str, context: dict[str, Any]) -> None:
        if point == "after_netsuite_write":
            written.append(context["account"]["id"])
            raise Crash()

    with pytest.raises(Crash):
        run_sync(fault_hook=die_after_first_write)
    crashed_id = written[0]
    assert not RecordLink.objects.filter(zuora_account_id=crashed_id).exists()
    from syncadmin.models import SyncLease

    SyncLease.objects.update(holder="", expires_at=None)  # a dead process's lease expires

    run_sync()

    matches = systems.netsuite.sql("SELECT id FROM customer WHERE externalid = ?", (crashed_id,))
    assert len(matches) == 1
    assert RecordLink.objects.get(zuora_account_id=crashed_id).netsuite_internal_id == str(
        matches[0]["id"]
    )
    assert systems.netsuite.customers_count() == len(syncable(systems))


@pytest.mark.parametrize(
    "external_id",
    [None, "CRM-0042"],
    ids=["without an external id", "with another system's external id"],
)
def test_existing_customer_with_the_zuora_id_is_linked_not_duplicated(
    systems, run_sync, external_id
):
    account = syncable(systems)[0]
    from tests.netsuite_fixtures import make_client, tba_credentials

    client = make_client(tba_credentials(systems.netsuite))
    existing_id = client.create_customer(
        {
            "companyName": "Made by hand",
            "subsidiary": {"id": "2"},
            ns_fields.ZUORA_ID: account["id"],
            **({"externalId": external_id} if external_id else {}),
        }
    )

    run_sync()

    link = RecordLink.objects.get(zuora_account_id=account["id"])
    assert link.netsuite_internal_id == existing_id
    assert link.origin == RecordLink.Origin.MATCHED
    assert systems.netsuite.customers_count() == len(syncable(systems))
    assert systems.netsuite.customer(existing_id)["companyName"] == account["name"]


def test_an_initial_sync_finds_existing_customers_while_zuora_answers_its_first_page(
    systems, run_sync
):
    # One read of the customers that may carry a Zuora id, at the start, stands for the
    # first batch's existence check: the first writes do not wait for a call of their own.
    accounts = syncable(systems)
    from tests.netsuite_fixtures import make_client, tba_credentials

    client = make_client(tba_credentials(systems.netsuite))
    by_external_id = client.create_customer(
        {
            "companyName": "Crashed create",
            "subsidiary": {"id": "2"},
            "externalId": accounts[0]["id"],
        }
    )
    by_zuora_field = client.create_customer(
        {"companyName": "By hand", "subsidiary": {"id": "2"}, ns_fields.ZUORA_ID: accounts[1]["id"]}
    )
    client.create_customer(
        {"companyName": "Someone else's", "subsidiary": {"id": "2"}, "externalId": "CRM-1"}
    )
    systems.netsuite.reset_calls()

    report = run_sync()

    assert report.api_calls["netsuite"]["query"] == 2  # the candidates and the lookups
    assert report.counts["linked"] == 2
    links = RecordLink.objects.filter(origin=RecordLink.Origin.MATCHED)
    assert {(link.zuora_account_id, link.netsuite_internal_id) for link in links} == {
        (accounts[0]["id"], by_external_id),
        (accounts[1]["id"], by_zuora_field),
    }
    assert systems.netsuite.customers_count() == len(accounts) + 1


def test_when_one_page_cannot_hold_the_candidates_each_batch_asks_netsuite(
    systems, run_sync, monkeypatch
):
    from syncadmin.services import netsuite_reads

    monkeypatch.setattr(netsuite_reads, "CANDIDATES_PER_PAGE", 1)
    accounts = syncable(systems)
    from tests.netsuite_fixtures import make_client, tba_credentials

    client = make_client(tba_credentials(systems.netsuite))
    for account in accounts[:2]:
        client.create_customer(
            {"companyName": "Made earlier", "subsidiary": {"id": "2"}, "externalId": account["id"]}
        )
    systems.netsuite.reset_calls()

    report = run_sync()

    assert report.api_calls["netsuite"]["query"] == 3  # candidates, lookups, the batch's check
    assert report.counts["linked"] == 2
    assert systems.netsuite.customers_count() == len(accounts)


def test_an_account_naming_its_customer_in_integration_id_is_linked_when_the_customer_agrees(
    systems, run_sync
):
    # Both sides name each other, as the incumbent leaves them (a customer that does not point
    # back waits for review: see test_sync_cross_references.py).
    account = syncable(systems)[2]
    from tests.netsuite_fixtures import make_client, tba_credentials

    client = make_client(tba_credentials(systems.netsuite))
    existing_id = client.create_customer(
        {
            "companyName": "Incumbent's",
            "subsidiary": {"id": "2"},
            ns_fields.ZUORA_ID: account["id"],
        }
    )
    with systems.zuora.state_lock:
        systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] = existing_id

    run_sync()

    assert RecordLink.objects.get(zuora_account_id=account["id"]).netsuite_internal_id == (
        existing_id
    )
    assert systems.netsuite.customers_count() == len(syncable(systems))


def test_new_only_mode_links_existing_customers_without_updating_them(systems, run_sync):
    preferences_update(values={"sync_behavior": "new_only"})
    account = syncable(systems)[0]
    from tests.netsuite_fixtures import make_client, tba_credentials

    client = make_client(tba_credentials(systems.netsuite))
    existing_id = client.create_customer(
        {"companyName": "Kept as is", "subsidiary": {"id": "2"}, "externalId": account["id"]}
    )

    report = run_sync()

    assert report.counts["linked"] == 1
    assert systems.netsuite.customer(existing_id)["companyName"] == "Kept as is"
    assert systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] == existing_id


def test_switching_from_new_only_to_new_and_modified_revisits_linked_records(systems, run_sync):
    preferences_update(values={"sync_behavior": "new_only"})
    run_sync()
    assert SyncCursor.objects.get().watermark is not None

    preferences_update(values={"sync_behavior": "new_and_modified"})

    assert SyncCursor.objects.get().watermark is None


def test_parents_are_created_before_their_children(systems, run_sync):
    children = [a for a in syncable(systems) if a.get("parentId")]
    assert children, "the seed should hold hierarchies"
    run_sync()

    for child in children:
        parent = systems.zuora.accounts[child["parentId"]]
        if parent["status"] != "Active":
            continue
        customer = customer_for(systems, child["id"])
        parent_link = RecordLink.objects.get(zuora_account_id=parent["id"])
        assert customer["parent"]["id"] == parent_link.netsuite_internal_id


def test_a_selection_admitted_in_several_batches_creates_each_account_once_under_its_parent(
    systems, run_sync
):
    # Slow Zuora pages and fast NetSuite writes: the writers run low while the selection still
    # pages, so batches go early and hierarchies straddle them. A page of 99 takes the writers
    # 99 x (latency + our CPU) / concurrency: the page must be slower than that even on a
    # slow machine.
    systems.zuora.seed(400, seed=7)
    systems.zuora.config.update({"latency_ms": 250})
    systems.netsuite.config.update({"latency_ms": 5})

    run_sync()

    lookups_and_existence_checks = systems.netsuite.calls_to("query.suiteql")
    assert lookups_and_existence_checks >= 4  # the lookups, then at least three batches
    expected = syncable(systems)
    assert RecordLink.objects.count() == len(expected)
    assert systems.netsuite.customers_count() == len(expected)
    for account in expected:
        customer = customer_for(systems, account["id"])
        if account.get("parentId"):
            parent_link = RecordLink.objects.get(zuora_account_id=account["parentId"])
            assert customer["parent"]["id"] == parent_link.netsuite_internal_id


def test_child_of_a_draft_parent_fails_with_a_message_naming_the_parent(systems, run_sync):
    accounts = syncable(systems)
    parent, child = accounts[0], accounts[1]
    systems.zuora.accounts[parent["id"]]["status"] = "Draft"
    systems.zuora.accounts[child["id"]]["parentId"] = parent["id"]

    run_sync()

    failure = AccountResult.objects.get(source_id=child["id"])
    assert failure.outcome == "failed"
    assert failure.error_code == "PARENT_NOT_SYNCED"
    assert parent["accountNumber"] in failure.error_message


def test_a_hierarchy_cycle_fails_both_accounts_and_the_run_goes_on(systems, run_sync):
    accounts = syncable(systems)
    first, second = accounts[0], accounts[1]
    systems.zuora.accounts[first["id"]]["parentId"] = second["id"]
    systems.zuora.accounts[second["id"]]["parentId"] = first["id"]

    report = run_sync()

    failures = AccountResult.objects.filter(outcome="failed")
    assert {f.source_id for f in failures} >= {first["id"], second["id"]}
    assert "cycle" in failures.get(source_id=first["id"]).error_message
    assert report.counts["created"] >= len(accounts) - 2 - sum(
        1 for a in accounts if a.get("parentId") in (first["id"], second["id"])
    )


def test_a_bad_account_fails_alone_with_a_readable_message(systems, run_sync):
    accounts = syncable(systems)
    systems.zuora.accounts[accounts[2]["id"]]["paymentTerm"] = "Net 99"

    report = run_sync()

    failure = AccountResult.objects.get(source_id=accounts[2]["id"])
    assert failure.outcome == "failed"
    assert failure.error_code == "UNKNOWN_PAYMENT_TERM"
    assert "Net 99" in failure.error_message
    assert report.counts["created"] == len(accounts) - 1 - sum(
        1 for a in accounts if a.get("parentId") == accounts[2]["id"]
    )
    assert SyncRun.objects.get().status == SyncRun.Status.PARTLY_FAILED
    assert (
        systems.zuora.accounts[accounts[2]["id"]][z_fields.INTEGRATION_STATUS]
        == "Error Creating Customer"
    )


def test_injected_429s_and_503s_still_end_with_every_account_synced(systems, run_sync):
    systems.netsuite.config.update(
        {"fault_rate": 0.25, "faults": ["429", "503"], "fault_paths": "record"}
    )

    for _ in range(3):
        report = run_sync()
        if not report.counts.get("failed"):
            break

    assert systems.netsuite.customers_count() == len(syncable(systems))
    assert RecordLink.objects.count() == len(syncable(systems))


def test_watermark_stays_before_an_account_that_failed_with_a_retryable_error(systems, run_sync):
    systems.netsuite.config.update({"fault_rate": 1.0, "faults": ["503"], "fault_paths": "record"})
    run_sync(client_options=patient_clients())
    failed = AccountResult.objects.filter(outcome="failed", retryable=True)
    assert failed.exists()
    watermark = SyncCursor.objects.get().watermark

    systems.netsuite.config.update({"fault_rate": 0.0})
    run_sync()

    assert SyncCursor.objects.get().watermark >= watermark
    assert systems.netsuite.customers_count() == len(syncable(systems))


def test_write_backs_travel_fifty_to_a_zuora_call(systems, run_sync):
    systems.zuora.seed(120, seed=42)

    report = run_sync()

    created = report.counts["created"]
    assert created > 50
    write_backs = systems.zuora.calls_to("v1.action.update")
    assert write_backs <= -(-created // 50) + 2  # full batches, plus the ends of the stream
    assert systems.zuora.calls_to("v1.account.update") == 0
    for link in RecordLink.objects.all():
        account = systems.zuora.accounts[link.zuora_account_id]
        assert account[z_fields.INTEGRATION_ID] == link.netsuite_internal_id
        assert account[z_fields.INTEGRATION_STATUS] == "Sync Complete"


def test_a_failed_write_back_keeps_the_customer_and_is_written_by_the_next_run(systems, run_sync):
    systems.zuora.config.update({"fault_rate": 1.0, "faults": ["503"], "fault_paths": "action"})

    report = run_sync()

    expected = len(syncable(systems))
    assert report.counts["created"] == expected
    assert RecordLink.objects.filter(writeback_pending=True).count() == expected
    warned = AccountResult.objects.filter(outcome="created").exclude(warnings=[])
    assert warned.count() == expected
    assert "writing the cross-reference back to Zuora failed" in warned.first().warnings[0]
    assert not any(a.get(z_fields.INTEGRATION_ID) for a in systems.zuora.accounts.values())

    systems.zuora.config.update({"fault_rate": 0.0})
    run_sync()

    assert systems.netsuite.customers_count() == expected
    assert not RecordLink.objects.filter(writeback_pending=True).exists()
    for link in RecordLink.objects.all():
        account = systems.zuora.accounts[link.zuora_account_id]
        assert account[z_fields.INTEGRATION_ID] == link.netsuite_internal_id


def test_writes_never_exceed_the_concurrency_limit(systems, run_sync):
    systems.netsuite.config.update({"latency_ms": 20})

    run_sync()

    assert systems.netsuite.peak_in_flight <= 5
    assert systems.netsuite.statuses.get("record.customer.upsert 429", 0) == 0


def test_dry_run_writes_nothing_anywhere(systems, run_sync):
    report = run_sync(dry_run=True)

    assert report.counts["created"] == len(syncable(systems))
    assert systems.netsuite.customers_count() == 0
    assert not RecordLink.objects.exists()
    assert not SyncRun.objects.exists()
    assert not SyncCursor.objects.exclude(watermark=None).exists()
    assert all(not a.get(z_fields.INTEGRATION_ID) for a in systems.zuora.accounts.values())


@pytest.mark.django_db(transaction=True)
def test_a_run_while_another_holds_the_lease_is_recorded_as_skipped(systems, run_sync, settings):
    settings.SYNC_LEASE_HEARTBEAT_SECONDS = 0.1
    assert lease.lease_acquire(holder="another-worker")
    alive = threading.Event()

    def heartbeat() -> None:  # the other worker is alive: it renews its lease
        from django.db import connection

        while not alive.wait(0.1):
            lease.lease_renew(holder="another-worker")
        connection.close()

    beating = threading.Thread(target=heartbeat)
    beating.start()
    try:
        report = run_sync()
    finally:
        alive.set()
        beating.join()

    assert report.status == SyncRun.Status.SKIPPED
    assert SyncRun.objects.get().status == SyncRun.Status.SKIPPED
    assert systems.netsuite.customers_count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_runs_started_at_once_give_one_run_and_one_skip(systems, run_sync):
    systems.netsuite.config.update({"latency_ms": 30})
    statuses: list[str] = []
    barrier = threading.Barrier(2)

    def start() -> None:
        from django.db import connection

        barrier.wait()
        try:
            statuses.append(run_sync().status)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(statuses) == 2
    assert statuses.count("skipped") == 1
    assert SyncRun.objects.filter(status="skipped").count() == 1
    assert systems.netsuite.customers_count() == len(syncable(systems))


def test_unconfigured_connection_fails_the_run_with_a_clear_message(db, run_sync):
    report = run_sync()

    assert report.status == SyncRun.Status.FAILED
    assert "not configured" in report.message
    assert SyncRun.objects.get().message == report.message


def test_sandbox_state_is_visible_over_http(systems):
    state = requests.get(f"{systems.zuora.url}/_sandbox/state", timeout=5).json()
    assert state


def test_a_failed_child_is_retried_once_its_parent_can_sync_without_changing_itself(
    systems, run_sync
):
    accounts = syncable(systems)
    parent, child = accounts[0], accounts[1]
    systems.zuora.accounts[parent["id"]]["status"] = "Draft"
    systems.zuora.accounts[child["id"]]["parentId"] = parent["id"]
    run_sync()
    assert AccountResult.objects.get(source_id=child["id"]).outcome == "failed"

    zuora_put(systems, f"/v1/accounts/{parent['id']}", {"notes": "activated"})
    systems.zuora.accounts[parent["id"]]["status"] = "Active"
    run_sync()

    assert RecordLink.objects.filter(zuora_account_id=child["id"]).exists()
    assert customer_for(systems, child["id"])["parent"]["id"] == (
        RecordLink.objects.get(zuora_account_id=parent["id"]).netsuite_internal_id
    )


def test_retrying_one_child_whose_parent_cannot_sync_fails_it_again_with_the_reason(
    systems, run_sync
):
    accounts = syncable(systems)
    parent, child = accounts[0], accounts[1]
    systems.zuora.accounts[parent["id"]]["status"] = "Draft"
    systems.zuora.accounts[child["id"]]["parentId"] = parent["id"]
    run_sync()

    report = run_sync(trigger="retry", account_ids=[child["id"]])

    assert report.counts == {"failed": 1}
    latest = AccountResult.objects.filter(source_id=child["id"]).first()
    assert latest.error_code == "PARENT_NOT_SYNCED"
    assert parent["accountNumber"] in latest.error_message or parent["id"] in latest.error_message


def _family(systems: Any, children: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A root account and `children` accounts under it, none of them a parent already."""
    accounts = syncable(systems)
    parents = {a.get("parentId") for a in systems.zuora.accounts.values()}
    free = [a for a in accounts if not a.get("parentId") and a["id"] not in parents]
    parent, kids = free[0], free[1 : 1 + children]
    for kid in kids:
        systems.zuora.accounts[kid["id"]]["parentId"] = parent["id"]
    return parent, kids


def test_children_of_a_parent_fixed_on_the_netsuite_side_are_created_by_a_later_run(
    systems, run_sync
):
    # The parent's account number is taken by a NetSuite customer the sync does not know.
    parent, children = _family(systems, 3)
    systems.netsuite.sql(
        "INSERT INTO customer (entityid, companyname, lastmodifieddate)"
        " VALUES (?, 'Someone else', '2020-01-01 00:00:00.000000')",
        (parent["accountNumber"],),
    )
    run_sync()
    assert AccountResult.objects.filter(source_id=parent["id"]).first().outcome == "failed"
    for child in children:
        assert AccountResult.objects.filter(source_id=child["id"]).first().error_code == (
            "PARENT_FAILED"
        )
    # Nothing changes and the parent still fails: a cheap run, the children stay failed.
    systems.zuora.reset_calls()
    systems.netsuite.reset_calls()
    report = run_sync()
    assert report.counts == {"failed": 4}, report.counts
    assert ns_writes(systems) == 1  # the parent's attempt; no child is sent without it
    assert sum(report.api_calls["zuora"].values()) <= 5, report.api_calls

    # The finance team renames the clashing NetSuite customer; nothing changes in Zuora.
    systems.netsuite.sql(
        "UPDATE customer SET entityid = 'OLD-' || entityid WHERE entityid = ?",
        (parent["accountNumber"],),
    )
    report = run_sync()

    assert report.counts == {"created": 4}, report.counts
    parent_id = RecordLink.objects.get(zuora_account_id=parent["id"]).netsuite_internal_id
    for child in children:
        assert customer_for(systems, child["id"])["parent"]["id"] == parent_id
    assert run_sync().counts == {}


def test_a_child_waiting_for_a_draft_parent_is_created_when_the_parent_is_activated_runs_later(
    systems, run_sync
):
    parent, (child,) = _family(systems, 1)
    systems.zuora.accounts[parent["id"]]["status"] = "Draft"
    run_sync()
    assert AccountResult.objects.get(source_id=child["id"]).error_code == "PARENT_NOT_SYNCED"
    # Runs with no change do not look at the child again: they report nothing.
    systems.zuora.reset_calls()
    assert run_sync().counts == {}
    assert run_sync().counts == {}
    assert systems.zuora.calls_to("v1.accounts.get") == 0

    zuora_put(systems, f"/v1/accounts/{parent['id']}", {"notes": "activated"})
    systems.zuora.accounts[parent["id"]]["status"] = "Active"
    report = run_sync()

    assert report.counts == {"created": 2}, report.counts
    assert customer_for(systems, child["id"])["parent"]["id"] == (
        RecordLink.objects.get(zuora_account_id=parent["id"]).netsuite_internal_id
    )


def test_runs_after_an_update_only_run_report_nothing_and_the_watermark_settles(systems, run_sync):
    # NetSuite writes as slow as a real account's; a run that only updates writes nothing back
    # to Zuora, so it has no write-back of its own to read back.
    systems.netsuite.config.update({"latency_ms": 300})
    run_sync()
    edited = syncable(systems)[3]
    for path, body in (
        (f"/v1/accounts/{edited['id']}", {"notes": "Edited"}),
        (f"/v1/contacts/{edited['billToId']}", {"address1": "7 Moved Lane"}),
    ):
        zuora_put(systems, path, body)
        assert run_sync().counts == {"updated": 1}
        cursor = SyncCursor.objects.get(direction="zuora_to_netsuite")
        systems.netsuite.reset_calls()

        for _ in range(2):
            report = run_sync()
            assert report.counts == {}, report.counts
        assert systems.netsuite.calls == {}
        assert SyncCursor.objects.get(direction="zuora_to_netsuite").watermark == cursor.watermark


def test_a_name_with_a_nul_or_a_lone_surrogate_syncs_and_every_other_account_is_recorded(
    systems, run_sync
):
    # PostgreSQL refuses NUL in text and JSON; no database takes a lone surrogate.
    accounts = syncable(systems)
    nul, surrogate = accounts[0], accounts[1]
    systems.zuora.accounts[nul["id"]]["name"] = "Bad\x00Name"
    systems.zuora.accounts[surrogate["id"]]["name"] = "Half \ud800 Pair"

    report = run_sync()

    assert report.run.status != "failed", report.message
    assert report.counts["created"] == len(accounts)
    assert AccountResult.objects.count() == sum(report.counts.values())
    assert RecordLink.objects.count() == len(accounts)
    assert AccountResult.objects.get(source_id=nul["id"]).source_name == "BadName"
    # Control characters are left out of what NetSuite gets too.
    assert customer_for(systems, nul["id"])["companyName"] == "BadName"
    assert customer_for(systems, surrogate["id"])["companyName"] == "Half  Pair"
    zuora_put(systems, f"/v1/accounts/{nul['id']}", {"notes": "Edited"})
    rerun = run_sync()
    assert rerun.run.status != "failed", rerun.message
    assert rerun.counts.get("updated") == 1, rerun.counts


def test_us_state_names_reach_netsuite_as_usps_codes_and_a_misspelt_state_fails_alone(
    systems, run_sync
):
    us_accounts = [
        a
        for a in syncable(systems)
        if systems.zuora.contacts[a["billToId"]].get("country") == "United States"
        and not any(c.get("parentId") == a["id"] for c in systems.zuora.accounts.values())
    ]
    named, misspelt = us_accounts[0], us_accounts[1]
    assert systems.zuora.contacts[named["billToId"]]["state"] in (
        "California",
        "New York",
        "Texas",
        "Washington",
        "Massachusetts",
        "Illinois",
    )
    zuora_put(systems, f"/v1/contacts/{named['billToId']}", {"state": "Washington, D.C."})
    zuora_put(systems, f"/v1/contacts/{misspelt['billToId']}", {"state": "Calfornia"})

    report = run_sync()

    billing = next(
        i for i in customer_for(systems, named["id"])["addressBook"]["items"] if i["defaultBilling"]
    )
    assert billing["addressBookAddress"]["state"] == "DC"
    failure = AccountResult.objects.get(source_id=misspelt["id"])
    assert failure.outcome == "failed"
    assert failure.error_code == "UNKNOWN_US_STATE"
    assert "Calfornia" in failure.error_message
    assert report.counts["created"] == len(syncable(systems)) - 1
    states = {
        line["addressBookAddress"].get("state")
        for link in RecordLink.objects.all()
        for line in systems.netsuite.customer(link.netsuite_internal_id)["addressBook"]["items"]
        if line["addressBookAddress"].get("country") == "US"
    }
    assert states and all(len(state) == 2 and state.isupper() for state in states), states


# -- the incumbent's remaining default fields ------------------------------------------------------
def spy_netsuite_updates(monkeypatch: Any) -> list[dict[str, Any]]:
    """The bodies of the customer PATCHes the sync sends (still sent over HTTP)."""
    from connectors.netsuite.client import NetSuiteClient

    sent: list[dict[str, Any]] = []
    original = NetSuiteClient.update_customer

    def update_customer(self: Any, internal_id: str, payload: dict[str, Any], **kwargs: Any):
        sent.append(dict(payload))
        return original(self, internal_id, payload, **kwargs)

    monkeypatch.setattr(NetSuiteClient, "update_customer", update_customer)
    return sent


def test_created_customers_carry_sales_service_po_mrr_and_tax_exemption(systems, run_sync):
    run_sync()

    accounts = syncable(systems)
    exempt = next(a for a in accounts if a["taxExemptStatus"] == "Yes" and a.get("salesRepName"))
    customer = customer_for(systems, exempt["id"])
    assert customer[ns_fields.ZUORA_SALES_REP] == exempt["salesRepName"]
    assert customer[ns_fields.ZUORA_MRR] == exempt["mrr"]
    assert customer[ns_fields.ZUORA_TAX_EXEMPT_STATUS] == "Yes"
    assert customer[ns_fields.ZUORA_TAX_EXEMPT_CERTIFICATE_ID] == exempt["taxExemptCertificateID"]
    assert customer["isTaxable"] is False
    with_po = next(a for a in accounts if a.get("purchaseOrderNumber"))
    assert (
        customer_for(systems, with_po["id"])[ns_fields.ZUORA_PURCHASE_ORDER_NUMBER]
        == with_po["purchaseOrderNumber"]
    )
    with_service_rep = next(a for a in accounts if a.get("customerServiceRepName"))
    assert (
        customer_for(systems, with_service_rep["id"])[ns_fields.ZUORA_CUSTOMER_SERVICE_REP]
        == with_service_rep["customerServiceRepName"]
    )
    taxable = next(a for a in accounts if a["taxExemptStatus"] == "No")
    assert customer_for(systems, taxable["id"])["isTaxable"] is True
    # Tax Reg. Number is never synced: not from a certificate id, not from a VAT id.
    with_vat = [a for a in accounts if a.get("vATId") or a.get("taxExemptCertificateID")]
    assert with_vat
    assert not systems.netsuite.sql(
        "SELECT id FROM customer WHERE vatregnumber IS NOT NULL OR isinactive = 'T'"
    )


@pytest.mark.parametrize(
    ("edit", "field", "value"),
    [
        ({"salesRep": "Jo Marsh"}, ns_fields.ZUORA_SALES_REP, "Jo Marsh"),
        ({"purchaseOrderNumber": "PO-77"}, ns_fields.ZUORA_PURCHASE_ORDER_NUMBER, "PO-77"),
        ({"customerServiceRepName": "Al Reyes"}, ns_fields.ZUORA_CUSTOMER_SERVICE_REP, "Al Reyes"),
    ],
    ids=["sales-rep", "po-number", "service-rep"],
)
def test_editing_one_field_in_zuora_makes_one_netsuite_write_with_it_and_the_rerun_none(
    systems, run_sync, monkeypatch, edit, field, value
):
    run_sync()
    account = syncable(systems)[2]
    sent = spy_netsuite_updates(monkeypatch)
    zuora_put(systems, f"/v1/accounts/{account['id']}", edit)
    systems.netsuite.reset_calls()

    report = run_sync()

    assert report.counts["updated"] == 1
    assert ns_writes(systems) == 1
    assert len(sent) == 1
    assert sent[0][field] == value
    assert set(sent[0]) <= {field, ns_fields.ZUORA_UPDATED}  # the changed field alone
    assert customer_for(systems, account["id"])[field] == value
    assert list(AccountResult.objects.get(outcome="updated").changes) == [field]
    systems.netsuite.reset_calls()

    run_sync()

    assert ns_writes(systems) == 0


def test_exemption_granted_in_zuora_clears_taxable_and_pending_leaves_it_alone(
    systems, run_sync, monkeypatch
):
    run_sync()
    account = next(a for a in syncable(systems) if a["taxExemptStatus"] == "No")
    customer_id = RecordLink.objects.get(zuora_account_id=account["id"]).netsuite_internal_id
    assert systems.netsuite.customer(customer_id)["isTaxable"] is True
    sent = spy_netsuite_updates(monkeypatch)

    zuora_put(
        systems,
        f"/v1/accounts/{account['id']}",
        {"taxInfo": {"exemptStatus": "Yes", "exemptCertificateId": "EXM-1", "VATId": "FR12"}},
    )
    run_sync()

    customer = systems.netsuite.customer(customer_id)
    assert customer["isTaxable"] is False
    assert customer[ns_fields.ZUORA_TAX_EXEMPT_STATUS] == "Yes"
    assert customer[ns_fields.ZUORA_TAX_EXEMPT_CERTIFICATE_ID] == "EXM-1"
    assert "vatRegNumber" not in customer and "FR12" not in str(sent)

    # Pending verification decides nothing: the box a NetSuite user ticks stays ticked.
    systems.netsuite.sql("UPDATE customer SET taxable = 'T' WHERE id = ?", (int(customer_id),))
    zuora_put(
        systems,
        f"/v1/accounts/{account['id']}",
        {"taxInfo": {"exemptStatus": "PendingVerification"}},
    )
    run_sync()

    customer = systems.netsuite.customer(customer_id)
    assert customer[ns_fields.ZUORA_TAX_EXEMPT_STATUS] == "PendingVerification"
    assert customer["isTaxable"] is True
    assert "isTaxable" not in sent[-1]


def test_a_canceled_account_never_inactivates_its_netsuite_customer(systems, run_sync):
    run_sync()
    account = syncable(systems)[4]
    customer_id = RecordLink.objects.get(zuora_account_id=account["id"]).netsuite_internal_id
    with systems.zuora.state_lock:  # canceled in Zuora (the v1 API has no status field)
        stored = systems.zuora.accounts[account["id"]]
        stored["status"] = "Canceled"
        stored["updatedDate"] = systems.zuora._now(after=stored["updatedDate"])
    systems.netsuite.reset_calls()

    run_sync()

    assert systems.netsuite.customer(customer_id)["isInactive"] is False
    assert ns_writes(systems) == 0
    assert "Canceled" in AccountResult.objects.filter(source_id=account["id"]).latest("id").reason


def test_a_copy_netsuite_lacks_is_left_out_once_and_the_run_says_which_field_to_create(
    systems, run_sync
):
    # An account upgraded before its admin created the new field: one refused write, not one
    # failed account per account.
    systems.netsuite.remove_custom_field(ns_fields.ZUORA_MRR)
    expected = syncable(systems)

    report = run_sync()

    assert report.counts["created"] == len(expected)
    # Refused at most once per writer already on its way when the first refusal came back.
    from syncadmin.models import SyncPreferences

    writers = SyncPreferences.objects.get().netsuite_concurrency * 3 + 2
    refused = systems.netsuite.calls_to("record.customer.upsert") - len(expected)
    assert 1 <= refused <= writers < len(expected)
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.PARTLY_FAILED
    assert run.message.count("NetSuite refused these copies of Zuora values") == 1
    assert "MRR (custentity_zuora_mrr" in run.message and "Check setup" in run.message
    with_rep = next(a for a in expected if a.get("salesRepName"))
    customer = customer_for(systems, with_rep["id"])
    assert customer[ns_fields.ZUORA_SALES_REP] == with_rep["salesRepName"]
    assert ns_fields.ZUORA_MRR not in customer


def test_a_full_run_after_the_upgrade_copies_the_new_fields_to_customers_linked_before(
    systems, run_sync
):
    run_sync()
    new_copies = set(ns_fields.ZUORA_TO_NETSUITE_ONLY) | {"isTaxable"}
    for link in RecordLink.objects.all():  # as links made before these fields were mapped
        link.last_payload = {k: v for k, v in link.last_payload.items() if k not in new_copies}
        link.save(update_fields=["last_payload"])
    systems.netsuite.sql("UPDATE customer SET custentity_zuora_sales_rep = NULL, taxable = 'F'")
    account = next(a for a in syncable(systems) if a.get("salesRepName"))
    systems.netsuite.reset_calls()

    report = run_sync(full=True)

    assert report.counts["updated"] == RecordLink.objects.count()
    assert ns_writes(systems) == RecordLink.objects.count()  # one write per customer
    customer = customer_for(systems, account["id"])
    assert customer[ns_fields.ZUORA_SALES_REP] == account["salesRepName"]
    systems.netsuite.reset_calls()

    run_sync(full=True)

    assert ns_writes(systems) == 0
