"""The Field mappings page: built-in and added rows, adding and removing, read-only for viewers."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from syncadmin.models import FieldMapping, NameTranslation
from syncadmin.services.roles import ADMIN, OPERATOR, VIEWER
from tests.factories import FieldMappingFactory, NameTranslationFactory

PAGE = "admin:syncadmin_fieldmapping_changelist"


@pytest.fixture(autouse=True)
def _fresh_catalogs():
    cache.clear()


def add(client, **data):
    return client.post(reverse("admin:syncadmin_fieldmapping_add"), data)


def test_the_page_lists_built_in_rows_then_added_rows_with_remove(systems, as_role):
    mapping = FieldMappingFactory()
    client = as_role(ADMIN)

    page = client.get(reverse(PAGE))

    html = page.content.decode()
    assert "Zuora → NetSuite" in html
    assert "Company Name (companyName)" in html
    assert html.index('id="builtin-rows"') < html.index('id="added-rows"')
    builtin_table = html[html.index('id="builtin-rows"') : html.index('id="added-rows"')]
    assert "Remove" not in builtin_table
    assert reverse("admin:syncadmin_fieldmapping_remove", args=[mapping.pk]) in html
    assert 'id="add-mapping"' in html


def test_the_add_form_offers_the_live_fields_with_labels_and_types(systems, as_role):
    page = as_role(ADMIN).get(reverse(PAGE))

    html = page.content.decode()
    assert "Tier (Tier__c, picklist)" in html
    assert "Bill To Fax (billTo.fax, text up to 40)" in html
    assert "Renewal Date (custentity_renewal_date, date)" in html
    destination = html[html.index('name="destination_field"') :]
    destination = destination[: destination.index("</select>")]
    assert "companyName" not in destination  # the sync writes it already


def test_a_viewer_sees_the_mappings_but_cannot_add_or_remove(db, as_role):
    FieldMappingFactory()
    NameTranslationFactory()
    client = as_role(VIEWER)

    page = client.get(reverse(PAGE))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Region (custentity_region)" in html
    assert "Remove" not in html
    assert 'id="add-mapping"' not in html and 'id="add-translation"' not in html


@pytest.mark.parametrize("role", [VIEWER, OPERATOR])
def test_a_viewer_or_operator_is_refused_adding_or_removing_on_the_server(db, as_role, role):
    mapping = FieldMappingFactory()
    translation = NameTranslationFactory()
    client = as_role(role)

    assert add(client, source_field="Region__c").status_code == 403
    remove = reverse("admin:syncadmin_fieldmapping_remove", args=[mapping.pk])
    assert client.post(remove).status_code == 403
    untranslate = reverse("admin:syncadmin_fieldmapping_untranslate", args=[translation.pk])
    assert client.post(untranslate).status_code == 403
    assert FieldMapping.objects.exists() and NameTranslation.objects.exists()


def test_adding_a_good_mapping_saves_it_and_says_so(systems, as_role):
    client = as_role(ADMIN)

    answer = add(
        client,
        source_field="Tier__c",
        destination_field="category",
        transform="value_map",
        value_map="Gold = Gold Partner\nSilver = 4",
    )

    assert answer.status_code == 302
    mapping = FieldMapping.objects.get()
    assert mapping.value_map == {"Gold": "3", "Silver": "4"}
    html = client.get(answer.url).content.decode()
    assert "Added: Tier → Category" in html
    assert "Gold → Gold Partner (3); Silver → Silver Partner (4)" in html


def test_a_refused_mapping_shows_the_reason_next_to_the_field(systems, as_role):
    answer = add(
        as_role(ADMIN),
        source_field="Tier__c",
        destination_field="category",
        transform="value_map",
        value_map="Gold = Platinum Partner",
    )

    html = answer.content.decode()
    assert answer.status_code == 200
    row = html[html.index('class="form-row field-value_map"') :]
    row = row[: row.index("</div>")]
    assert "not an entry of NetSuite&#x27;s list for Category" in row
    assert not FieldMapping.objects.exists()


def test_a_type_mismatch_is_shown_next_to_the_transform(systems, as_role):
    answer = add(
        as_role(ADMIN),
        source_field="Region__c",
        destination_field="custentity_renewal_date",
        transform="copy",
    )

    html = answer.content.decode()
    row = html[html.index('class="form-row field-transform"') :]
    assert "A text cannot be copied into a date field" in row[: row.index("</div>")]


def test_removing_an_added_mapping(db, as_role):
    mapping = FieldMappingFactory()

    answer = as_role(ADMIN).post(reverse("admin:syncadmin_fieldmapping_remove", args=[mapping.pk]))

    assert answer.status_code == 302
    assert not FieldMapping.objects.exists()


def test_a_page_whose_systems_do_not_answer_says_so_instead_of_the_form(systems, as_role):
    systems.zuora.stop()

    page = as_role(ADMIN).get(reverse(PAGE))

    html = page.content.decode()
    assert page.status_code == 200
    assert "The field lists could not be loaded" in html
    assert "Could not reach Zuora" in html


def test_a_lookup_line_is_saved_or_refused_next_to_its_field(systems, as_role):
    client = as_role(ADMIN)
    url = reverse("admin:syncadmin_fieldmapping_translate")

    refused = client.post(
        url, {"kind": "payment_term", "zuora_name": "Net 45", "netsuite_name": "45 Days"}
    )
    saved = client.post(
        url, {"kind": "payment_term", "zuora_name": "Net 45", "netsuite_name": "Net 60"}
    )

    html = refused.content.decode()
    row = html[html.index('class="form-row field-netsuite_name"') :]
    assert "NetSuite has no payment term “45 Days”" in row[: row.index("</div>")]
    assert saved.status_code == 302
    assert NameTranslation.objects.get().netsuite_name == "Net 60"


def test_the_index_links_to_the_page(db, as_role):
    page = as_role(VIEWER).get(reverse("admin:index"))

    assert reverse(PAGE) in page.content.decode()


def test_a_field_deleted_since_the_page_was_shown_is_refused_on_save(systems, as_role):
    client = as_role(ADMIN)
    client.get(reverse(PAGE))  # the choices, Region__c among them
    systems.zuora.remove_custom_field("Region__c")

    answer = add(client, source_field="Region__c", destination_field="custentity_region")

    html = answer.content.decode()
    row = html[html.index('class="form-row field-source_field"') :]
    assert "Choose a field from the list" in row[: row.index("</div>")]
    assert not FieldMapping.objects.exists()
