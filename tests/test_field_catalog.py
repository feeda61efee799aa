"""The field catalogs and which field type feeds which: pure, one case per rule."""

from __future__ import annotations

import pytest

from syncadmin.mapping.added import FieldType, Transform
from syncadmin.mapping.field_catalog import (
    CatalogField,
    length_warning,
    netsuite_customer_fields,
    normal_value,
    object_query_name,
    parse_value_map,
    rule_words,
    type_problem,
    zuora_account_fields,
)

T = FieldType


@pytest.mark.parametrize(
    ("source", "destination", "transform", "refused"),
    [
        (T.TEXT, T.TEXT, Transform.COPY, False),
        (T.INTEGER, T.TEXT, Transform.COPY, False),
        (T.DATE, T.TEXT, Transform.COPY, False),
        (T.BOOLEAN, T.TEXT, Transform.COPY, False),
        (T.PICKLIST, T.TEXT, Transform.COPY, False),
        (T.INTEGER, T.DECIMAL, Transform.COPY, False),
        (T.DATE, T.DATETIME, Transform.COPY, False),
        (T.DATE, T.DATE, Transform.DEFAULT, False),
        (T.PICKLIST, T.PICKLIST, Transform.COPY, False),
        (T.REFERENCE, T.REFERENCE, Transform.COPY, False),
        (T.TEXT, T.DATE, Transform.COPY, True),
        (T.TEXT, T.DATETIME, Transform.COPY, True),
        (T.DECIMAL, T.INTEGER, Transform.COPY, True),
        (T.TEXT, T.INTEGER, Transform.DEFAULT, True),
        (T.TEXT, T.BOOLEAN, Transform.COPY, True),
        (T.DATETIME, T.DATE, Transform.COPY, True),
        (T.TEXT, T.PICKLIST, Transform.COPY, True),
        (T.PICKLIST, T.REFERENCE, Transform.COPY, True),
        (T.TEXT, T.BOOLEAN, Transform.VALUE_MAP, False),
        (T.PICKLIST, T.REFERENCE, Transform.VALUE_MAP, False),
        (T.TEXT, T.DATE, Transform.VALUE_MAP, False),
    ],
)
def test_which_type_may_feed_which(source, destination, transform, refused):
    problem = type_problem(source, destination, transform)

    assert (problem is not None) is refused
    if refused:
        assert "value map" in problem


def test_a_refusal_says_why_in_words():
    problem = type_problem(T.TEXT, T.DATE, Transform.COPY)

    assert problem.startswith("A text cannot be copied into a date field")


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        (T.TEXT, "EMEA", "EMEA"),
        (T.INTEGER, " 12 ", "12"),
        (T.DECIMAL, "12.50", "12.50"),
        (T.BOOLEAN, "Yes", "true"),
        (T.BOOLEAN, "no", "false"),
        (T.DATE, "2027-01-31", "2027-01-31"),
    ],
)
def test_a_value_is_stored_as_its_field_holds_it(kind, value, stored):
    assert normal_value(value, CatalogField("f", "F", kind)) == stored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (CatalogField("f", "F", T.INTEGER), "12.5"),
        (CatalogField("f", "F", T.DECIMAL), "twelve"),
        (CatalogField("f", "F", T.BOOLEAN), "maybe"),
        (CatalogField("f", "F", T.DATE), "31/01/2027"),
        (CatalogField("f", "F", T.TEXT, max_length=3), "EMEA"),
        (CatalogField("f", "F", T.PICKLIST, options=("Gold", "Silver")), "Platinum"),
    ],
)
def test_a_value_the_field_cannot_hold_is_refused(field, value):
    with pytest.raises(ValueError):
        normal_value(value, field)


def test_a_picklist_value_takes_the_picklists_spelling():
    tier = CatalogField("Tier__c", "Tier", T.PICKLIST, options=("Gold", "Silver"))

    assert normal_value("gold", tier) == "Gold"


def test_zuora_names_become_the_names_object_query_uses():
    assert object_query_name("AccountNumber") == "accountNumber"
    assert object_query_name("Region__c") == "Region__c"
    assert object_query_name("IntegrationId__NS") == "IntegrationId__NS"
    assert object_query_name("NickName") == "nickname"


def test_zuora_catalog_has_account_and_both_contacts_fields():
    account = {
        "Tier__c": {"label": "Tier", "type": "picklist", "options": ["Gold"], "custom": True},
        "CreatedDate": {"label": "Created Date", "type": "datetime", "updateable": False},
        "Query": {"label": "Q", "type": "ZOQL"},
    }
    contact = {"Fax": {"label": "Fax", "type": "text", "maxlength": 40}, "Id": {"type": "text"}}

    catalog = zuora_account_fields(account, contact)

    assert catalog["Tier__c"].options == ("Gold",)
    assert catalog["createdDate"].writable is False
    assert catalog["billTo.fax"].label == "Bill To Fax"
    assert catalog["soldTo.fax"].max_length == 40
    assert "Query" not in catalog and "query" not in catalog
    assert "billTo.id" not in catalog


def test_netsuite_catalog_reads_types_formats_and_references():
    properties = {
        "custentity_renewal_date": {"title": "Renewal", "type": "string", "format": "date"},
        "custentity_count": {"title": "Count", "type": "integer", "format": "int64"},
        "category": {
            "title": "Category",
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "$ref": "/services/rest/record/v1/metadata-catalog/customercategory",
        },
        "terms": {"title": "Terms", "type": "object", "properties": {"id": {"type": "string"}}},
        "addressBook": {"title": "Address", "type": "object"},
        "companyName": {"title": "Company Name", "type": "string", "maxLength": 83},
        "dateCreated": {"type": "string", "format": "date-time", "readOnly": True},
    }

    catalog = netsuite_customer_fields(properties)

    assert catalog["custentity_renewal_date"].type == T.DATE
    assert catalog["custentity_count"].type == T.INTEGER
    assert catalog["category"].type == T.REFERENCE
    assert catalog["category"].reference_to == "customercategory"
    assert catalog["terms"].type == T.REFERENCE and catalog["terms"].reference_to == ""
    assert "addressBook" not in catalog
    assert catalog["companyName"].max_length == 83
    assert catalog["dateCreated"].writable is False


def test_a_value_map_is_read_one_line_each():
    assert parse_value_map("Gold = 3\n\nSilver=Silver Partner\n") == {
        "Gold": "3",
        "Silver": "Silver Partner",
    }


@pytest.mark.parametrize("text", ["Gold", "= 3", "Gold =", "Gold=3\ngold=4\nGold=5"])
def test_a_value_map_line_that_is_not_a_pair_is_refused(text):
    with pytest.raises(ValueError):
        parse_value_map(text)


@pytest.mark.parametrize(
    ("transform", "value_map", "default", "words"),
    [
        ("copy", {}, "", "Copied."),
        ("default", {}, "EMEA", "Copied, or “EMEA” when empty."),
        ("value_map", {"Gold": "3"}, "", "Through the value map: Gold → Gold Partner (3)."),
        ("value_map", {"Gold": "3"}, "5", "When empty: “5”."),
    ],
)
def test_an_added_rule_in_words_names_list_entries(transform, value_map, default, words):
    labels = {"destination": {"3": "Gold Partner"}}

    assert words in rule_words(transform, value_map, default, labels)


@pytest.mark.parametrize(
    ("source_length", "destination_length", "warned"),
    [(40, 300, False), (300, 300, False), (255, 40, True), (None, 40, True), (None, None, False)],
)
def test_longer_text_than_the_destination_takes_is_announced(
    source_length, destination_length, warned
):
    source = CatalogField("s", "Notes", T.TEXT, max_length=source_length)
    destination = CatalogField("d", "Fax", T.TEXT, max_length=destination_length)

    warning = length_warning(source, destination)

    assert (warning is not None) is warned
    if warned:
        assert "never cut short" in warning
