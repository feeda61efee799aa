"""The sandboxes' own custom fields, which added mappings read and write, behave like the
vendors': Zuora checks picklists and dates, NetSuite checks list references and dates."""

from __future__ import annotations

import pytest

from connectors.http import ApiError


def test_zuora_keeps_a_tier_from_its_picklist_and_refuses_another(systems):
    client = systems.zuora_client()
    account = next(iter(client.iter_accounts(page_size=1)))

    client.update_account(account["id"], {"Tier__c": "Gold", "RenewalDate__c": "2027-03-01"})
    with pytest.raises(ApiError):
        client.update_account(account["id"], {"Tier__c": "Platinum"})

    stored = systems.zuora.accounts[account["id"]]
    assert (stored["Tier__c"], stored["RenewalDate__c"]) == ("Gold", "2027-03-01")
    read = client.get_account(account["id"])
    assert read["Tier__c"] == "Gold"


def test_netsuite_writes_a_category_by_id_and_reads_it_with_its_name(systems):
    client = systems.netsuite_client()
    (customer_id,) = systems.netsuite.seed(customers=1)

    client.update_customer(
        str(customer_id),
        {
            "category": {"id": "3"},
            "custentity_region": "EMEA",
            "custentity_renewal_date": "2027-03-01",
        },
    )
    with pytest.raises(ApiError):
        client.update_customer(str(customer_id), {"category": {"id": "99"}})

    record = client.get_customer(str(customer_id), expand=False)
    assert record["category"] == {"id": "3", "refName": "Gold Partner"}
    assert record["custentity_region"] == "EMEA"
    assert record["custentity_renewal_date"] == "2027-03-01"


def test_netsuite_lists_customer_categories_through_suiteql(systems):
    rows = list(systems.netsuite_client().suiteql("SELECT id, name FROM customercategory"))

    assert [(r["id"], r["name"]) for r in rows][2] == ("3", "Gold Partner")


def test_seeded_zuora_accounts_carry_tiers_and_regions_to_map(systems):
    accounts = list(systems.zuora_client().iter_accounts(page_size=40))

    assert {a.get("Tier__c") for a in accounts} == {"Gold", "Silver", "Bronze", None}
    assert {a["Region__c"] for a in accounts} <= {"Americas", "EMEA", "APAC"}
