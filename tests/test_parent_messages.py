"""A child's failure names its parent by number and name, with the root cause, in every run:
the later runs that do not read the parent again say what the run that did found."""

from __future__ import annotations

from connectors.zuora import fields as z_fields
from syncadmin.models import AccountResult
from tests.test_sync_zuora_to_netsuite import syncable, zuora_put


def test_later_runs_keep_the_parents_number_name_and_root_cause(systems, run_sync):
    accounts = syncable(systems)
    parent, child = accounts[0], accounts[1]
    systems.zuora.accounts[parent["id"]][z_fields.SYNC_TO_NETSUITE] = "No"
    systems.zuora.accounts[child["id"]]["parentId"] = parent["id"]
    named = f"{parent['accountNumber']} ({parent['name']})"

    run_sync()
    first = AccountResult.objects.get(source_id=child["id"])
    assert f"Parent account {named} is not in NetSuite: Sync to NetSuite is No" in (
        first.error_message
    )

    zuora_put(systems, f"/v1/accounts/{child['id']}", {"notes": "edited"})
    report = run_sync()

    second = AccountResult.objects.filter(source_id=child["id"]).first()
    assert second.run_id == report.run.id and second.error_code == "PARENT_NOT_SYNCED"
    assert f"Parent account {named} is not in NetSuite: Sync to NetSuite is No (as of the run " in (
        second.error_message
    )
    assert parent["id"] not in second.error_message

    run_sync(trigger="retry", account_ids=[child["id"]])

    retried = AccountResult.objects.filter(source_id=child["id"]).first()
    assert f"Parent account {named} is not in NetSuite: Sync to NetSuite is No" in (
        retried.error_message
    )


def test_a_parent_no_run_recorded_is_read_for_its_number_name_and_reason(systems, run_sync):
    accounts = syncable(systems)
    parent, child = accounts[0], accounts[1]
    systems.zuora.accounts[parent["id"]]["status"] = "Draft"
    run_sync()
    AccountResult.objects.filter(source_id=parent["id"]).delete()  # e.g. history pruned
    zuora_put(systems, f"/v1/accounts/{child['id']}", {"parentId": parent["id"]})

    run_sync()

    failure = AccountResult.objects.filter(source_id=child["id"]).first()
    assert failure.error_code == "PARENT_NOT_SYNCED"
    assert (
        f"Parent account {parent['accountNumber']} ({parent['name']}) is not in NetSuite: "
        "Draft account: only Active accounts sync." in failure.error_message
    )


def test_a_grandchild_names_its_parent_and_the_root_cause_up_the_chain(systems, run_sync):
    accounts = syncable(systems)
    root, child, grandchild = accounts[0], accounts[1], accounts[2]
    systems.zuora.accounts[root["id"]]["status"] = "Draft"
    systems.zuora.accounts[child["id"]]["parentId"] = root["id"]
    systems.zuora.accounts[grandchild["id"]]["parentId"] = child["id"]

    run_sync()

    message = AccountResult.objects.get(source_id=grandchild["id"]).error_message
    assert message.startswith(
        f"Parent account {child['accountNumber']} ({child['name']}) cannot sync, so this "
        "account cannot either. Root cause: Parent account "
        f"{root['accountNumber']} ({root['name']}) is not in NetSuite: Draft account"
    ), message
