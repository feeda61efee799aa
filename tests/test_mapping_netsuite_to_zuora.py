"""NetSuite customer -> Zuora account: one case per rule of sync-rules.md."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connectors.netsuite import fields as ns
from connectors.zuora import fields as zu
from syncadmin.mapping import (
    MappingError,
    MappingOptions,
    NetSuiteLookups,
    NumberMode,
    ZuoraLookups,
    account_payload,
    account_update,
)
from syncadmin.mapping.netsuite_to_zuora import shared_contact_warning

MISSING = object()  # expected: the key is not in the payload at all

BILLING_LINE = {
    "defaultBilling": True,
    "defaultShipping": False,
    "label": "HQ",
    "addressBookAddress": {
        "addressee": "Ada King Lovelace",
        "attention": "Accounts payable",
        "addr1": "1 Main St",
        "addr2": "Suite 2",
        "city": "Springfield",
        "state": "CA",
        "zip": "94000",
        "country": "US",
        "addrPhone": "+1 555 0199",
    },
}
SHIPPING_LINE = {
    "defaultBilling": False,
    "defaultShipping": True,
    "label": "Warehouse",
    "addressBookAddress": {
        "addressee": "Grace Hopper",
        "addr1": "2 High St",
        "city": "London",
        "zip": "SW1A 1AA",
        "country": "GB",
    },
}
OTHER_LINE = {
    "defaultBilling": False,
    "defaultShipping": False,
    "label": "Old office",
    "addressBookAddress": {"addressee": "Nobody Here", "country": "FR"},
}

CUSTOMER: dict[str, Any] = {
    "id": "107",
    "entityId": "CUST-107",
    "companyName": "Acme Corp",
    "isPerson": False,
    "email": "ap@acme.test",
    "phone": "+1 555 0100",
    "fax": "+1 555 0111",
    "vatRegNumber": "GB999888777",
    "comments": "Key account",
    "currency": {"id": "2", "refName": "EUR"},
    "terms": {"id": "10", "refName": "Net 30"},
    "parent": {"id": "100"},
    ns.ZUORA_BILL_CYCLE_DAY: "15",
    ns.ZUORA_BATCH: "Batch7",
    ns.ZUORA_PAYMENT_TERM: "Net 45",
    "addressBook": {"items": [OTHER_LINE, BILLING_LINE, SHIPPING_LINE]},
}

ZUORA = ZuoraLookups(
    currencies=frozenset({"USD", "EUR", "GBP"}),
    payment_terms=frozenset({"Net 30", "Net 45", "Due Upon Receipt"}),
)
NETSUITE = NetSuiteLookups(
    currencies={"USD": "1", "EUR": "2", "GBP": "3", "JPY": "4"},
    terms={"Net 30": "10", "Net 99": "12"},
    subsidiaries={},
    default_currency_id="1",
)
INDIVIDUAL = {"isPerson": True, "firstName": "Ada", "lastName": "Lovelace", "companyName": None}


def build(changes=None, *, lines=None, is_create=True, parent_account_id=None, **opts):
    """Map CUSTOMER with top-level changes (None deletes) and optionally other address lines."""
    customer = copy.deepcopy(CUSTOMER)
    for key, value in (changes or {}).items():
        if value is None:
            customer.pop(key, None)
        else:
            customer[key] = value
    if lines is not None:
        customer["addressBook"] = {"items": copy.deepcopy(lines)}
    return account_payload(
        customer,
        options=MappingOptions(**opts),
        lookups=ZUORA,
        netsuite=NETSUITE,
        parent_account_id=parent_account_id,
        is_create=is_create,
    )


def dig(payload: Any, path: str) -> Any:
    for part in path.split("."):
        payload = payload.get(part, MISSING) if isinstance(payload, dict) else MISSING
        if payload is MISSING:
            return MISSING
    return payload


def with_address(line: dict, **address: Any) -> dict:
    line = copy.deepcopy(line)
    line["addressBookAddress"].update(address)
    line["addressBookAddress"] = {k: v for k, v in line["addressBookAddress"].items() if v}
    return line


# (id, build kwargs, path, expected)
CASES = [
    # --- name
    ("name-from-companyName", {}, "name", "Acme Corp"),
    ("name-individual-first-last", {"changes": INDIVIDUAL}, "name", "Ada Lovelace"),
    (
        "name-individual-beats-companyName",
        {"changes": {**INDIVIDUAL, "companyName": "Lovelace Consulting"}},
        "name",
        "Ada Lovelace",
    ),
    # --- account number per preference + update behaviour
    ("number-source-number", {}, "accountNumber", "CUST-107"),
    (
        "number-source-name",
        {"number_mode": NumberMode.SOURCE_NAME},
        "accountNumber",
        "Acme Corp",
    ),
    (
        "number-zuora-auto",
        {"number_mode": NumberMode.DESTINATION_AUTO},
        "accountNumber",
        MISSING,
    ),
    ("number-update-not-allowed", {"is_create": False}, "accountNumber", MISSING),
    (
        "number-update-allowed",
        {"is_create": False, "update_number": True},
        "accountNumber",
        "CUST-107",
    ),
    # --- notes, cross references
    ("notes-from-comments", {}, "notes", "Key account"),
    ("customer-id-from-entityId", {}, zu.CUSTOMER_ID, "CUST-107"),
    ("integration-id-from-internal-id", {}, zu.INTEGRATION_ID, "107"),
    # --- hierarchy
    ("parent-linked-zuora-account", {"parent_account_id": "zp-1"}, "parentId", "zp-1"),
    (
        "parent-ignored-when-hierarchies-off",
        {"parent_account_id": "zp-1", "hierarchies_enabled": False},
        "parentId",
        MISSING,
    ),
    ("parent-none", {}, "parentId", MISSING),
    # --- currency
    ("currency-iso-via-netsuite-id", {}, "currency", "EUR"),
    ("currency-default-when-empty", {"changes": {"currency": None}}, "currency", "USD"),
    (
        "currency-default-preference",
        {"changes": {"currency": None}, "zuora_default_currency": "GBP"},
        "currency",
        "GBP",
    ),
    (
        "currency-empty-on-update-not-sent",
        {"changes": {"currency": None}, "is_create": False},
        "currency",
        MISSING,
    ),
    # --- bill cycle day
    ("bill-cycle-day-from-customer", {}, "billCycleDay", 15),
    (
        "bill-cycle-day-default",
        {"changes": {ns.ZUORA_BILL_CYCLE_DAY: None}},
        "billCycleDay",
        1,
    ),
    (
        "bill-cycle-day-default-preference",
        {"changes": {ns.ZUORA_BILL_CYCLE_DAY: None}, "default_bill_cycle_day": 28},
        "billCycleDay",
        28,
    ),
    ("bill-cycle-day-31-ok", {"changes": {ns.ZUORA_BILL_CYCLE_DAY: 31}}, "billCycleDay", 31),
    (
        "bill-cycle-day-empty-on-update-not-sent",
        {"changes": {ns.ZUORA_BILL_CYCLE_DAY: ""}, "is_create": False},
        "billCycleDay",
        MISSING,
    ),
    # --- batch
    ("batch-from-customer", {}, "batch", "Batch7"),
    ("batch-default", {"changes": {ns.ZUORA_BATCH: None}}, "batch", "Batch1"),
    (
        "batch-default-preference",
        {"changes": {ns.ZUORA_BATCH: None}, "default_batch": "Batch12"},
        "batch",
        "Batch12",
    ),
    ("batch-50-ok", {"changes": {ns.ZUORA_BATCH: "Batch50"}}, "batch", "Batch50"),
    # --- payment term
    ("payment-term-from-netsuite-terms", {}, "paymentTerm", "Net 30"),
    (
        "payment-term-from-custom-field",
        {"changes": {"terms": None}},
        "paymentTerm",
        "Net 45",
    ),
    (
        "payment-term-default",
        {
            "changes": {"terms": None, ns.ZUORA_PAYMENT_TERM: None},
            "default_payment_term": "Due Upon Receipt",
        },
        "paymentTerm",
        "Due Upon Receipt",
    ),
    (
        "payment-term-empty-on-update-not-sent",
        {"changes": {"terms": None, ns.ZUORA_PAYMENT_TERM: None}, "is_create": False},
        "paymentTerm",
        MISSING,
    ),
    # --- bill-to contact from the default billing line
    ("bill-to-first-name-first-word", {}, "billToContact.firstName", "Ada"),
    ("bill-to-last-name-rest", {}, "billToContact.lastName", "King Lovelace"),
    ("bill-to-email-from-customer", {}, "billToContact.workEmail", "ap@acme.test"),
    ("bill-to-phone-from-addrPhone", {}, "billToContact.workPhone", "+1 555 0199"),
    ("bill-to-address1", {}, "billToContact.address1", "1 Main St"),
    ("bill-to-address2", {}, "billToContact.address2", "Suite 2"),
    ("bill-to-city", {}, "billToContact.city", "Springfield"),
    ("bill-to-state", {}, "billToContact.state", "CA"),
    ("bill-to-zip", {}, "billToContact.zipCode", "94000"),
    ("bill-to-country-full-name", {}, "billToContact.country", "United States"),
    ("bill-to-fax-from-customer", {}, "billToContact.fax", "+1 555 0111"),
    ("sold-to-fax-from-customer", {}, "soldToContact.fax", "+1 555 0111"),
    ("empty-fax-not-sent", {"changes": {"fax": ""}}, "billToContact.fax", MISSING),
    # --- contact descriptions, on create only (a Zuora user's later description stays)
    ("bill-to-description-on-create", {}, "billToContact.description", "Bill To Contact"),
    ("sold-to-description-on-create", {}, "soldToContact.description", "Sold To Contact"),
    (
        "sold-to-description-when-billing-line-stands-in",
        {"lines": [BILLING_LINE]},
        "soldToContact.description",
        "Sold To Contact",
    ),
    (
        "no-description-on-update",
        {"is_create": False},
        "billToContact.description",
        MISSING,
    ),
    # --- sold-to contact from the default shipping line
    ("sold-to-first-name", {}, "soldToContact.firstName", "Grace"),
    ("sold-to-last-name", {}, "soldToContact.lastName", "Hopper"),
    ("sold-to-country-full-name", {}, "soldToContact.country", "United Kingdom"),
    ("sold-to-phone-falls-back-to-customer", {}, "soldToContact.workPhone", "+1 555 0100"),
    ("sold-to-email-from-customer", {}, "soldToContact.workEmail", "ap@acme.test"),
    ("sold-to-no-state-when-absent", {}, "soldToContact.state", MISSING),
    (
        "sold-to-from-billing-when-no-shipping-line",
        {"lines": [BILLING_LINE]},
        "soldToContact.address1",
        "1 Main St",
    ),
    # --- nulls and empties never sent
    ("null-comments-not-sent", {"changes": {"comments": None}}, "notes", MISSING),
    ("empty-comments-not-sent", {"changes": {"comments": ""}}, "notes", MISSING),
    ("empty-email-not-sent", {"changes": {"email": ""}}, "billToContact.workEmail", MISSING),
    (
        "empty-addr2-not-sent",
        {"lines": [with_address(BILLING_LINE, addr2="")]},
        "billToContact.address2",
        MISSING,
    ),
    (
        "no-phone-anywhere-not-sent",
        {"changes": {"phone": None}},
        "soldToContact.workPhone",
        MISSING,
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "path", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(kwargs, path, expected):
    payload, _ = build(**kwargs)
    actual = dig(payload, path)
    if expected is MISSING:
        assert actual is MISSING
    else:
        assert actual == expected


@pytest.mark.parametrize(
    "lines",
    [
        [BILLING_LINE],
        [{**BILLING_LINE, "defaultShipping": True}],
    ],
    ids=["no-shipping-line", "one-line-default-for-both"],
)
def test_two_identical_contacts_when_only_one_line(lines):
    payload, warnings = build(lines=lines)
    bill_to, sold_to = dict(payload["billToContact"]), dict(payload["soldToContact"])
    assert (bill_to.pop("description"), sold_to.pop("description")) == (
        "Bill To Contact",
        "Sold To Contact",
    )
    assert bill_to == sold_to
    assert payload["soldToContact"]["lastName"] == "King Lovelace"
    assert payload["billToContact"] is not payload["soldToContact"]  # two Zuora contacts
    assert warnings == []


@pytest.mark.parametrize(
    ("lines", "contact_key", "warning"),
    [
        (
            [with_address(BILLING_LINE, addressee="Cher"), SHIPPING_LINE],
            "billToContact",
            "Bill To addressee 'Cher' has no last name",
        ),
        (
            [BILLING_LINE, with_address(SHIPPING_LINE, addressee="Prince")],
            "soldToContact",
            "Sold To addressee 'Prince' has no last name",
        ),
    ],
    ids=["bill-to-one-word", "sold-to-one-word"],
)
def test_one_word_addressee_used_for_both_names_with_warning(lines, contact_key, warning):
    payload, warnings = build(lines=lines)
    word = warning.split("'")[1]
    assert payload[contact_key]["firstName"] == word
    assert payload[contact_key]["lastName"] == word
    assert len(warnings) == 1
    assert warning in warnings[0]


def test_shipping_line_without_addressee_uses_billing_name_with_warning():
    payload, warnings = build(lines=[BILLING_LINE, with_address(SHIPPING_LINE, addressee=None)])
    assert (payload["soldToContact"]["firstName"], payload["soldToContact"]["lastName"]) == (
        "Ada",
        "King Lovelace",
    )
    assert payload["soldToContact"]["city"] == "London"
    assert warnings == ["Sold To address has no addressee; used the billing addressee's name."]


def test_full_create_payload():
    payload, warnings = build(parent_account_id="zp-1")
    assert warnings == []
    assert payload == {
        "name": "Acme Corp",
        "accountNumber": "CUST-107",
        "notes": "Key account",
        "parentId": "zp-1",
        "currency": "EUR",
        "billCycleDay": 15,
        "batch": "Batch7",
        "paymentTerm": "Net 30",
        zu.CUSTOMER_ID: "CUST-107",
        zu.INTEGRATION_ID: "107",
        "billToContact": {
            "firstName": "Ada",
            "lastName": "King Lovelace",
            "workEmail": "ap@acme.test",
            "workPhone": "+1 555 0199",
            "address1": "1 Main St",
            "address2": "Suite 2",
            "city": "Springfield",
            "state": "CA",
            "zipCode": "94000",
            "country": "United States",
            "fax": "+1 555 0111",
            "description": "Bill To Contact",
        },
        "soldToContact": {
            "firstName": "Grace",
            "lastName": "Hopper",
            "workEmail": "ap@acme.test",
            "workPhone": "+1 555 0100",
            "address1": "2 High St",
            "city": "London",
            "zipCode": "SW1A 1AA",
            "country": "United Kingdom",
            "fax": "+1 555 0111",
            "description": "Sold To Contact",
        },
    }


@pytest.mark.parametrize("is_create", [True, False], ids=["create", "update"])
def test_tax_registration_numbers_never_reach_zuora(is_create):
    payload, _ = build(
        {"taxRegistration": {"items": [{"taxRegistrationNumber": "FR1"}]}}, is_create=is_create
    )
    text = json.dumps(payload)
    assert "GB999888777" not in text and "FR1" not in text
    for key in ("vatRegNumber", "taxRegistration", "taxRegion", "taxInfo"):
        assert key not in text


def test_an_update_never_rewrites_the_descriptions_set_on_create():
    created, _ = build()
    updated, _ = build(is_create=False)
    assert account_update(created, updated) == {}


# (id, build kwargs, code, field, message fragment)
ERRORS = [
    (
        "no-default-billing-line",
        {"lines": [SHIPPING_LINE, OTHER_LINE]},
        "MISSING_BILL_TO",
        "addressBook",
        "NetSuite customer CUST-107 has no default billing address",
    ),
    (
        "no-address-book",
        {"changes": {"addressBook": None}},
        "MISSING_BILL_TO",
        "addressBook",
        "has no default billing address",
    ),
    (
        "billing-line-without-addressee",
        {"lines": [with_address(BILLING_LINE, addressee=""), SHIPPING_LINE]},
        "MISSING_ADDRESSEE",
        "addressee",
        "The default billing address of NetSuite customer CUST-107 has no addressee",
    ),
    (
        "bill-cycle-day-0",
        {"changes": {ns.ZUORA_BILL_CYCLE_DAY: "0"}},
        "INVALID_BILL_CYCLE_DAY",
        ns.ZUORA_BILL_CYCLE_DAY,
        "Bill cycle day '0' is not a day between 1 and 31",
    ),
    (
        "bill-cycle-day-32",
        {"changes": {ns.ZUORA_BILL_CYCLE_DAY: "32"}},
        "INVALID_BILL_CYCLE_DAY",
        ns.ZUORA_BILL_CYCLE_DAY,
        "Bill cycle day '32'",
    ),
    (
        "bill-cycle-day-not-a-number",
        {"changes": {ns.ZUORA_BILL_CYCLE_DAY: "fifth"}},
        "INVALID_BILL_CYCLE_DAY",
        ns.ZUORA_BILL_CYCLE_DAY,
        "Bill cycle day 'fifth'",
    ),
    (
        "bill-cycle-day-bad-default",
        {"changes": {ns.ZUORA_BILL_CYCLE_DAY: None}, "default_bill_cycle_day": 0},
        "INVALID_BILL_CYCLE_DAY",
        ns.ZUORA_BILL_CYCLE_DAY,
        "Bill cycle day '0'",
    ),
    (
        "batch-0",
        {"changes": {ns.ZUORA_BATCH: "Batch0"}},
        "INVALID_BATCH",
        ns.ZUORA_BATCH,
        "Batch 'Batch0' is not one of Batch1 to Batch50",
    ),
    (
        "batch-51",
        {"changes": {ns.ZUORA_BATCH: "Batch51"}},
        "INVALID_BATCH",
        ns.ZUORA_BATCH,
        "Batch 'Batch51'",
    ),
    (
        "batch-wrong-case",
        {"changes": {ns.ZUORA_BATCH: "batch7"}},
        "INVALID_BATCH",
        ns.ZUORA_BATCH,
        "Batch 'batch7'",
    ),
    (
        "batch-bad-default",
        {"changes": {ns.ZUORA_BATCH: None}, "default_batch": "Nightly"},
        "INVALID_BATCH",
        ns.ZUORA_BATCH,
        "Batch 'Nightly'",
    ),
    (
        "currency-not-enabled-in-zuora",
        {"changes": {"currency": {"id": "4"}}},
        "UNKNOWN_CURRENCY",
        "currency",
        "Currency 'JPY' is not enabled in Zuora",
    ),
    (
        "currency-id-unknown-in-netsuite",
        {"changes": {"currency": {"id": "999"}}},
        "UNKNOWN_CURRENCY",
        "currency",
        "NetSuite currency id 999",
    ),
    (
        "default-currency-not-in-zuora",
        {"changes": {"currency": None}, "zuora_default_currency": "CHF"},
        "UNKNOWN_CURRENCY",
        "currency",
        "Currency 'CHF' is not enabled in Zuora",
    ),
    (
        "term-unknown-in-zuora",
        {"changes": {"terms": {"id": "12"}}},
        "UNKNOWN_PAYMENT_TERM",
        "paymentTerm",
        "Payment term 'Net 99' does not exist in Zuora; add the term in Zuora or change the "
        "customer's terms in NetSuite.",
    ),
    (
        "term-custom-field-unknown-in-zuora",
        {"changes": {"terms": None, ns.ZUORA_PAYMENT_TERM: "Net 7"}},
        "UNKNOWN_PAYMENT_TERM",
        "paymentTerm",
        "Payment term 'Net 7' does not exist in Zuora",
    ),
    (
        "term-id-unknown-in-netsuite",
        {"changes": {"terms": {"id": "555"}}},
        "UNKNOWN_PAYMENT_TERM",
        "terms",
        "NetSuite term id 555",
    ),
    (
        "no-name-at-all",
        {"changes": {"companyName": None}},
        "MISSING_NAME",
        "companyName",
        "NetSuite customer CUST-107 has neither a company name nor a first/last name",
    ),
    (
        "unknown-country-code",
        {"lines": [with_address(BILLING_LINE, country="XX")]},
        "UNKNOWN_COUNTRY",
        "country",
        "Country 'XX'",
    ),
    (
        "too-long-name",
        {"changes": {"companyName": "x" * 256}},
        "VALUE_TOO_LONG",
        "name",
        "at most 255",
    ),
    (
        "too-long-account-number",
        {"changes": {"entityId": "n" * 51}},
        "VALUE_TOO_LONG",
        "accountNumber",
        "at most 50",
    ),
    (
        "too-long-city",
        {"lines": [with_address(BILLING_LINE, city="c" * 41)]},
        "VALUE_TOO_LONG",
        "city",
        "billToContact 'city' is 41 characters long but Zuora accepts at most 40",
    ),
    (
        "too-long-zip",
        {"lines": [BILLING_LINE, with_address(SHIPPING_LINE, zip="9" * 21)]},
        "VALUE_TOO_LONG",
        "zipCode",
        "soldToContact 'zipCode' is 21 characters long",
    ),
    (
        "too-long-fax",
        {"changes": {"fax": "5" * 41}},
        "VALUE_TOO_LONG",
        "fax",
        "billToContact 'fax' is 41 characters long but Zuora accepts at most 40",
    ),
    (
        "too-long-email",
        {"changes": {"email": "e" * 76 + "@x.io"}},
        "VALUE_TOO_LONG",
        "workEmail",
        "at most 80",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "code", "field", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_validation_error(kwargs, code, field, message):
    with pytest.raises(MappingError) as caught:
        build(**kwargs)
    assert caught.value.code == code
    assert caught.value.field == field
    assert message in str(caught.value)


PREVIOUS, _ = build()

# (id, change to apply to a copy of PREVIOUS, expected body of the one update call)
UPDATES = [
    ("nothing-changed", {}, {}),
    ("account-field-only", {"notes": "New note"}, {"notes": "New note"}),
    (
        "bill-to-only",
        {"billToContact": {**PREVIOUS["billToContact"], "city": "Shelbyville"}},
        {"billToContact": {"city": "Shelbyville"}},
    ),
    (
        "sold-to-only",
        {"soldToContact": {**PREVIOUS["soldToContact"], "workPhone": "+44 1"}},
        {"soldToContact": {"workPhone": "+44 1"}},
    ),
    (
        "account-and-contact-in-one-body",
        {"notes": "New", "billToContact": {**PREVIOUS["billToContact"], "city": "Ogdenville"}},
        {"notes": "New", "billToContact": {"city": "Ogdenville"}},
    ),
    (
        "fax-rides-in-both-contacts",
        {
            "billToContact": {**PREVIOUS["billToContact"], "fax": "+1 555 0222"},
            "soldToContact": {**PREVIOUS["soldToContact"], "fax": "+1 555 0222"},
        },
        {"billToContact": {"fax": "+1 555 0222"}, "soldToContact": {"fax": "+1 555 0222"}},
    ),
    (
        "removed-value-is-not-a-change",
        {"notes": None},
        {},
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [s[1:] for s in UPDATES], ids=[s[0] for s in UPDATES]
)
def test_account_update(change, expected):
    current = copy.deepcopy(PREVIOUS)
    for key, value in change.items():
        if value is None:
            current.pop(key)
        else:
            current[key] = value
    assert account_update(PREVIOUS, current) == expected


def test_account_update_without_previous_is_everything():
    body = account_update(None, PREVIOUS)
    assert body["name"] == "Acme Corp"
    assert body["billToContact"] == PREVIOUS["billToContact"]
    assert body["soldToContact"] == PREVIOUS["soldToContact"]


# When the Zuora account's Sold To is its Bill To contact itself ("same as Bill To"): (id, change
# to a copy of PREVIOUS, expected body, whether a warning says the Sold To was not written)
SHARED_CONTACT = [
    (
        "bill-to-change-is-sent",
        {"billToContact": {**PREVIOUS["billToContact"], "city": "Shelbyville"}},
        {"billToContact": {"city": "Shelbyville"}},
        False,
    ),
    (
        "sold-to-change-is-never-sent",
        {"soldToContact": {**PREVIOUS["soldToContact"], "city": "Capital City"}},
        {},
        True,
    ),
    (
        "sold-to-equal-to-bill-to-needs-no-warning",
        {
            "billToContact": {**PREVIOUS["billToContact"], "city": "Ogdenville"},
            "soldToContact": {**PREVIOUS["billToContact"], "city": "Ogdenville"},
        },
        {"billToContact": {"city": "Ogdenville"}},
        False,
    ),
]


@pytest.mark.parametrize(
    ("change", "expected", "warned"),
    [s[1:] for s in SHARED_CONTACT],
    ids=[s[0] for s in SHARED_CONTACT],
)
def test_account_update_when_sold_to_is_the_bill_to_contact(change, expected, warned):
    current = {**copy.deepcopy(PREVIOUS), **change}
    assert account_update(PREVIOUS, current, sold_to_is_bill_to=True) == expected
    warning = shared_contact_warning(PREVIOUS, current, sold_to_is_bill_to=True)
    assert (warning is not None) == warned
    assert shared_contact_warning(PREVIOUS, current, sold_to_is_bill_to=False) is None


@pytest.mark.parametrize(
    "contact",
    [
        {"address2": None},
        {"state": None},
        {"workPhone": None},
    ],
    ids=["no-addr2", "no-state", "no-phone"],
)
def test_an_address_field_empty_in_netsuite_never_blanks_the_zuora_contact(contact):
    current = copy.deepcopy(PREVIOUS)
    for key in contact:
        current["billToContact"].pop(key)
    assert account_update(PREVIOUS, current) == {}
