"""A cross-reference naming a record the sync never made or linked waits for review and writes
nothing; through the engine, against both sandboxes over real HTTP."""

from __future__ import annotations

from typing import Any

from connectors.netsuite import fields as ns_fields
from connectors.zuora import fields as z_fields
from syncadmin.models import AccountResult, MatchSuggestion, RecordLink
from syncadmin.services.matching import (
    match_suggestions_approve,
    match_suggestions_generate,
    match_suggestions_reject,
)
from tests.factories import SyncPreferencesFactory

UNRELATED_LINE = {
    "label": "Main office",
    "defaultBilling": True,
    "defaultShipping": True,
    "addressBookAddress": {
        "addressee": "Unrelated Ltd",
        "addr1": "9 Elsewhere Road",
        "city": "Boise",
        "state": "ID",
        "zip": "83701",
        "country": "US",
    },
}


def root_account(systems: Any) -> dict[str, Any]:
    """An active account without parent or children that syncs to NetSuite."""
    accounts = systems.zuora.accounts.values()
    parents = {a.get("parentId") for a in accounts}
    return next(
        a
        for a in accounts
        if a["status"] == "Active"
        and not a.get("parentId")
        and a["id"] not in parents
        and a.get(z_fields.SYNC_TO_NETSUITE) != "No"
        and a.get(z_fields.INTEGRATION_STATUS) != "Ignore"
    )


def unrelated_customer(systems: Any) -> str:
    """A NetSuite customer that this sync never made and that names no Zuora account."""
    return systems.netsuite_client().create_customer(
        {
            "companyName": "Unrelated Ltd",
            "entityId": "CUS-UNREL",
            "subsidiary": {"id": "2"},
            "comments": "Kept by hand",
            "addressBook": {"items": [UNRELATED_LINE]},
        }
    )


def snapshot(systems: Any, internal_id: str) -> dict[str, Any]:
    record = systems.netsuite.customer(internal_id)
    return {
        "companyName": record.get("companyName"),
        "comments": record.get("comments"),
        ns_fields.ZUORA_ID: record.get(ns_fields.ZUORA_ID),
        "lines": [
            (item.get("label"), item["addressBookAddress"].get("addr1"))
            for item in record["addressBook"]["items"]
        ],
        "lastModifiedDate": record.get("lastModifiedDate"),
    }


# -- Zuora -> NetSuite ----------------------------------------------------------------------------
def test_a_stray_integration_id_waits_for_review_and_leaves_the_named_customer_alone(
    systems, run_sync
):
    account = root_account(systems)
    customer_id = unrelated_customer(systems)
    before = snapshot(systems, customer_id)
    with systems.zuora.state_lock:
        systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] = customer_id

    report = run_sync()

    assert report.counts["review"] == 1
    result = AccountResult.objects.get(source_id=account["id"])
    assert result.outcome == "review"
    for named in (account["accountNumber"], account["name"], "CUS-UNREL", "Unrelated Ltd"):
        assert named in result.reason
    assert snapshot(systems, customer_id) == before
    assert not RecordLink.objects.filter(netsuite_internal_id=customer_id).exists()
    assert not RecordLink.objects.filter(zuora_account_id=account["id"]).exists()
    assert systems.netsuite.find_by_external_id(account["id"]) is None  # nor a second customer
    suggestion = MatchSuggestion.objects.get(zuora_account_id=account["id"])
    assert (suggestion.netsuite_internal_id, suggestion.status, suggestion.strong) == (
        customer_id,
        MatchSuggestion.Status.PENDING,
        True,
    )

    match_suggestions_generate()  # the rules' suggestions are made afresh; this one stays
    report = run_sync()  # still waiting: nothing written, nothing created

    assert snapshot(systems, customer_id) == before
    assert AccountResult.objects.filter(source_id=account["id"]).latest("id").outcome == ("review")


def test_a_dry_run_reports_a_stray_integration_id_without_suggesting_anything(systems, run_sync):
    account = root_account(systems)
    customer_id = unrelated_customer(systems)
    with systems.zuora.state_lock:
        systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] = customer_id

    report = run_sync(dry_run=True)

    assert report.counts["review"] == 1
    assert not MatchSuggestion.objects.exists()


def test_an_approved_stray_pair_is_linked_and_keeps_the_customers_other_lines(systems, run_sync):
    account = root_account(systems)
    customer_id = unrelated_customer(systems)
    with systems.zuora.state_lock:
        systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] = customer_id
    run_sync()
    systems.netsuite_client().update_customer(
        customer_id,
        {
            "addressBook": {
                "items": [
                    {
                        **UNRELATED_LINE,
                        "label": "Dock",
                        "defaultBilling": False,
                        "defaultShipping": False,
                    }
                ]
            }
        },
    )

    linked, refused = match_suggestions_approve(
        suggestions=MatchSuggestion.objects.filter(zuora_account_id=account["id"]), user=None
    )
    assert len(linked) == 1 and not refused
    run_sync()

    record = systems.netsuite.customer(customer_id)
    assert record["companyName"] == account["name"]
    labels = [item.get("label") for item in record["addressBook"]["items"]]
    assert "Dock" in labels  # a user's line the linked customer had is kept
    assert systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] == customer_id


def test_a_rejected_stray_pair_gets_a_new_customer_and_the_named_one_stays_untouched(
    systems, run_sync
):
    account = root_account(systems)
    customer_id = unrelated_customer(systems)
    with systems.zuora.state_lock:
        systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] = customer_id
    run_sync()
    before = snapshot(systems, customer_id)
    match_suggestions_reject(
        suggestions=MatchSuggestion.objects.filter(zuora_account_id=account["id"]), user=None
    )

    run_sync()

    link = RecordLink.objects.get(zuora_account_id=account["id"])
    assert link.netsuite_internal_id != customer_id
    assert snapshot(systems, customer_id) == before
    assert systems.zuora.accounts[account["id"]][z_fields.INTEGRATION_ID] == (
        link.netsuite_internal_id
    )


# -- NetSuite -> Zuora ----------------------------------------------------------------------------
def test_a_stray_zuora_id_field_waits_for_review_and_leaves_the_named_account_alone(
    systems, run_sync
):
    SyncPreferencesFactory(netsuite_master=True)
    made = systems.zuora_client().create_account(
        {
            "name": "Someone Else Inc",
            "accountNumber": "A-ELSE",
            "currency": "USD",
            "billCycleDay": 1,
            "notes": "Kept by hand",
            "billToContact": {"firstName": "Else", "lastName": "Where", "city": "Boise"},
        },
        idempotency_key="someone-else",
    )
    zuora_id = made["accountId"]
    customer_id = systems.netsuite_client().create_customer(
        {
            "companyName": "Pointing Co",
            "entityId": "CUS-POINT",
            "subsidiary": {"id": "2"},
            ns_fields.SEND_TO_ZUORA: True,
            ns_fields.ZUORA_ID: zuora_id,
            "addressBook": {"items": [UNRELATED_LINE]},
        }
    )
    account_before = dict(systems.zuora.accounts[zuora_id])
    contact_before = dict(systems.zuora.contacts[account_before["billToId"]])
    accounts_before = len(systems.zuora.accounts)

    report = run_sync()

    assert report.counts["review"] == 1
    result = AccountResult.objects.get(source_id=customer_id)
    assert result.outcome == "review"
    for named in ("CUS-POINT", "Pointing Co", "A-ELSE", "Someone Else Inc"):
        assert named in result.reason
    assert systems.zuora.accounts[zuora_id] == account_before
    assert systems.zuora.contacts[account_before["billToId"]] == contact_before
    assert len(systems.zuora.accounts) == accounts_before
    assert not RecordLink.objects.exists()
    assert MatchSuggestion.objects.get(netsuite_internal_id=customer_id).zuora_account_id == (
        zuora_id
    )
