"""The sync owns its two address lines and nothing else, in both directions: through the engine,
against both sandboxes over real HTTP."""

from __future__ import annotations

from typing import Any

from connectors.netsuite import fields as ns_fields
from connectors.zuora import fields as z_fields
from syncadmin.models import AccountResult, RecordLink
from tests.factories import SyncPreferencesFactory

WAREHOUSE = {
    "addressee": "Acme Warehouse",
    "addr1": "500 Dock Road",
    "addr2": "Gate 4",
    "city": "Reno",
    "state": "NV",
    "zip": "89501",
    "country": "US",
    "addrPhone": "+1 775 555 0100",
}


def synced_account(systems: Any) -> dict[str, Any]:
    """An active account the first run created in NetSuite, with both contacts."""
    link = RecordLink.objects.filter(origin=RecordLink.Origin.CREATED).order_by("id").first()
    assert link is not None
    return systems.zuora.accounts[link.zuora_account_id]


def lines_of(systems: Any, account_id: str) -> list[dict[str, Any]]:
    link = RecordLink.objects.get(zuora_account_id=account_id)
    return systems.netsuite.customer(link.netsuite_internal_id)["addressBook"]["items"]


def line(lines: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(item for item in lines if item.get("label") == label)


def add_user_line(systems: Any, account_id: str, *, default_shipping: bool = False) -> None:
    """A NetSuite user adds a ship-to address of their own (a PATCH that names no line)."""
    link = RecordLink.objects.get(zuora_account_id=account_id)
    systems.netsuite_client().update_customer(
        link.netsuite_internal_id,
        {
            "addressBook": {
                "items": [
                    {
                        "label": "Warehouse",
                        "defaultBilling": False,
                        "defaultShipping": default_shipping,
                        "addressBookAddress": WAREHOUSE,
                    }
                ]
            }
        },
    )


# -- Zuora -> NetSuite ----------------------------------------------------------------------------
def test_a_ship_to_line_a_netsuite_user_added_survives_a_zuora_address_change(systems, run_sync):
    run_sync()
    account = synced_account(systems)
    add_user_line(systems, account["id"])
    systems.zuora_client().update_contact(account["billToId"], {"address1": "77 Moved Street"})

    report = run_sync()

    assert report.counts["updated"] == 1
    lines = lines_of(systems, account["id"])
    assert len(lines) == 3
    warehouse = line(lines, "Warehouse")["addressBookAddress"]
    assert {k: warehouse.get(k) for k in WAREHOUSE} == WAREHOUSE
    bill_to = line(lines, ns_fields.ADDRESS_LABEL_BILL_TO)
    assert bill_to["addressBookAddress"]["addr1"] == "77 Moved Street"
    assert bill_to["defaultBilling"] is True


def test_a_default_shipping_flag_a_user_moved_to_their_line_stays_there(systems, run_sync):
    run_sync()
    account = synced_account(systems)
    add_user_line(systems, account["id"], default_shipping=True)
    systems.zuora_client().update_contact(account["soldToId"], {"city": "Tacoma"})

    run_sync()

    lines = lines_of(systems, account["id"])
    assert line(lines, "Warehouse")["defaultShipping"] is True
    assert line(lines, "Warehouse")["addressBookAddress"]["city"] == "Reno"
    sold_to = line(lines, ns_fields.ADDRESS_LABEL_SOLD_TO)
    assert sold_to["addressBookAddress"]["city"] == "Tacoma"
    assert sold_to["defaultShipping"] is False


def test_a_zuora_contact_without_addr2_state_or_phone_does_not_blank_them_on_netsuite(
    systems, run_sync
):
    run_sync()
    account = synced_account(systems)
    client = systems.zuora_client()
    client.update_contact(
        account["billToId"],
        {
            "address2": "Floor 3",
            "state": "OR",
            "country": "United States",
            "workPhone": "+1 503 555 0199",
        },
    )
    run_sync()
    before = line(lines_of(systems, account["id"]), ns_fields.ADDRESS_LABEL_BILL_TO)
    assert before["addressBookAddress"]["addr2"] == "Floor 3"
    assert before["addressBookAddress"]["state"] == "OR"
    assert before["addressBookAddress"]["addrPhone"] == "+1 503 555 0199"

    client.update_contact(
        account["billToId"],
        {"address2": None, "state": None, "workPhone": None, "city": "Salem"},
    )
    run_sync()

    after = line(lines_of(systems, account["id"]), ns_fields.ADDRESS_LABEL_BILL_TO)
    assert after["addressBookAddress"]["city"] == "Salem"
    assert after["addressBookAddress"]["addr2"] == "Floor 3"
    assert after["addressBookAddress"]["state"] == "OR"
    assert after["addressBookAddress"]["addrPhone"] == "+1 503 555 0199"


def test_our_lines_keep_their_line_ids_across_zuora_address_changes(systems, run_sync):
    run_sync()
    account = synced_account(systems)
    first = {item["label"]: item["id"] for item in lines_of(systems, account["id"])}
    client = systems.zuora_client()

    for street in ("1 First Ave", "2 Second Ave"):
        client.update_contact(account["billToId"], {"address1": street})
        client.update_contact(account["soldToId"], {"address1": street})
        run_sync()

    lines = lines_of(systems, account["id"])
    assert {item["label"]: item["id"] for item in lines} == first
    assert line(lines, ns_fields.ADDRESS_LABEL_SOLD_TO)["addressBookAddress"]["addr1"] == (
        "2 Second Ave"
    )
    link = RecordLink.objects.get(zuora_account_id=account["id"])
    assert link.netsuite_bill_to_line == str(first[ns_fields.ADDRESS_LABEL_BILL_TO])
    assert link.netsuite_sold_to_line == str(first[ns_fields.ADDRESS_LABEL_SOLD_TO])


def test_a_line_of_ours_a_user_relabelled_is_still_updated_in_place(systems, run_sync):
    run_sync()
    account = synced_account(systems)
    client = systems.zuora_client()
    client.update_contact(account["billToId"], {"city": "Bend"})
    run_sync()  # learns the line ids
    link = RecordLink.objects.get(zuora_account_id=account["id"])
    systems.netsuite.sql(
        "UPDATE customeraddressbook SET label = 'Head office' WHERE internalid = ?",
        (int(link.netsuite_bill_to_line),),
    )
    client.update_contact(account["billToId"], {"city": "Eugene"})

    run_sync()

    lines = lines_of(systems, account["id"])
    assert len(lines) == 2
    head_office = line(lines, "Head office")
    assert str(head_office["id"]) == link.netsuite_bill_to_line
    assert head_office["addressBookAddress"]["city"] == "Eugene"


# -- NetSuite -> Zuora ----------------------------------------------------------------------------
def ns_customer_with_two_lines(systems: Any) -> str:
    """A NetSuite customer ready for Zuora whose billing and shipping addresses differ."""
    client = systems.netsuite_client()
    return client.create_customer(
        {
            "companyName": "Two Sites Ltd",
            "subsidiary": {"id": "2"},
            "email": "ap@twosites.test",
            ns_fields.SEND_TO_ZUORA: True,
            "addressBook": {
                "items": [
                    {
                        "label": "HQ",
                        "defaultBilling": True,
                        "defaultShipping": False,
                        "addressBookAddress": {
                            "addressee": "Bea Bill",
                            "addr1": "1 Billing Way",
                            "city": "Austin",
                            "state": "TX",
                            "zip": "73301",
                            "country": "US",
                        },
                    },
                    {
                        "label": "Warehouse",
                        "defaultBilling": False,
                        "defaultShipping": True,
                        "addressBookAddress": {**WAREHOUSE, "addressee": "Sam Ship"},
                    },
                ]
            },
        }
    )


def test_a_sold_to_that_is_the_bill_to_contact_is_not_overwritten_with_the_shipping_address(
    systems, run_sync
):
    SyncPreferencesFactory(netsuite_master=True)
    customer_id = ns_customer_with_two_lines(systems)
    made = systems.zuora_client().create_account(
        {
            "name": "Two Sites Ltd",
            "currency": "USD",
            "billCycleDay": 1,
            "billToContact": {"firstName": "Bea", "lastName": "Bill", "city": "Dallas"},
            "soldToSameAsBillTo": True,
            z_fields.INTEGRATION_ID: customer_id,
        },
        idempotency_key="same-as-bill-to",
    )
    account = systems.zuora.accounts[made["accountId"]]
    assert account["billToId"] == account["soldToId"]

    run_sync()

    result = AccountResult.objects.get(source_id=customer_id)
    assert result.outcome == "linked"
    contact = systems.zuora.contacts[account["billToId"]]
    assert (contact["firstName"], contact["address1"], contact["city"]) == (
        "Bea",
        "1 Billing Way",
        "Austin",
    )
    assert any("same contact as its Bill To" in w for w in result.warnings)


def test_an_empty_netsuite_address_field_does_not_blank_the_zuora_contact(systems, run_sync):
    SyncPreferencesFactory(netsuite_master=True)
    customer_id = ns_customer_with_two_lines(systems)
    run_sync()
    link = RecordLink.objects.get(netsuite_internal_id=customer_id)
    sold_to = systems.zuora.contacts[systems.zuora.accounts[link.zuora_account_id]["soldToId"]]
    assert (sold_to["address2"], sold_to["state"], sold_to["workPhone"]) == (
        "Gate 4",
        "NV",
        "+1 775 555 0100",
    )
    systems.netsuite.sql(
        "UPDATE customeraddressbookentityaddress SET addr2 = NULL, state = NULL,"
        " addrphone = NULL, city = 'Sparks',"
        " lastmodifieddate = strftime('%Y-%m-%d %H:%M:%f000', 'now')"
        " WHERE nkey = (SELECT addressbookaddress FROM customeraddressbook"
        " WHERE entity = ? AND label = 'Warehouse')",
        (int(customer_id),),
    )

    run_sync()

    sold_to = systems.zuora.contacts[systems.zuora.accounts[link.zuora_account_id]["soldToId"]]
    assert sold_to["city"] == "Sparks"
    assert (sold_to["address2"], sold_to["state"], sold_to["workPhone"]) == (
        "Gate 4",
        "NV",
        "+1 775 555 0100",
    )
    bill_to = systems.zuora.contacts[systems.zuora.accounts[link.zuora_account_id]["billToId"]]
    assert bill_to["address1"] == "1 Billing Way"
