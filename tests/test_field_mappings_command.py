"""manage.py field_mappings: list, add, remove, translate, untranslate, with the same checks."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from syncadmin.models import FieldMapping, NameTranslation
from tests.factories import FieldMappingFactory, NameTranslationFactory


def run(*args: str) -> str:
    out = StringIO()
    call_command("field_mappings", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_catalogs():
    cache.clear()


def test_list_shows_built_in_and_added_rows_of_the_current_direction(db):
    mapping = FieldMappingFactory()
    NameTranslationFactory()

    output = run("list")

    assert output.startswith("Zuora → NetSuite")
    assert "Name (name) → Company Name (companyName)" in output
    assert f"#{mapping.pk}  Region (Region__c) → Region (custentity_region)" in output
    assert "Payment term: Zuora “Net 45” = NetSuite “Net 60”" in output


def test_list_of_the_other_direction(db):
    FieldMappingFactory()

    output = run("list", "--direction", "netsuite_to_zuora")

    assert "Internal ID (id) → IntegrationId__NS" in output
    assert "custentity_region" not in output


def test_add_saves_a_checked_value_map(systems):
    output = run(
        "add", "--source", "Tier__c", "--destination", "category", "--map", "Gold=Gold Partner"
    )

    mapping = FieldMapping.objects.get()
    assert mapping.transform == "value_map"
    assert mapping.value_map == {"Gold": "3"}
    assert f"Added #{mapping.pk}: Tier (Tier__c) → Category (category)" in output


def test_add_refuses_with_the_reason_and_exit_code_1(systems):
    with pytest.raises(CommandError) as caught:
        run("add", "--source", "Region__c", "--destination", "custentity_renewal_date")

    assert caught.value.returncode == 1
    assert "Mapping not saved" in str(caught.value)
    assert "Transform: A text cannot be copied into a date field" in str(caught.value)
    assert not FieldMapping.objects.exists()


def test_add_refuses_a_malformed_map_line(db):
    with pytest.raises(CommandError) as caught:
        run("add", "--source", "Tier__c", "--destination", "category", "--map", "Gold")

    assert caught.value.returncode == 1
    assert "is not “source value = destination value”" in str(caught.value)


def test_remove_by_destination_field(db):
    mapping = FieldMappingFactory()

    output = run("remove", "custentity_region")

    assert f"Removed #{mapping.pk}" in output
    assert not FieldMapping.objects.exists()


def test_remove_refuses_a_built_in_row(db):
    with pytest.raises(CommandError) as caught:
        run("remove", "companyName")

    assert caught.value.returncode == 1
    assert "built-in rows cannot be removed" in str(caught.value)


def test_translate_and_untranslate_a_payment_term(systems):
    run("translate", "--kind", "payment_term", "--zuora", "Net 45", "--netsuite", "Net 60")
    assert NameTranslation.objects.get().netsuite_name == "Net 60"

    run("untranslate", "--kind", "payment_term", "--zuora", "net 45")

    assert not NameTranslation.objects.exists()


def test_translate_refuses_a_name_netsuite_lacks(systems):
    with pytest.raises(CommandError) as caught:
        run("translate", "--kind", "payment_term", "--zuora", "Net 45", "--netsuite", "45 Days")

    assert caught.value.returncode == 1
    assert "NetSuite name: NetSuite has no payment term “45 Days”" in str(caught.value)


def test_add_warns_when_the_source_may_be_longer_than_the_destination(systems):
    err = StringIO()
    call_command(
        "field_mappings",
        "add",
        "--source",
        "Region__c",
        "--destination",
        "custentity_region",
        "--direction",
        "zuora_to_netsuite",
        stdout=StringIO(),
        stderr=err,
    )
    assert not err.getvalue()  # 255 into 300: fits

    call_command(
        "field_mappings",
        "add",
        "--direction",
        "netsuite_to_zuora",
        "--source",
        "custentity_region",
        "--destination",
        "billTo.nickname",
        stdout=StringIO(),
        stderr=err,
    )

    assert "Region may hold up to 300 characters, Bill To Nick Name takes 100" in err.getvalue()
