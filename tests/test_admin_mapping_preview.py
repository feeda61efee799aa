"""The preview page of a field mapping in the admin: the mapping in words, three linked records
before → after, and the one-time resync for admins only."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from syncadmin.models import RecordLink
from syncadmin.services.roles import ADMIN, VIEWER
from tests.factories import FieldMappingFactory, UserFactory


@pytest.fixture
def linked(systems: Any, run_sync: Any) -> Any:
    run_sync()
    with systems.zuora.state_lock:
        for account in systems.zuora.accounts.values():
            account["Region__c"] = "EMEA"
    return systems


@pytest.fixture
def fast_preview(monkeypatch: Any) -> None:
    from syncadmin.services import mapping_preview
    from tests.conftest import FAST_CLIENTS

    original = mapping_preview.field_mapping_preview
    monkeypatch.setattr(
        "syncadmin.admin.mapping_preview.field_mapping_preview",
        lambda **kw: original(client_options=FAST_CLIENTS, **kw),
    )


def preview_url(mapping: Any) -> str:
    return reverse("admin:syncadmin_fieldmapping_preview", args=[mapping.pk])


def test_an_admin_sees_the_mapping_three_records_before_and_after_and_the_resync_button(
    linked, as_role, fast_preview
):
    mapping = FieldMappingFactory(source_label="Region", destination_label="Region")

    page = as_role(ADMIN).get(preview_url(mapping)).content.decode()

    assert "Zuora Region (Region__c) → NetSuite Region (custentity_region). Copied." in page
    assert page.count('<table class="preview-changes">') == 3
    assert '<td>Region</td><td class="value">—</td><td class="value">EMEA</td>' in page
    count = RecordLink.objects.count()
    assert f"Resync all {count} linked records now" in page


def test_the_resync_button_queues_a_full_run_and_says_so(linked, as_role, fast_preview):
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    mapping = FieldMappingFactory()
    broker = get_broker()
    broker.purge_queue()

    page = as_role(ADMIN).post(preview_url(mapping), follow=True).content.decode()

    count = RecordLink.objects.count()
    assert f"A one-time resync of all {count} linked records is queued." in page
    task = SignedPackage.loads(broker.dequeue()[0][1])
    assert task["kwargs"]["full"] is True


def test_a_viewer_sees_the_preview_without_the_button_and_cannot_resync(
    linked, as_role, fast_preview
):
    mapping = FieldMappingFactory()
    client = as_role(VIEWER)

    page = client.get(preview_url(mapping)).content.decode()

    assert "preview-changes" in page
    assert "Resync all" not in page
    assert client.post(preview_url(mapping)).status_code == 403


def test_the_preview_is_refused_without_a_role(client, db):
    client.force_login(UserFactory())

    assert client.get(preview_url(FieldMappingFactory())).status_code == 403


def test_a_mapping_of_the_other_direction_says_the_sync_does_not_use_it(
    linked, as_role, fast_preview
):
    mapping = FieldMappingFactory(direction="netsuite_to_zuora", destination_field="Region__c")

    page = as_role(ADMIN).get(preview_url(mapping)).content.decode()

    assert "the sync does not use it until the master is switched back" in page
    assert "Resync all" not in page
