"""Adding field mappings and name translations, checked against both sandboxes over HTTP."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from syncadmin.models import FieldMapping, NameTranslation
from syncadmin.selectors import added_mappings_for, name_translations
from syncadmin.services.field_mappings import (
    field_catalogs_fetch,
    field_mapping_add,
    field_mapping_remove,
    name_translation_remove,
    name_translation_set,
)
from tests.factories import FieldMappingFactory, NameTranslationFactory

Z2N, N2Z = "zuora_to_netsuite", "netsuite_to_zuora"


@pytest.fixture(autouse=True)
def _fresh_catalogs():
    cache.clear()


def refusal(**kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        field_mapping_add(**kwargs)
    assert not FieldMapping.objects.exists()
    return caught.value.message_dict


def test_the_live_catalogs_hold_standard_custom_and_contact_fields(systems):
    catalogs = field_catalogs_fetch()

    assert catalogs.zuora["Tier__c"].options == ("Gold", "Silver", "Bronze")
    assert catalogs.zuora["RenewalDate__c"].type == "date"
    assert catalogs.zuora["billTo.fax"].max_length == 40
    assert catalogs.zuora["accountNumber"].label == "Account Number"
    assert catalogs.netsuite["category"].reference_to == "customercategory"
    assert catalogs.netsuite["custentity_renewal_date"].type == "date"
    assert catalogs.netsuite["custentity_region"].custom
    assert catalogs.netsuite["companyName"].label == "Company Name"


def test_a_good_mapping_is_saved_with_its_labels_and_types(systems):
    mapping = field_mapping_add(
        direction=Z2N, source_field="Region__c", destination_field="custentity_region"
    )

    mapping.refresh_from_db()
    assert (mapping.source_label, mapping.source_type) == ("Region", "text")
    assert (mapping.destination_label, mapping.destination_type) == ("Region", "text")
    assert mapping.max_length == 300
    (added,) = added_mappings_for(direction=Z2N)
    assert added.destination_field == "custentity_region"


def test_a_field_the_system_does_not_have_is_refused(systems):
    errors = refusal(direction=Z2N, source_field="Regoin__c", destination_field="custentity_region")

    assert "Zuora has no field “Regoin__c”" in errors["source_field"][0]


def test_a_custom_field_removed_from_netsuite_is_refused(systems):
    systems.netsuite.remove_custom_field("custentity_zuora_crm_id")

    errors = refusal(
        direction=Z2N, source_field="crmId", destination_field="custentity_zuora_crm_id"
    )

    assert "NetSuite has no field" in errors["destination_field"][0]


def test_a_field_the_sync_already_writes_is_refused(systems):
    errors = refusal(direction=Z2N, source_field="Region__c", destination_field="companyName")

    assert "already writes Company Name (companyName)" in errors["destination_field"][0]


def test_the_cross_reference_fields_are_refused_as_destinations(systems):
    errors = refusal(
        direction=N2Z, source_field="custentity_region", destination_field="IntegrationId__NS"
    )

    assert "already writes" in errors["destination_field"][0]


def test_a_read_only_destination_is_refused(systems):
    errors = refusal(direction=Z2N, source_field="Region__c", destination_field="dateCreated")

    assert "read-only" in errors["destination_field"][0]


def test_tax_registration_numbers_are_never_mapped(systems):
    errors = refusal(
        direction=Z2N, source_field="billTo.taxRegion", destination_field="custentity_region"
    )

    assert "never synced" in errors["source_field"][0]


def test_text_into_a_date_is_refused(systems):
    errors = refusal(
        direction=Z2N, source_field="Region__c", destination_field="custentity_renewal_date"
    )

    assert "A text cannot be copied into a date field" in errors["transform"][0]


def test_a_date_into_a_date_is_saved(systems):
    mapping = field_mapping_add(
        direction=Z2N, source_field="RenewalDate__c", destination_field="custentity_renewal_date"
    )

    assert mapping.source_type == mapping.destination_type == "date"


def test_a_value_map_into_a_netsuite_list_stores_ids_by_id_or_name(systems):
    mapping = field_mapping_add(
        direction=Z2N,
        source_field="Tier__c",
        destination_field="category",
        transform="value_map",
        value_map={"Gold": "3", "silver": "Silver Partner"},
    )

    assert mapping.value_map == {"Gold": "3", "Silver": "4"}
    assert mapping.destination_type == "reference"
    assert mapping.value_labels == {"destination": {"3": "Gold Partner", "4": "Silver Partner"}}


def test_a_value_map_target_netsuite_lacks_is_refused(systems):
    errors = refusal(
        direction=Z2N,
        source_field="Tier__c",
        destination_field="category",
        transform="value_map",
        value_map={"Gold": "Platinum Partner"},
    )

    assert "not an entry of NetSuite's list for Category" in errors["value_map"][0]
    assert "Gold Partner (3)" in errors["value_map"][0]


def test_a_value_map_source_value_outside_the_picklist_is_refused(systems):
    errors = refusal(
        direction=Z2N,
        source_field="Tier__c",
        destination_field="category",
        transform="value_map",
        value_map={"Platinum": "3"},
    )

    assert "“Platinum” is not a value of Tier (Tier__c)" in errors["value_map"][0]


def test_a_value_map_into_a_zuora_picklist_must_use_its_values(systems):
    errors = refusal(
        direction=N2Z,
        source_field="category",
        destination_field="Tier__c",
        transform="value_map",
        value_map={"Gold Partner": "Platinum"},
    )

    assert "Gold, Silver, Bronze" in errors["value_map"][0]


def test_a_netsuite_list_into_a_zuora_picklist_by_value_map_is_saved(systems):
    mapping = field_mapping_add(
        direction=N2Z,
        source_field="category",
        destination_field="Tier__c",
        transform="value_map",
        value_map={"Gold Partner": "gold", "4": "Silver"},
    )

    assert mapping.value_map == {"3": "Gold", "4": "Silver"}
    assert mapping.value_labels == {"source": {"3": "Gold Partner", "4": "Silver Partner"}}


def test_a_default_of_the_wrong_type_is_refused(systems):
    errors = refusal(
        direction=Z2N,
        source_field="RenewalDate__c",
        destination_field="custentity_renewal_date",
        transform="default",
        default_value="next year",
    )

    assert "is not a date" in errors["default_value"][0]


def test_a_second_mapping_into_the_same_destination_is_refused(systems):
    field_mapping_add(
        direction=Z2N, source_field="Region__c", destination_field="custentity_region"
    )

    with pytest.raises(ValidationError) as caught:
        field_mapping_add(
            direction=Z2N, source_field="billTo.city", destination_field="custentity_region"
        )

    assert "already fed by" in caught.value.message_dict["destination_field"][0]
    assert FieldMapping.objects.count() == 1


def test_nothing_is_saved_when_a_system_cannot_be_asked(systems):
    systems.netsuite.stop()

    errors = refusal(direction=Z2N, source_field="Region__c", destination_field="custentity_region")

    assert "nothing was saved" in errors[NON_FIELD_ERRORS][0]
    assert "Could not reach NetSuite" in errors[NON_FIELD_ERRORS][0]
    assert "Try again in a minute" in errors[NON_FIELD_ERRORS][0]


def test_an_added_mapping_can_be_removed(db):
    mapping = FieldMappingFactory()

    field_mapping_remove(mapping_id=mapping.pk)

    assert not FieldMapping.objects.exists()


# -- name translations ----------------------------------------------------------------------------
def test_a_payment_term_translation_naming_both_real_terms_is_saved(systems):
    name_translation_set(kind="payment_term", zuora_name="net 45", netsuite_name="Net 60")

    assert name_translations().payment_terms == {"Net 45": "Net 60"}


def test_a_translation_to_a_term_netsuite_lacks_is_refused(systems):
    with pytest.raises(ValidationError) as caught:
        name_translation_set(kind="payment_term", zuora_name="Net 45", netsuite_name="45 Days")

    assert "NetSuite has no payment term “45 Days”" in caught.value.message_dict["netsuite_name"][0]
    assert not NameTranslation.objects.exists()


def test_a_currency_zuora_lacks_is_refused(systems):
    with pytest.raises(ValidationError) as caught:
        name_translation_set(kind="currency", zuora_name="XYZ", netsuite_name="USD")

    assert "Zuora has no currency “XYZ”" in caught.value.message_dict["zuora_name"][0]


def test_a_subsidiary_translation_needs_the_netsuite_full_name(systems):
    name_translation_set(
        kind="subsidiary", zuora_name="US", netsuite_name="parent company : us sub"
    )

    assert name_translations().subsidiaries == {"US": "Parent Company : US Sub"}


def test_setting_a_translation_again_replaces_it(systems):
    name_translation_set(kind="payment_term", zuora_name="Net 45", netsuite_name="Net 60")
    name_translation_set(kind="payment_term", zuora_name="Net 45", netsuite_name="Net 30")

    assert name_translations().payment_terms == {"Net 45": "Net 30"}


def test_a_translation_can_be_removed(db):
    translation = NameTranslationFactory()

    name_translation_remove(translation_id=translation.pk)

    assert not NameTranslation.objects.exists()
