"""The rules of the field mappings admins add (syncadmin/mapping/added_fields.py) and the name
lookup tables in the built-in rules: one case per rule."""

from __future__ import annotations

from typing import Any

import pytest

from syncadmin.mapping.added import AddedMapping, FieldType, NameTranslations, Transform
from syncadmin.mapping.added_fields import NETSUITE, ZUORA, added_fields, with_added_fields
from syncadmin.mapping.netsuite_to_zuora import currency, payment_term
from syncadmin.mapping.types import MappingError, MappingOptions, NetSuiteLookups, ZuoraLookups
from syncadmin.mapping.zuora_to_netsuite import currency_ref, subsidiary_ref, terms_ref

Z2N, N2Z = "zuora_to_netsuite", "netsuite_to_zuora"

ACCOUNT = {
    "id": "8a1",
    "accountNumber": "A00000001",
    "name": "Acme",
    "salesRepName": "Dana Reyes",
    "Region__c": "EMEA",
    "Tier__c": "Gold",
    "Seats__c": "1,250",
    "Renewal__c": "2027-03-31",
    "TaxExempt__c": "Yes",
    "Blank__c": "   ",
    "billTo": {"id": "c1", "fax": "+1 555 0100", "description": "Head office"},
    "soldTo": {"id": "c2", "fax": "+1 555 0199"},
}
CUSTOMER = {
    "id": "107",
    "entityId": "CUS-107",
    "fax": "+44 20 7946 0000",
    "category": {"id": "3", "refName": "Gold"},
    "custentity_region": "APAC",
    "custentity_renewal_date": "2027-01-15",
}


def z2n(source: str, destination: str, **kwargs: Any) -> AddedMapping:
    return AddedMapping(direction=Z2N, source_field=source, destination_field=destination, **kwargs)


def n2z(source: str, destination: str, **kwargs: Any) -> AddedMapping:
    return AddedMapping(direction=N2Z, source_field=source, destination_field=destination, **kwargs)


GOLD_TO_3 = {"Gold": "3", "Silver": "2"}

CASES = [
    # (rule, record, mapping, destination system, expected destination fields)
    (
        "copy",
        ACCOUNT,
        z2n("Region__c", "custentity_region"),
        NETSUITE,
        {"custentity_region": "EMEA"},
    ),
    (
        "copy a standard field",
        ACCOUNT,
        z2n("salesRepName", "custentity_sales_rep"),
        NETSUITE,
        {"custentity_sales_rep": "Dana Reyes"},
    ),
    ("copy a contact field", ACCOUNT, z2n("billTo.fax", "fax"), NETSUITE, {"fax": "+1 555 0100"}),
    (
        "value map",
        ACCOUNT,
        z2n(
            "Tier__c",
            "category",
            transform=Transform.VALUE_MAP,
            value_map=GOLD_TO_3,
            destination_type=FieldType.REFERENCE,
        ),
        NETSUITE,
        {"category": {"id": "3"}},
    ),
    (
        "value map ignores case when one key matches",
        {"Tier__c": "gold"},
        z2n("Tier__c", "custentity_tier", transform=Transform.VALUE_MAP, value_map=GOLD_TO_3),
        NETSUITE,
        {"custentity_tier": "3"},
    ),
    (
        "value map of an empty source sends nothing",
        {"Tier__c": ""},
        z2n("Tier__c", "category", transform=Transform.VALUE_MAP, value_map=GOLD_TO_3),
        NETSUITE,
        {},
    ),
    (
        "default when empty",
        ACCOUNT,
        z2n("Blank__c", "custentity_region", transform=Transform.DEFAULT, default="Unassigned"),
        NETSUITE,
        {"custentity_region": "Unassigned"},
    ),
    (
        "default leaves a value alone",
        ACCOUNT,
        z2n("Region__c", "custentity_region", transform=Transform.DEFAULT, default="Unassigned"),
        NETSUITE,
        {"custentity_region": "EMEA"},
    ),
    ("empty never sent", ACCOUNT, z2n("Blank__c", "custentity_region"), NETSUITE, {}),
    ("missing never sent", ACCOUNT, z2n("Nothing__c", "custentity_region"), NETSUITE, {}),
    (
        "text to number",
        ACCOUNT,
        z2n("Seats__c", "custentity_seats", destination_type=FieldType.INTEGER),
        NETSUITE,
        {"custentity_seats": 1250},
    ),
    (
        "text to decimal",
        {"MRR__c": "1200.50"},
        z2n("MRR__c", "custentity_mrr", destination_type=FieldType.DECIMAL),
        NETSUITE,
        {"custentity_mrr": 1200.5},
    ),
    (
        "Yes to boolean",
        ACCOUNT,
        z2n("TaxExempt__c", "custentity_tax_exempt", destination_type=FieldType.BOOLEAN),
        NETSUITE,
        {"custentity_tax_exempt": True},
    ),
    (
        "NetSuite F to boolean",
        {"custentity_flag": "F"},
        n2z("custentity_flag", "Flag__c", destination_type=FieldType.BOOLEAN),
        ZUORA,
        {"Flag__c": False},
    ),
    (
        "boolean to text",
        {"autoPay": True},
        z2n("autoPay", "custentity_auto_pay_text"),
        NETSUITE,
        {"custentity_auto_pay_text": "Yes"},
    ),
    (
        "date as ISO",
        ACCOUNT,
        z2n("Renewal__c", "custentity_renewal_date", destination_type=FieldType.DATE),
        NETSUITE,
        {"custentity_renewal_date": "2027-03-31"},
    ),
    (
        "date-time to date keeps its day",
        {"createdDate": "2026-05-01T23:30:00-08:00"},
        z2n("createdDate", "custentity_created", destination_type=FieldType.DATE),
        NETSUITE,
        {"custentity_created": "2026-05-01"},
    ),
    (
        "reference source reads as its id",
        CUSTOMER,
        n2z("category", "Tier__c", transform=Transform.VALUE_MAP, value_map={"3": "Gold"}),
        ZUORA,
        {"Tier__c": "Gold"},
    ),
    (
        "NetSuite field to a Zuora custom field",
        CUSTOMER,
        n2z("custentity_region", "Region__c"),
        ZUORA,
        {"Region__c": "APAC"},
    ),
    (
        "NetSuite field to a Zuora contact field",
        CUSTOMER,
        n2z("fax", "billTo.fax"),
        ZUORA,
        {"billToContact": {"fax": "+44 20 7946 0000"}},
    ),
    (
        "billToContact path written the same",
        CUSTOMER,
        n2z("fax", "soldToContact.fax"),
        ZUORA,
        {"soldToContact": {"fax": "+44 20 7946 0000"}},
    ),
    (
        "text within the length limit",
        ACCOUNT,
        z2n("Region__c", "custentity_region", max_length=4),
        NETSUITE,
        {"custentity_region": "EMEA"},
    ),
]


@pytest.mark.parametrize(
    ("record", "mapping", "system", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_added_mapping_rule(record, mapping, system, expected):
    assert added_fields(record, [mapping], system=system) == expected


FAILURES = [
    # (rule, record, mapping, code, words the admin reads)
    (
        "unknown value-map value",
        {"Tier__c": "Platinum"},
        z2n(
            "Tier__c",
            "category",
            transform=Transform.VALUE_MAP,
            value_map=GOLD_TO_3,
            label="Zuora Tier → NetSuite Category",
        ),
        "UNMAPPED_VALUE",
        "The value 'Platinum' is not in the value map of the field mapping “Zuora Tier → NetSuite "
        "Category”. Add it to the value map on the Field mappings page",
    ),
    (
        "too long is refused, not cut",
        ACCOUNT,
        z2n("Region__c", "custentity_region", max_length=3, label="Zuora Region → NetSuite Region"),
        "VALUE_TOO_LONG",
        "The value for NetSuite Region is 4 characters long but it accepts at most 3",
    ),
    (
        "text that is not a number",
        {"Seats__c": "many"},
        z2n(
            "Seats__c",
            "custentity_seats",
            destination_type=FieldType.INTEGER,
            label="Zuora Seats → NetSuite Seats",
        ),
        "INVALID_FIELD_VALUE",
        "The value 'many' cannot go into NetSuite Seats, which holds whole",
    ),
    (
        "a fraction into a whole number",
        {"Seats__c": "2.5"},
        z2n("Seats__c", "custentity_seats", destination_type=FieldType.INTEGER),
        "INVALID_FIELD_VALUE",
        "cannot go into custentity_seats",
    ),
    (
        "an unknown boolean spelling",
        {"TaxExempt__c": "Maybe"},
        z2n("TaxExempt__c", "custentity_tax_exempt", destination_type=FieldType.BOOLEAN),
        "INVALID_FIELD_VALUE",
        "which holds yes or no",
    ),
    (
        "a date in a local format",
        {"Renewal__c": "3/4/2027"},
        z2n("Renewal__c", "custentity_renewal_date", destination_type=FieldType.DATE),
        "INVALID_FIELD_VALUE",
        "which holds dates written yyyy-mm-dd",
    ),
    (
        "a reference that is not an id",
        {"Tier__c": "Gold"},
        z2n("Tier__c", "category", destination_type=FieldType.REFERENCE),
        "INVALID_FIELD_VALUE",
        "a NetSuite list value",
    ),
]


@pytest.mark.parametrize(
    ("record", "mapping", "code", "words"),
    [case[1:] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
def test_added_mapping_refuses(record, mapping, code, words):
    with pytest.raises(MappingError) as caught:
        added_fields(record, [mapping], system=NETSUITE)
    assert caught.value.code == code
    assert words in str(caught.value)


MERGES = [
    (
        "added field joins the body",
        {"companyName": "Acme"},
        {"fax": "1"},
        {"companyName": "Acme", "fax": "1"},
    ),
    (
        "a built-in value is kept",
        {"comments": "built-in"},
        {"comments": "added"},
        {"comments": "built-in"},
    ),
    (
        "contact fields merge into the contact",
        {"billToContact": {"firstName": "Ada"}},
        {"billToContact": {"fax": "1"}},
        {"billToContact": {"firstName": "Ada", "fax": "1"}},
    ),
]


@pytest.mark.parametrize(
    ("payload", "added", "expected"), [m[1:] for m in MERGES], ids=[m[0] for m in MERGES]
)
def test_added_fields_merge_into_the_single_write(payload, added, expected):
    assert with_added_fields(payload, added) == expected


# -- name lookup tables in the built-in rules -----------------------------------------------------
NS_LOOKUPS = NetSuiteLookups(
    currencies={"USD": "1", "EUR": "2"},
    terms={"45 Days": "7", "Net 30": "2"},
    subsidiaries={"Parent Company : US Sub": "2", "US Subsidiary": "9"},
)
Z_LOOKUPS = ZuoraLookups(currencies=frozenset({"USD", "EUR"}), payment_terms=frozenset({"Net 45"}))
TABLES = NameTranslations(
    payment_terms={"Net 45": "45 Days"},
    currencies={"US$": "USD"},
    subsidiaries={"US": "US Subsidiary"},
)
OPTIONS = MappingOptions(translations=TABLES)

TRANSLATIONS = [
    (
        "Zuora term through the table",
        lambda: terms_ref({"paymentTerm": "Net 45"}, lookups=NS_LOOKUPS, translations=TABLES),
        {"id": "7"},
    ),
    (
        "Zuora term without a row: exact name",
        lambda: terms_ref({"paymentTerm": "Net 30"}, lookups=NS_LOOKUPS, translations=TABLES),
        {"id": "2"},
    ),
    (
        "Zuora currency through the table",
        lambda: currency_ref({"currency": "US$"}, options=OPTIONS, lookups=NS_LOOKUPS),
        {"id": "1"},
    ),
    (
        "Zuora subsidiary through the table",
        lambda: subsidiary_ref(
            {"Subsidiary__NS": "US"}, options=OPTIONS, lookups=NS_LOOKUPS, is_create=True
        ),
        {"id": "9"},
    ),
    (
        "NetSuite term back to its Zuora name",
        lambda: payment_term(
            {"terms": {"id": "7"}},
            options=OPTIONS,
            lookups=Z_LOOKUPS,
            netsuite=NS_LOOKUPS,
            is_create=False,
        ),
        "Net 45",
    ),
    (
        "NetSuite currency without a row: exact code",
        lambda: currency(
            {"currency": {"id": "2"}},
            options=OPTIONS,
            lookups=Z_LOOKUPS,
            netsuite=NS_LOOKUPS,
            is_create=False,
        ),
        "EUR",
    ),
]


@pytest.mark.parametrize(
    ("lookup", "expected"), [t[1:] for t in TRANSLATIONS], ids=[t[0] for t in TRANSLATIONS]
)
def test_name_lookup_table(lookup, expected):
    assert lookup() == expected
