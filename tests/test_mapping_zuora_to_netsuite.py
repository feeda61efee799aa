"""Zuora account -> NetSuite customer: one case per rule of sync-rules.md."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connectors.netsuite import fields as ns
from connectors.zuora import fields as zu
from syncadmin.mapping import (
    VOLATILE_FIELDS,
    MappingError,
    MappingOptions,
    NetSuiteLookups,
    NumberMode,
    countries,
    customer_payload,
)
from syncadmin.mapping.zuora_to_netsuite import NEVER_SENT, address_book_update

MISSING = object()  # expected: the key is not in the payload at all

BILL = "addressBook.items.0"
SOLD = "addressBook.items.1"
BILL_ADDR = f"{BILL}.addressBookAddress"
SOLD_ADDR = f"{SOLD}.addressBookAddress"

ACCOUNT: dict[str, Any] = {
    "id": "8a80aa01",
    "accountNumber": "A-001",
    "name": "Acme Corp",
    "status": "Active",
    "currency": "USD",
    "crmId": "crm-1",
    "batch": "Batch3",
    "billCycleDay": 15,
    "autoPay": False,
    "paymentTerm": "Net 30",
    "notes": "Key account",
    "createdDate": "2024-01-01T09:00:00-08:00",
    "updatedDate": "2024-02-01T09:00:00-08:00",
    "salesRepName": "Dana Whitfield",
    "customerServiceRepName": "Lena Okafor",
    "purchaseOrderNumber": "PO-4471",
    "mrr": 1234.5,
    "taxExemptStatus": "Yes",
    "taxExemptCertificateID": "EXM-20931",
    "vATId": "DE123456789",
    zu.CUSTOMER_TYPE: "Company",
    zu.SUBSIDIARY: "Parent : US",
    "billTo": {
        "id": "c-bill",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "workEmail": "ada@acme.test",
        "workPhone": "+1 555 0100",
        "address1": "1 Main St",
        "address2": "Suite 2",
        "city": "Springfield",
        "state": "CA",
        "postalCode": "94000",
        "country": "United States",
        "taxRegion": "TAXREG-123",
    },
    "soldTo": {
        "id": "c-sold",
        "firstName": "Grace",
        "lastName": "Hopper",
        "workEmail": "grace@acme.test",
        "workPhone": "+44 20 7946 0000",
        "address1": "2 High St",
        "city": "London",
        "state": "Greater London",
        "zipCode": "SW1A 1AA",
        "country": "United Kingdom",
        "taxRegion": "GB-VAT-999",
    },
}

LOOKUPS = NetSuiteLookups(
    currencies={"USD": "1", "EUR": "2", "GBP": "3"},
    terms={"Net 30": "10", "Due on receipt": "11"},
    subsidiaries={"Parent : US": "5", "Parent : UK": "6"},
    default_currency_id="1",
)


def build(account_changes=None, contact_changes=None, *, is_create=True, parent_id=None, **opts):
    """Map ACCOUNT with top-level changes (None deletes) and {"billTo": {...}} contact changes."""
    account = copy.deepcopy(ACCOUNT)
    for key, value in (account_changes or {}).items():
        if value is None:
            account.pop(key, None)
        else:
            account[key] = value
    for contact_key, changes in (contact_changes or {}).items():
        for key, value in changes.items():
            account[contact_key][key] = value
    return customer_payload(
        account,
        options=MappingOptions(**opts),
        lookups=LOOKUPS,
        parent_id=parent_id,
        is_create=is_create,
    )


def dig(payload: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(payload, list):
            payload = payload[int(part)] if int(part) < len(payload) else MISSING
        elif isinstance(payload, dict):
            payload = payload.get(part, MISSING)
        if payload is MISSING:
            return MISSING
    return payload


# (id, build kwargs, path, expected)
CASES = [
    # --- customer number ("Customer Account Number Mapping" + update behaviour)
    ("number-source-number", {}, "entityId", "A-001"),
    ("number-source-name", {"number_mode": NumberMode.SOURCE_NAME}, "entityId", "Acme Corp"),
    (
        "number-destination-auto",
        {"number_mode": NumberMode.DESTINATION_AUTO},
        "entityId",
        MISSING,
    ),
    ("number-update-not-allowed", {"is_create": False}, "entityId", MISSING),
    ("number-update-allowed", {"is_create": False, "update_number": True}, "entityId", "A-001"),
    (
        "number-update-allowed-source-name",
        {"is_create": False, "update_number": True, "number_mode": NumberMode.SOURCE_NAME},
        "entityId",
        "Acme Corp",
    ),
    (
        "number-update-auto-never",
        {"is_create": False, "update_number": True, "number_mode": NumberMode.DESTINATION_AUTO},
        "entityId",
        MISSING,
    ),
    # --- names and notes
    ("companyName-from-name", {}, "companyName", "Acme Corp"),
    ("comments-from-notes", {}, "comments", "Key account"),
    # --- company vs individual
    ("company-isPerson-false", {}, "isPerson", False),
    ("company-no-firstName", {}, "firstName", MISSING),
    ("company-no-lastName", {}, "lastName", MISSING),
    (
        "individual-isPerson-true",
        {"account_changes": {zu.CUSTOMER_TYPE: "Individual"}},
        "isPerson",
        True,
    ),
    (
        "individual-firstName-from-bill-to",
        {"account_changes": {zu.CUSTOMER_TYPE: "Individual"}},
        "firstName",
        "Ada",
    ),
    (
        "individual-lastName-from-bill-to",
        {"account_changes": {zu.CUSTOMER_TYPE: "Individual"}},
        "lastName",
        "Lovelace",
    ),
    (
        "no-customer-type-is-company",
        {"account_changes": {zu.CUSTOMER_TYPE: None}},
        "isPerson",
        False,
    ),
    # --- email / phone from the bill-to contact
    ("email-from-bill-to", {}, "email", "ada@acme.test"),
    ("phone-from-bill-to", {}, "phone", "+1 555 0100"),
    # --- currency
    ("currency-iso-lookup", {"account_changes": {"currency": "EUR"}}, "currency", {"id": "2"}),
    (
        "currency-multi-currency-off-uses-base",
        {"account_changes": {"currency": "EUR"}, "netsuite_multi_currency": False},
        "currency",
        {"id": "1"},
    ),
    (
        "currency-multi-currency-off-ignores-unknown",
        {"account_changes": {"currency": "JPY"}, "netsuite_multi_currency": False},
        "currency",
        {"id": "1"},
    ),
    # --- terms
    ("terms-by-name", {}, "terms", {"id": "10"}),
    ("terms-absent-not-sent", {"account_changes": {"paymentTerm": None}}, "terms", MISSING),
    # --- subsidiary
    ("subsidiary-per-account", {"default_subsidiary": "Parent : UK"}, "subsidiary", {"id": "5"}),
    (
        "subsidiary-default-when-account-has-none",
        {"account_changes": {zu.SUBSIDIARY: None}, "default_subsidiary": "Parent : UK"},
        "subsidiary",
        {"id": "6"},
    ),
    ("subsidiary-not-one-world", {"netsuite_one_world": False}, "subsidiary", MISSING),
    (
        "subsidiary-not-one-world-none-needed",
        {"account_changes": {zu.SUBSIDIARY: None}, "netsuite_one_world": False},
        "subsidiary",
        MISSING,
    ),
    ("subsidiary-create-only", {"is_create": False}, "subsidiary", MISSING),
    # --- department / class / location defaults
    ("department-default-on-create", {"default_department_id": "7"}, "department", {"id": "7"}),
    ("class-default-on-create", {"default_class_id": "8"}, "class", {"id": "8"}),
    ("location-default-on-create", {"default_location_id": "9"}, "location", {"id": "9"}),
    (
        "department-not-on-update",
        {"default_department_id": "7", "is_create": False},
        "department",
        MISSING,
    ),
    ("class-unset-not-sent", {}, "class", MISSING),
    # --- hierarchy
    ("parent-when-hierarchies-on", {"parent_id": "99"}, "parent", {"id": "99"}),
    (
        "parent-ignored-when-hierarchies-off",
        {"parent_id": "99", "hierarchies_enabled": False},
        "parent",
        MISSING,
    ),
    ("parent-none", {}, "parent", MISSING),
    # --- external id (recovery key)
    ("externalId-on-create", {}, "externalId", "8a80aa01"),
    ("externalId-not-on-update", {"is_create": False}, "externalId", MISSING),
    # --- informational custom fields
    ("info-zuora-id", {}, ns.ZUORA_ID, "8a80aa01"),
    ("info-account-number", {}, ns.ZUORA_ACCOUNT_NUMBER, "A-001"),
    ("info-crm-id", {}, ns.ZUORA_CRM_ID, "crm-1"),
    ("info-created", {}, ns.ZUORA_CREATED, "2024-01-01T09:00:00-08:00"),
    ("info-updated", {}, ns.ZUORA_UPDATED, "2024-02-01T09:00:00-08:00"),
    ("info-bill-cycle-day", {}, ns.ZUORA_BILL_CYCLE_DAY, "15"),
    ("info-batch", {}, ns.ZUORA_BATCH, "Batch3"),
    ("info-auto-pay-false-is-sent", {}, ns.ZUORA_AUTO_PAY, False),
    ("info-auto-pay-true", {"account_changes": {"autoPay": True}}, ns.ZUORA_AUTO_PAY, True),
    ("info-payment-term", {}, ns.ZUORA_PAYMENT_TERM, "Net 30"),
    ("info-bill-to-id", {}, ns.ZUORA_BILL_TO_ID, "c-bill"),
    ("info-bill-to-email", {}, ns.ZUORA_BILL_TO_EMAIL, "ada@acme.test"),
    ("info-sold-to-id", {}, ns.ZUORA_SOLD_TO_ID, "c-sold"),
    ("info-sold-to-email", {}, ns.ZUORA_SOLD_TO_EMAIL, "grace@acme.test"),
    ("info-informational-on-update-too", {"is_create": False}, ns.ZUORA_ID, "8a80aa01"),
    # --- sales, service, purchase order, MRR: copies in custom fields
    ("sales-rep", {}, ns.ZUORA_SALES_REP, "Dana Whitfield"),
    ("customer-service-rep", {}, ns.ZUORA_CUSTOMER_SERVICE_REP, "Lena Okafor"),
    ("purchase-order-number", {}, ns.ZUORA_PURCHASE_ORDER_NUMBER, "PO-4471"),
    (
        "empty-sales-rep-not-sent",
        {"account_changes": {"salesRepName": ""}},
        ns.ZUORA_SALES_REP,
        MISSING,
    ),
    ("mrr-as-an-amount", {}, ns.ZUORA_MRR, 1234.5),
    ("mrr-to-the-cent", {"account_changes": {"mrr": 99.996}}, ns.ZUORA_MRR, 100.0),
    ("mrr-as-text", {"account_changes": {"mrr": "42.1"}}, ns.ZUORA_MRR, 42.1),
    ("mrr-zero-is-sent", {"account_changes": {"mrr": 0}}, ns.ZUORA_MRR, 0.0),
    ("mrr-absent-not-sent", {"account_changes": {"mrr": None}}, ns.ZUORA_MRR, MISSING),
    # --- tax exemption: a copy of status and certificate, and NetSuite's Taxable box
    ("tax-exempt-status", {}, ns.ZUORA_TAX_EXEMPT_STATUS, "Yes"),
    ("tax-exempt-certificate-id", {}, ns.ZUORA_TAX_EXEMPT_CERTIFICATE_ID, "EXM-20931"),
    ("exempt-is-not-taxable", {}, "isTaxable", False),
    (
        "not-exempt-is-taxable",
        {"account_changes": {"taxExemptStatus": "No"}},
        "isTaxable",
        True,
    ),
    (
        "pending-verification-leaves-taxable-alone",
        {"account_changes": {"taxExemptStatus": "PendingVerification"}},
        "isTaxable",
        MISSING,
    ),
    (
        "no-exempt-status-leaves-taxable-alone",
        {"account_changes": {"taxExemptStatus": ""}},
        "isTaxable",
        MISSING,
    ),
    ("taxable-on-update-too", {"is_create": False}, "isTaxable", False),
    # --- never inactivated: a Canceled account leaves the NetSuite customer active
    (
        "canceled-account-not-inactivated",
        {"account_changes": {"status": "Canceled"}},
        "isInactive",
        MISSING,
    ),
    # --- address book lines and labels
    ("bill-to-line-default-billing", {}, f"{BILL}.defaultBilling", True),
    ("bill-to-line-not-default-shipping", {}, f"{BILL}.defaultShipping", False),
    ("bill-to-line-label", {}, f"{BILL}.label", ns.ADDRESS_LABEL_BILL_TO),
    ("sold-to-line-not-default-billing", {}, f"{SOLD}.defaultBilling", False),
    ("sold-to-line-default-shipping", {}, f"{SOLD}.defaultShipping", True),
    ("sold-to-line-label", {}, f"{SOLD}.label", ns.ADDRESS_LABEL_SOLD_TO),
    ("addressee-is-company-name", {}, f"{SOLD_ADDR}.addressee", "Acme Corp"),
    ("attention-is-contact-name", {}, f"{BILL_ADDR}.attention", "Ada Lovelace"),
    ("attention-sold-to-name", {}, f"{SOLD_ADDR}.attention", "Grace Hopper"),
    (
        "attention-first-name-only",
        {"contact_changes": {"billTo": {"lastName": None}}},
        f"{BILL_ADDR}.attention",
        "Ada",
    ),
    ("addr1", {}, f"{BILL_ADDR}.addr1", "1 Main St"),
    ("addr2", {}, f"{BILL_ADDR}.addr2", "Suite 2"),
    ("city", {}, f"{BILL_ADDR}.city", "Springfield"),
    ("zip-from-postalCode", {}, f"{BILL_ADDR}.zip", "94000"),
    ("zip-from-zipCode", {}, f"{SOLD_ADDR}.zip", "SW1A 1AA"),
    ("addrPhone-from-work-phone", {}, f"{SOLD_ADDR}.addrPhone", "+44 20 7946 0000"),
    # --- countries as ISO codes
    ("country-us-code", {}, f"{BILL_ADDR}.country", "US"),
    ("country-gb-code", {}, f"{SOLD_ADDR}.country", "GB"),
    (
        "country-name-case-insensitive",
        {"contact_changes": {"billTo": {"country": "GERMANY", "state": "Bayern"}}},
        f"{BILL_ADDR}.country",
        "DE",
    ),
    # --- state only for US
    ("state-kept-for-us", {}, f"{BILL_ADDR}.state", "CA"),
    (
        "us-state-name-becomes-usps-code",
        {"contact_changes": {"billTo": {"state": "California"}}},
        f"{BILL_ADDR}.state",
        "CA",
    ),
    (
        "us-state-name-any-case-and-spacing",
        {"contact_changes": {"billTo": {"state": "  new   YORK "}}},
        f"{BILL_ADDR}.state",
        "NY",
    ),
    (
        "us-state-lowercase-code",
        {"contact_changes": {"billTo": {"state": "tx"}}},
        f"{BILL_ADDR}.state",
        "TX",
    ),
    (
        "district-of-columbia",
        {"contact_changes": {"billTo": {"state": "Washington, D.C."}}},
        f"{BILL_ADDR}.state",
        "DC",
    ),
    (
        "us-territory",
        {"contact_changes": {"billTo": {"state": "Puerto Rico"}}},
        f"{BILL_ADDR}.state",
        "PR",
    ),
    (
        "us-virgin-islands-with-dots",
        {"contact_changes": {"billTo": {"state": "U.S. Virgin Islands"}}},
        f"{BILL_ADDR}.state",
        "VI",
    ),
    (
        "military-state",
        {"contact_changes": {"billTo": {"state": "Armed Forces Europe"}}},
        f"{BILL_ADDR}.state",
        "AE",
    ),
    (
        "non-us-state-name-not-converted",
        {"contact_changes": {"soldTo": {"country": "Canada", "state": "Ontario"}}},
        f"{SOLD_ADDR}.state",
        MISSING,
    ),
    ("state-dropped-outside-us", {}, f"{SOLD_ADDR}.state", MISSING),
    (
        "state-dropped-without-country",
        {"contact_changes": {"billTo": {"country": None}}},
        f"{BILL_ADDR}.state",
        MISSING,
    ),
    # --- nulls and empties never sent
    ("null-notes-not-sent", {"account_changes": {"notes": None}}, "comments", MISSING),
    ("empty-notes-not-sent", {"account_changes": {"notes": ""}}, "comments", MISSING),
    ("blank-notes-not-sent", {"account_changes": {"notes": "   "}}, "comments", MISSING),
    (
        "null-email-not-sent",
        {"contact_changes": {"billTo": {"workEmail": None}}},
        "email",
        MISSING,
    ),
    (
        "empty-addr2-not-sent",
        {"contact_changes": {"billTo": {"address2": ""}}},
        f"{BILL_ADDR}.addr2",
        MISSING,
    ),
    ("null-crm-id-not-sent", {"account_changes": {"crmId": None}}, ns.ZUORA_CRM_ID, MISSING),
    (
        "no-contacts-no-address-book",
        {"account_changes": {"billTo": None, "soldTo": None}},
        "addressBook",
        MISSING,
    ),
    # --- limits: exactly at the limit still passes
    ("companyName-at-limit", {"account_changes": {"name": "x" * 83}}, "companyName", "x" * 83),
]


@pytest.mark.parametrize(
    ("kwargs", "path", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(kwargs, path, expected):
    actual = dig(build(**kwargs), path)
    if expected is MISSING:
        assert actual is MISSING
    else:
        assert actual == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"is_create": False},
        {"account_changes": {"notes": "", "crmId": None, "paymentTerm": ""}},
        {
            "account_changes": {
                "salesRepName": "",
                "customerServiceRepName": "",
                "purchaseOrderNumber": "",
                "mrr": None,
                "taxExemptStatus": "",
                "taxExemptCertificateID": "",
            }
        },
        {
            "contact_changes": {
                "billTo": {"address2": "", "city": None},
                "soldTo": {"workEmail": ""},
            }
        },
    ],
    ids=["create", "update", "empty-account-fields", "empty-sales-and-tax", "empty-contact-fields"],
)
def test_never_sends_none_or_empty(kwargs):
    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            assert value is not None and value != ""

    walk(build(**kwargs))


def test_tax_registration_never_sent():
    text = json.dumps(build())
    assert "TAXREG-123" not in text
    assert "GB-VAT-999" not in text
    assert "taxRegion" not in text


@pytest.mark.parametrize("is_create", [True, False], ids=["create", "update"])
@pytest.mark.parametrize(
    "status", ["Yes", "No", "PendingVerification"], ids=["exempt", "taxable", "pending"]
)
def test_tax_reg_number_is_never_sent_even_with_a_vat_id_and_a_certificate(status, is_create):
    # The incumbent copies the certificate id and the VAT id into Tax Reg. Number; we never do.
    payload = build({"taxExemptStatus": status}, is_create=is_create)
    assert not NEVER_SENT & set(payload)
    assert "DE123456789" not in json.dumps(payload)  # the VAT id goes nowhere
    assert payload.get(ns.ZUORA_TAX_EXEMPT_CERTIFICATE_ID) == "EXM-20931"  # only its copy


@pytest.mark.parametrize("status", ["Canceled", "Draft", "Active"])
def test_no_status_ever_inactivates_the_customer(status):
    assert "isInactive" not in build({"status": status}, is_create=False)


def test_address_book_has_exactly_the_two_zuora_lines():
    lines = build()["addressBook"]["items"]
    assert [line["label"] for line in lines] == [
        ns.ADDRESS_LABEL_BILL_TO,
        ns.ADDRESS_LABEL_SOLD_TO,
    ]
    assert lines[0]["addressBookAddress"] == {
        "addressee": "Acme Corp",
        "attention": "Ada Lovelace",
        "addr1": "1 Main St",
        "addr2": "Suite 2",
        "city": "Springfield",
        "state": "CA",
        "zip": "94000",
        "country": "US",
        "addrPhone": "+1 555 0100",
    }


def test_volatile_fields_are_the_zuora_updated_date():
    assert frozenset({ns.ZUORA_UPDATED}) == VOLATILE_FIELDS


LONG = "y" * 200

# (id, build kwargs, code, field, message fragment)
ERRORS = [
    (
        "unknown-currency",
        {"account_changes": {"currency": "JPY"}},
        "UNKNOWN_CURRENCY",
        "currency",
        "Currency 'JPY' does not exist in NetSuite",
    ),
    (
        "unknown-payment-term",
        {"account_changes": {"paymentTerm": "Net 99"}},
        "UNKNOWN_PAYMENT_TERM",
        "paymentTerm",
        "Payment term 'Net 99' does not exist in NetSuite; add the term in NetSuite or change "
        "the account's payment term in Zuora.",
    ),
    (
        "missing-subsidiary-on-one-world",
        {"account_changes": {zu.SUBSIDIARY: None}},
        "MISSING_SUBSIDIARY",
        zu.SUBSIDIARY,
        "has no subsidiary and no default subsidiary is set",
    ),
    (
        "unknown-subsidiary",
        {"account_changes": {zu.SUBSIDIARY: "Parent : Mars"}},
        "UNKNOWN_SUBSIDIARY",
        zu.SUBSIDIARY,
        "Subsidiary 'Parent : Mars' does not exist in NetSuite",
    ),
    (
        "unknown-default-subsidiary",
        {"account_changes": {zu.SUBSIDIARY: None}, "default_subsidiary": "Nowhere"},
        "UNKNOWN_SUBSIDIARY",
        zu.SUBSIDIARY,
        "Subsidiary 'Nowhere' does not exist in NetSuite",
    ),
    (
        "missing-name",
        {"account_changes": {"name": None}},
        "MISSING_NAME",
        "name",
        "Zuora account A-001 has no name",
    ),
    (
        "unknown-country",
        {"contact_changes": {"billTo": {"country": "Atlantis"}}},
        "UNKNOWN_COUNTRY",
        "country",
        "Country 'Atlantis'",
    ),
    (
        "unknown-us-state",
        {"contact_changes": {"billTo": {"state": "Calfornia"}}},
        "UNKNOWN_US_STATE",
        "state",
        "State 'Calfornia' on contact c-bill is not a US state",
    ),
    (
        "too-long-companyName",
        {"account_changes": {"name": "x" * 84}},
        "VALUE_TOO_LONG",
        "companyName",
        "'companyName' is 84 characters long but NetSuite accepts at most 83",
    ),
    (
        "too-long-entityId",
        {"account_changes": {"accountNumber": "n" * 84}},
        "VALUE_TOO_LONG",
        "entityId",
        "at most 83",
    ),
    (
        "too-long-email",
        {"contact_changes": {"billTo": {"workEmail": "e" * 250 + "@x.io"}}},
        "VALUE_TOO_LONG",
        "email",
        "at most 254",
    ),
    (
        "too-long-phone",
        {"contact_changes": {"billTo": {"workPhone": "1" * 33}}},
        "VALUE_TOO_LONG",
        "phone",
        "at most 32",
    ),
    (
        "too-long-comments",
        {"account_changes": {"notes": "c" * 1000}},
        "VALUE_TOO_LONG",
        "comments",
        "at most 999",
    ),
    (
        "too-long-addr1",
        {"contact_changes": {"soldTo": {"address1": "a" * 151}}},
        "VALUE_TOO_LONG",
        "addr1",
        "at most 150",
    ),
    (
        "too-long-addr2",
        {"contact_changes": {"soldTo": {"address2": "a" * 151}}},
        "VALUE_TOO_LONG",
        "addr2",
        "at most 150",
    ),
    (
        "too-long-city",
        {"contact_changes": {"soldTo": {"city": "c" * 51}}},
        "VALUE_TOO_LONG",
        "city",
        "at most 50",
    ),
    (
        "too-long-zip",
        {"contact_changes": {"soldTo": {"zipCode": "9" * 37}}},
        "VALUE_TOO_LONG",
        "zip",
        "at most 36",
    ),
    (
        "too-long-attention",
        {"contact_changes": {"soldTo": {"firstName": LONG}}},
        "VALUE_TOO_LONG",
        "attention",
        "at most 150",
    ),
    (
        "too-long-addrPhone",
        {"contact_changes": {"soldTo": {"workPhone": "1" * 33}}},
        "VALUE_TOO_LONG",
        "addrPhone",
        "at most 32",
    ),
    (
        "too-long-informational-text",
        {"account_changes": {"crmId": "c" * 301}},
        "VALUE_TOO_LONG",
        ns.ZUORA_CRM_ID,
        "at most 300",
    ),
    (
        "too-long-sales-rep",
        {"account_changes": {"salesRepName": "s" * 301}},
        "VALUE_TOO_LONG",
        ns.ZUORA_SALES_REP,
        "at most 300",
    ),
    (
        "mrr-not-an-amount",
        {"account_changes": {"mrr": "n/a"}},
        "INVALID_MRR",
        "mrr",
        "Zuora account A-001 has an MRR of 'n/a', which is not an amount",
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


def test_subsidiary_not_validated_on_update():
    # Not sent on update, so a stale subsidiary name must not block field updates.
    payload = build({zu.SUBSIDIARY: "Parent : Mars"}, is_create=False)
    assert "subsidiary" not in payload


@pytest.mark.parametrize(
    ("value", "code", "name"),
    [
        ("United States", "US", "United States"),
        ("united states of america", "US", "United States"),
        ("us", "US", "United States"),
        ("Korea, Republic of", "KR", "Korea, Republic of"),
        ("Vietnam", "VN", "Viet Nam"),
        ("Côte d'Ivoire", "CI", "Côte d'Ivoire"),
        ("Atlantis", None, None),
        ("", None, None),
    ],
    ids=["name", "alias", "code", "comma-name", "alias-vietnam", "accented", "unknown", "empty"],
)
def test_country_lookup_both_ways(value, code, name):
    assert countries.to_code(value) == code
    assert countries.to_name(value) == name


def test_country_table_is_complete():
    assert len(countries.NAME_BY_CODE) == 249  # every ISO 3166-1 alpha-2 code


# --- updating our two lines in place -------------------------------------------------------------
BILL_LABEL, SOLD_LABEL = ns.ADDRESS_LABEL_BILL_TO, ns.ADDRESS_LABEL_SOLD_TO
WANTED = build()["addressBook"]


def held(line_id, label, *, billing=False, shipping=False, **address):
    """A line of the customer as NetSuite reads it."""
    item = {"id": line_id, "defaultBilling": billing, "defaultShipping": shipping}
    if label is not None:
        item["label"] = label
    return {**item, "addressBookAddress": address}


OURS_AS_SENT = [
    held(11, BILL_LABEL, billing=True, **WANTED["items"][0]["addressBookAddress"]),
    held(12, SOLD_LABEL, shipping=True, **WANTED["items"][1]["addressBookAddress"]),
]
USERS = held(13, "Warehouse", addr1="500 Dock Road", city="Reno")


def with_address(item, **changes):
    """`item` (a wanted or held line) with its address changed; None removes a field."""
    address = {**item["addressBookAddress"], **changes}
    return {**item, "addressBookAddress": {k: v for k, v in address.items() if v is not None}}


def wanted_with(bill=None, sold=None):
    bill_item, sold_item = WANTED["items"]
    return {
        "items": [
            with_address(bill_item, **(bill or {})),
            with_address(sold_item, **(sold or {})),
        ]
    }


# (id, wanted, current lines, known ids, sent, adopt_defaults, expected items, expected ids)
LINE_UPDATES = [
    (
        "nothing-differs-nothing-sent",
        WANTED,
        [*OURS_AS_SENT, USERS],
        {},
        WANTED,
        False,
        None,
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
    ),
    (
        "changed-field-sent-by-line-id-alone",
        wanted_with(bill={"addr1": "9 New St"}),
        [*OURS_AS_SENT, USERS],
        {},
        WANTED,
        False,
        [{"id": 11, "addressBookAddress": {"addr1": "9 New St"}}],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
    ),
    (
        "empty-zuora-values-never-sent-over-held-ones",
        wanted_with(bill={"addr2": None, "state": None, "addrPhone": None, "city": "Salem"}),
        OURS_AS_SENT,
        {},
        WANTED,
        False,
        [{"id": 11, "addressBookAddress": {"city": "Salem"}}],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
    ),
    (
        "stored-id-wins-over-label-a-user-changed",
        wanted_with(bill={"city": "Eugene"}),
        [
            {**OURS_AS_SENT[0], "label": "Head office"},
            OURS_AS_SENT[1],
            {**USERS, "label": BILL_LABEL},
        ],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
        WANTED,
        False,
        [{"id": 11, "addressBookAddress": {"city": "Eugene"}}],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
    ),
    (
        "default-flag-moved-to-a-users-line-does-not-make-it-ours",
        wanted_with(sold={"city": "Tacoma"}),
        [
            OURS_AS_SENT[0],
            {**OURS_AS_SENT[1], "defaultShipping": False},
            {**USERS, "defaultShipping": True},
        ],
        {},
        WANTED,
        False,
        [{"id": 12, "addressBookAddress": {"city": "Tacoma"}}],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
    ),
    (
        "deleted-line-of-ours-is-added-again-whole",
        WANTED,
        [OURS_AS_SENT[0], USERS],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
        WANTED,
        False,
        [WANTED["items"][1]],
        {BILL_LABEL: "11"},
    ),
    (
        "customer-we-made-never-takes-over-a-users-default-line",
        WANTED,
        [{**USERS, "defaultBilling": True}],
        {},
        None,
        False,
        WANTED["items"],
        {},
    ),
    (
        "linked-customer-adopts-its-default-lines",
        WANTED,
        [
            held(21, "HQ", billing=True, addr1="1 Old Rd"),
            held(22, "Depot", shipping=True, addr1="2 Old Rd"),
            USERS,
        ],
        {},
        None,
        True,
        [
            {"id": 21, "addressBookAddress": WANTED["items"][0]["addressBookAddress"]},
            {"id": 22, "addressBookAddress": WANTED["items"][1]["addressBookAddress"]},
        ],
        {BILL_LABEL: "21", SOLD_LABEL: "22"},
    ),
    (
        "one-default-line-for-both-is-the-bill-to-and-sold-to-gets-a-new-line",
        WANTED,
        [held(21, "HQ", billing=True, shipping=True, addr1="1 Old Rd")],
        {},
        None,
        True,
        [
            {"id": 21, "addressBookAddress": WANTED["items"][0]["addressBookAddress"]},
            WANTED["items"][1],
        ],
        {BILL_LABEL: "21"},
    ),
    (
        "a-users-correction-stays-until-zuora-changes-that-field",
        wanted_with(bill={"addr1": "9 New St"}),
        [with_address(OURS_AS_SENT[0], zip="94001"), OURS_AS_SENT[1]],
        {},
        WANTED,
        False,
        [{"id": 11, "addressBookAddress": {"addr1": "9 New St"}}],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
    ),
    (
        "line-id-as-suiteql-reads-it",
        wanted_with(bill={"addr1": "9 New St"}),
        [
            {**{k: v for k, v in OURS_AS_SENT[0].items() if k != "id"}, "internalId": 11},
            OURS_AS_SENT[1],
        ],
        {},
        WANTED,
        False,
        [{"id": 11, "addressBookAddress": {"addr1": "9 New St"}}],
        {BILL_LABEL: "11", SOLD_LABEL: "12"},
    ),
]


@pytest.mark.parametrize(
    ("wanted", "current", "known", "sent", "adopt", "items", "ids"),
    [c[1:] for c in LINE_UPDATES],
    ids=[c[0] for c in LINE_UPDATES],
)
def test_address_book_update(wanted, current, known, sent, adopt, items, ids):
    book, found = address_book_update(wanted, current, known=known, sent=sent, adopt_defaults=adopt)
    assert book == (None if items is None else {"items": items})
    assert found == ids
