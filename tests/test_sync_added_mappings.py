"""Field mappings admins add, through the engine in both directions, against both sandboxes over
real HTTP: the added fields travel in the one write per record, only when they changed, and a
value the value map lacks fails that record alone with what to do."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.netsuite import fields as ns_fields
from connectors.netsuite.client import DATE_ONLY_FORMAT, customer_selection_query
from connectors.zuora import fields as z_fields
from syncadmin.mapping.added import FieldType, Transform
from syncadmin.models import AccountResult, Direction, RecordLink
from tests.factories import FieldMappingFactory, NameTranslationFactory, SyncPreferencesFactory

NS_WRITES = ("record.customer.upsert", "record.customer.update", "record.customer.create")
ZUORA_WRITES = ("v1.account.create", "v1.account.update", "v1.contact.update")


def ns_writes(systems: Any) -> int:
    return sum(systems.netsuite.calls_to(e) for e in NS_WRITES)


def zuora_writes(systems: Any) -> int:
    return sum(systems.zuora.calls_to(e) for e in ZUORA_WRITES)


def reset_calls(systems: Any) -> None:
    systems.zuora.reset_calls()
    systems.netsuite.reset_calls()


def top_level_active(systems: Any, count: int) -> list[dict[str, Any]]:
    """Active accounts without a parent that sync: they are created whatever else fails."""
    accounts = [
        a
        for a in systems.zuora.accounts.values()
        if a["status"] == "Active"
        and not a.get("parentId")
        and a.get(z_fields.SYNC_TO_NETSUITE) != "No"
        and a.get(z_fields.INTEGRATION_STATUS) != "Ignore"
    ]
    assert len(accounts) >= count
    return sorted(accounts, key=lambda a: a["id"])[:count]


def set_zuora(systems: Any, account: dict[str, Any], **values: Any) -> None:
    with systems.zuora.state_lock:
        systems.zuora.accounts[account["id"]].update(values)


def customer_for(systems: Any, zuora_id: str) -> dict[str, Any]:
    link = RecordLink.objects.get(zuora_account_id=zuora_id)
    return systems.netsuite.customer(link.netsuite_internal_id)


def region_and_tier_mappings() -> None:
    FieldMappingFactory(
        source_field="Region__c",
        source_label="Region",
        destination_field="custentity_region",
        destination_label="Region",
    )
    FieldMappingFactory(
        source_field="Tier__c",
        source_label="Tier",
        destination_field="category",
        destination_label="Category",
        destination_type=FieldType.REFERENCE,
        transform=Transform.VALUE_MAP,
        value_map={"Gold": "3", "Silver": "2"},
    )


# -- Zuora → NetSuite ---------------------------------------------------------------------------
def test_added_fields_and_a_value_map_reach_netsuite_in_the_one_write_per_customer(
    systems, run_sync
):
    gold, silver, platinum = top_level_active(systems, 3)
    set_zuora(systems, gold, Region__c="EMEA", Tier__c="Gold")
    set_zuora(systems, silver, Region__c="APAC", Tier__c="Silver")
    set_zuora(systems, platinum, Region__c="AMER", Tier__c="Platinum")
    region_and_tier_mappings()

    report = run_sync()

    created = report.counts["created"]
    assert ns_writes(systems) == created  # the added fields rode in the create, no second call
    customer = customer_for(systems, gold["id"])
    assert customer["custentity_region"] == "EMEA"
    assert customer["category"]["id"] == "3"
    assert customer_for(systems, silver["id"])["category"]["id"] == "2"
    # The value the map lacks fails that account alone, saying what to do.
    failed = AccountResult.objects.get(source_id=platinum["id"])
    assert failed.outcome == "failed"
    assert failed.error_code == "UNMAPPED_VALUE"
    assert "The value 'Platinum' is not in the value map" in failed.error_message
    assert "Add it to the value map on the Field mappings page" in failed.error_message
    assert not RecordLink.objects.filter(zuora_account_id=platinum["id"]).exists()

    reset_calls(systems)
    run_sync()
    assert ns_writes(systems) == 0  # nothing changed: nothing written

    from tests.test_sync_zuora_to_netsuite import zuora_put

    zuora_put(systems, f"/v1/accounts/{gold['id']}", {"Region__c": "Nordics"})
    reset_calls(systems)
    run_sync()
    assert ns_writes(systems) == 1
    assert customer_for(systems, gold["id"])["custentity_region"] == "Nordics"
    updated = AccountResult.objects.filter(source_id=gold["id"], outcome="updated").latest("pk")
    assert set(updated.changes) == {"custentity_region"}  # only what changed


def test_an_empty_added_field_never_blanks_netsuite(systems, run_sync):
    account = top_level_active(systems, 1)[0]
    set_zuora(systems, account, Region__c="EMEA")
    FieldMappingFactory()
    run_sync()
    from tests.test_sync_zuora_to_netsuite import zuora_put

    zuora_put(systems, f"/v1/accounts/{account['id']}", {"Region__c": "", "notes": "Moved"})
    reset_calls(systems)
    run_sync()

    customer = customer_for(systems, account["id"])
    assert customer["comments"] == "Moved"
    assert customer["custentity_region"] == "EMEA"


def an_hour_later(systems: Any) -> None:
    """As if the last run was an hour ago: every account's last change is then behind the
    watermark's overlap window and settle margin, as on any later day."""
    earlier = datetime.now(UTC) - timedelta(hours=1)
    with systems.zuora.state_lock:
        for account in systems.zuora.accounts.values():
            account["updatedDate"] = earlier


def test_adding_a_mapping_rewrites_nothing_until_the_full_resync(systems, run_sync):
    with systems.zuora.state_lock:  # only three accounts hold a region
        for held in systems.zuora.accounts.values():
            held.pop("Region__c", None)
    accounts = top_level_active(systems, 3)
    for account in accounts:
        set_zuora(systems, account, Region__c="EMEA")
    run_sync()
    an_hour_later(systems)
    FieldMappingFactory()
    reset_calls(systems)

    run_sync()
    assert ns_writes(systems) == 0  # an incremental run looks only at changed accounts

    report = run_sync(full=True)
    assert ns_writes(systems) == report.counts["updated"] == 3
    assert all(customer_for(systems, a["id"])["custentity_region"] == "EMEA" for a in accounts)


def test_a_payment_term_named_differently_in_netsuite_goes_through_the_lookup_table(
    systems, run_sync
):
    systems.netsuite.sql("UPDATE term SET name = '45 Days' WHERE name = 'Net 45'")
    account = top_level_active(systems, 1)[0]
    set_zuora(systems, account, paymentTerm="Net 45")
    NameTranslationFactory(netsuite_name="45 Days")

    run_sync()

    term_id = systems.netsuite.sql("SELECT id FROM term WHERE name = '45 Days'")[0]["id"]
    assert customer_for(systems, account["id"])["terms"]["id"] == str(term_id)


# -- NetSuite → Zuora ---------------------------------------------------------------------------
@pytest.fixture
def ns_master(systems: Any) -> Any:
    systems.netsuite.seed(customers=12, seed=7)
    SyncPreferencesFactory(netsuite_master=True)
    return systems


def syncable_customer_ids(systems: Any) -> list[str]:
    rows = systems.netsuite.sql(
        f"SELECT id FROM customer WHERE parent IS NULL AND isinactive = 'F'"
        f" AND {ns_fields.SEND_TO_ZUORA} = 'T' ORDER BY id"
    )
    return [str(r["id"]) for r in rows]


def account_for(systems: Any, customer_id: str) -> dict[str, Any]:
    link = RecordLink.objects.get(netsuite_internal_id=customer_id)
    with systems.zuora.state_lock:
        account = dict(systems.zuora.accounts[link.zuora_account_id])
        bill_to = dict(systems.zuora.contacts[account["billToId"]])
    return {**account, "billTo": bill_to}


def test_netsuite_fields_reach_a_zuora_custom_field_and_the_bill_to_contact_in_one_call(
    ns_master, run_sync
):
    first, second, unmapped = syncable_customer_ids(ns_master)[:3]
    ns_master.netsuite.sql(
        "UPDATE customer SET custentity_region = 'APAC', phone = '+61 2 5550 1234', category = 3"
        f" WHERE id = {first}"
    )
    ns_master.netsuite.sql(f"UPDATE customer SET category = 2 WHERE id = {second}")
    ns_master.netsuite.sql(f"UPDATE customer SET category = 1 WHERE id = {unmapped}")
    direction = Direction.NETSUITE_TO_ZUORA
    FieldMappingFactory(
        direction=direction, source_field="custentity_region", destination_field="Region__c"
    )
    FieldMappingFactory(
        direction=direction,
        source_field="phone",
        source_label="Phone",
        destination_field="billTo.mobilePhone",
        destination_label="Bill To mobile phone",
    )
    FieldMappingFactory(
        direction=direction,
        source_field="category",
        destination_field="Tier__c",
        transform=Transform.VALUE_MAP,
        value_map={"3": "Gold", "2": "Silver"},
    )

    report = run_sync()

    created = report.counts["created"]
    assert ns_master.zuora.calls_to("v1.account.create") == created
    assert ns_master.zuora.calls_to("v1.account.update") == 0
    assert ns_master.zuora.calls_to("v1.contact.update") == 0
    account = account_for(ns_master, first)
    assert account["Region__c"] == "APAC"
    assert account["Tier__c"] == "Gold"
    assert account["billTo"]["mobilePhone"] == "+61 2 5550 1234"
    assert account_for(ns_master, second)["Tier__c"] == "Silver"
    failed = AccountResult.objects.get(source_id=unmapped)
    assert failed.error_code == "UNMAPPED_VALUE" and "'1'" in failed.error_message

    reset_calls(ns_master)
    run_sync()
    assert zuora_writes(ns_master) == 0

    ns_master.netsuite_client().update_customer(first, {"phone": "+61 2 5550 9999"})
    reset_calls(ns_master)
    run_sync()
    assert ns_master.zuora.calls_to("v1.account.update") == 1  # the contact rides inside it
    assert ns_master.zuora.calls_to("v1.contact.update") == 0
    assert account_for(ns_master, first)["billTo"]["mobilePhone"] == "+61 2 5550 9999"
    updated = AccountResult.objects.filter(source_id=first, outcome="updated").latest("pk")
    assert set(updated.changes) == {"billToContact.mobilePhone"}


def test_adding_a_netsuite_mapping_rewrites_nothing_until_the_full_resync(ns_master, run_sync):
    run_sync()
    ids = syncable_customer_ids(ns_master)[:3]
    # Values already in NetSuite before the mapping exists (no change since the last run).
    ns_master.netsuite.sql(
        f"UPDATE customer SET custentity_region = 'EMEA' WHERE id IN ({', '.join(ids)})"
    )
    # As if the last run was an hour ago: every customer's last change is behind the
    # watermark's overlap window and settle margin.
    every = [r["id"] for r in ns_master.netsuite.sql("SELECT id FROM customer")]
    ns_master.netsuite.set_last_modified(every, datetime.now(UTC) - timedelta(hours=1))
    FieldMappingFactory(
        direction=Direction.NETSUITE_TO_ZUORA,
        source_field="custentity_region",
        destination_field="Region__c",
    )
    reset_calls(ns_master)

    run_sync()
    assert zuora_writes(ns_master) == 0

    report = run_sync(full=True)
    assert ns_master.zuora.calls_to("v1.account.update") == report.counts["updated"] == 3
    assert all(account_for(ns_master, i)["Region__c"] == "EMEA" for i in ids)


def test_the_dry_run_shows_an_added_fields_change_by_its_label_and_writes_nothing(
    systems, run_sync, monkeypatch
):
    from io import StringIO

    from django.core.management import call_command

    from syncadmin.services import runs
    from tests.conftest import FAST_CLIENTS

    original = runs.sync_run_execute
    monkeypatch.setattr(
        "syncadmin.management.commands.sync_customers.sync_run_execute",
        lambda **kwargs: original(**{"client_options": FAST_CLIENTS, **kwargs}),
    )
    account = top_level_active(systems, 1)[0]
    set_zuora(systems, account, Region__c="EMEA")
    FieldMappingFactory()
    run_sync()
    an_hour_later(systems)
    from tests.test_sync_zuora_to_netsuite import zuora_put

    zuora_put(systems, f"/v1/accounts/{account['id']}", {"Region__c": "Nordics"})
    reset_calls(systems)
    out = StringIO()
    # Exit 1: the seeded children of Draft parents fail on purpose.
    with contextlib.suppress(SystemExit):
        call_command("sync_customers", "--dry-run", "--no-progress", stdout=out)

    text = out.getvalue()
    assert f"UPDATED   {account['accountNumber']}" in text
    assert "custentity_region (Region): EMEA -> Nordics" in text
    assert ns_writes(systems) == 0
    assert customer_for(systems, account["id"])["custentity_region"] == "EMEA"


def test_the_customer_read_carries_the_added_netsuite_fields_in_the_same_query(systems):
    from datetime import datetime as dt

    systems.netsuite.seed(customers=3, seed=7)
    systems.netsuite.sql("UPDATE customer SET custentity_region = 'APAC', category = 3, fax = '1'")
    client = systems.netsuite_client()
    client.extra_customer_fields = ("custentity_region", "category", "fax", "x; DROP TABLE t")
    systems.netsuite.reset_calls()

    customers = list(
        client.iter_customers_changed_since(dt(1970, 1, 1, tzinfo=UTC), address_books=False)
    )

    assert len(customers) == 3
    assert all(
        (c["custentity_region"], c["category"], c["fax"]) == ("APAC", "3", "1") for c in customers
    )
    assert systems.netsuite.calls_to("query.suiteql") == 1


def test_check_setup_runs_the_queries_with_the_fields_of_the_added_mappings(systems):
    from syncadmin.models import SetupCheck
    from syncadmin.services.setup_check import setup_check_run

    FieldMappingFactory(
        direction=Direction.NETSUITE_TO_ZUORA,
        source_field="custentity_not_in_netsuite",
        destination_field="Region__c",
    )
    FieldMappingFactory(source_field="Missing__c", destination_field="custentity_tier")

    setup_check_run()

    checks = {f"{c['system']}: {c['name']}": c for c in SetupCheck.objects.get().checks}
    selection = checks["NetSuite: Query: customer selection (NetSuite → Zuora)"]
    assert not selection["ok"]
    assert "custentity_not_in_netsuite" in selection["detail"]
    rows = checks["Zuora: Query: account rows read back after writing (ZOQL)"]
    assert not rows["ok"]
    assert "Missing__c" in rows["detail"]


def test_a_netsuite_date_reaches_zuora_as_an_iso_date_whatever_the_users_date_format(
    ns_master, run_sync
):
    first = syncable_customer_ids(ns_master)[0]
    ns_master.netsuite.sql(
        f"UPDATE customer SET custentity_renewal_date = '2027-01-15' WHERE id = {first}"
    )
    FieldMappingFactory(
        direction=Direction.NETSUITE_TO_ZUORA,
        source_field="custentity_renewal_date",
        source_type=FieldType.DATE,
        destination_field="Region__c",
    )

    run_sync()

    assert account_for(ns_master, first)["Region__c"] == "2027-01-15"
    # SuiteQL answers a raw date in the user's date format ("1/15/2027"): it is asked for ISO.
    query = customer_selection_query(
        datetime.now(UTC),
        extra_columns=["custentity_renewal_date"],
        formats={"custentity_renewal_date": DATE_ONLY_FORMAT},
    )
    assert "TO_CHAR(custentity_renewal_date, 'YYYY-MM-DD') AS custentity_renewal_date" in query


def test_an_emptied_netsuite_field_never_blanks_zuora(ns_master, run_sync):
    first = syncable_customer_ids(ns_master)[0]
    ns_master.netsuite.sql(f"UPDATE customer SET custentity_region = 'APAC' WHERE id = {first}")
    FieldMappingFactory(
        direction=Direction.NETSUITE_TO_ZUORA,
        source_field="custentity_region",
        destination_field="Region__c",
    )
    run_sync()

    ns_master.netsuite_client().update_customer(
        first, {"custentity_region": None, "comments": "Moved"}
    )
    reset_calls(ns_master)
    run_sync()

    account = account_for(ns_master, first)
    assert account["notes"] == "Moved"
    assert account["Region__c"] == "APAC"
    assert ns_master.zuora.calls_to("v1.account.update") == 1
