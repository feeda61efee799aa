"""The preview of added field mappings (services/mapping_preview.py) against both sandboxes: what
syncing three linked records would change, read from both systems, nothing written or
recorded; and the one-time full resync it offers."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.netsuite import fields as ns_fields
from syncadmin.mapping.added import FieldType, Transform
from syncadmin.models import AccountResult, Direction, FieldMapping, RecordLink, SyncRun
from syncadmin.services.mapping_preview import field_mapping_preview, mapping_resync_queue
from tests.conftest import FAST_CLIENTS
from tests.factories import FieldMappingFactory, SyncPreferencesFactory, UserFactory

NS_WRITES = ("record.customer.upsert", "record.customer.update", "record.customer.create")
ZUORA_WRITES = (
    "v1.account.create",
    "v1.account.update",
    "v1.contact.update",
    "v1.action.update",
)


def writes(systems: Any) -> int:
    return sum(systems.netsuite.calls_to(e) for e in NS_WRITES) + sum(
        systems.zuora.calls_to(e) for e in ZUORA_WRITES
    )


def preview(**kwargs: Any) -> Any:
    return field_mapping_preview(client_options=FAST_CLIENTS, **kwargs)


@pytest.fixture
def linked(systems: Any, run_sync: Any) -> Any:
    """Every account synced once, before any mapping; then each account gets a region."""
    run_sync()
    with systems.zuora.state_lock:
        for account in systems.zuora.accounts.values():
            account["Region__c"] = "EMEA"
            account["Tier__c"] = "Gold"
    systems.zuora.reset_calls()
    systems.netsuite.reset_calls()
    return systems


def test_the_preview_shows_three_linked_records_before_and_after_and_writes_nothing(linked):
    FieldMappingFactory(destination_label="Region")
    runs, results = SyncRun.objects.count(), AccountResult.objects.count()

    shown = preview()

    assert shown.direction_label == "Zuora → NetSuite"
    assert shown.linked_count == RecordLink.objects.count() > 3
    assert len(shown.samples) == 3
    for sample in shown.samples:
        link = RecordLink.objects.get(zuora_account_number=sample.number)
        assert sample.name == linked.zuora.accounts[link.zuora_account_id]["name"]
        assert [(c.field, c.before, c.after, c.added) for c in sample.changes] == [
            ("Region", "—", "EMEA", True)
        ]
    assert writes(linked) == 0
    assert (SyncRun.objects.count(), AccountResult.objects.count()) == (runs, results)


def test_the_preview_before_is_what_netsuite_holds_and_a_value_it_already_has_is_no_change(
    linked,
):
    FieldMappingFactory()
    link = RecordLink.objects.order_by("-last_synced_at", "-pk").first()
    linked.netsuite_client().update_customer(
        link.netsuite_internal_id, {"custentity_region": "EMEA"}
    )
    other = RecordLink.objects.order_by("-last_synced_at", "-pk")[1]
    linked.netsuite_client().update_customer(
        other.netsuite_internal_id, {"custentity_region": "Set by hand"}
    )

    samples = {s.number: s for s in preview().samples}

    assert samples[link.zuora_account_number].changes == []
    assert [(c.before, c.after) for c in samples[other.zuora_account_number].changes] == [
        ("Set by hand", "EMEA")
    ]


def test_the_preview_of_an_unsaved_value_map_names_the_value_a_record_would_fail_on(linked):
    from syncadmin.mapping.added import AddedMapping

    tier = AddedMapping(
        direction=Direction.ZUORA_TO_NETSUITE,
        source_field="Tier__c",
        destination_field="category",
        transform=Transform.VALUE_MAP,
        value_map={"Gold": "3"},
        destination_type=FieldType.REFERENCE,
        label="Tier → Category",
    )
    first = RecordLink.objects.order_by("-last_synced_at", "-pk").first()
    with linked.zuora.state_lock:
        linked.zuora.accounts[first.zuora_account_id]["Tier__c"] = "Platinum"

    shown = preview(mappings=[tier])

    failing, *others = shown.samples
    assert failing.number == first.zuora_account_number
    assert "The value 'Platinum' is not in the value map" in failing.problem
    assert failing.changes == []
    assert [(c.field, c.after) for s in others for c in s.changes] == [
        ("Category", "internal id 3 (from “Gold”)")
    ] * 2
    assert FieldMapping.objects.count() == 0  # previewed, not saved


def test_the_preview_of_a_netsuite_mapping_reads_what_zuora_holds(systems, run_sync):
    systems.netsuite.seed(customers=8, seed=7)
    SyncPreferencesFactory(netsuite_master=True)
    run_sync()
    systems.netsuite.sql("UPDATE customer SET custentity_region = 'Nordics'")
    FieldMappingFactory(
        direction=Direction.NETSUITE_TO_ZUORA,
        source_field="custentity_region",
        destination_field="Region__c",
        destination_label="Region",
    )
    systems.zuora.reset_calls()
    systems.netsuite.reset_calls()

    shown = preview()

    assert shown.direction_label == "NetSuite → Zuora"
    assert len(shown.samples) == 3
    assert all(
        [(c.field, c.before, c.after) for c in s.changes] == [("Region", "—", "Nordics")]
        for s in shown.samples
    )
    assert writes(systems) == 0


def test_the_preview_without_linked_records_says_so_by_its_count(systems):
    shown = preview()

    assert shown.samples == [] and shown.linked_count == 0 and shown.problem == ""


def test_the_preview_says_what_to_check_when_a_system_cannot_be_reached(linked):
    FieldMappingFactory()
    linked.netsuite.stop()

    shown = preview()

    assert shown.samples == []
    assert "NetSuite" in shown.problem


def test_the_resync_queues_a_full_run_that_gives_every_linked_record_the_mapping(linked):
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    from syncadmin.tasks import sync_customers_task

    FieldMappingFactory()
    broker = get_broker()
    broker.purge_queue()

    mapping_resync_queue(user=UserFactory())

    queued = broker.dequeue()
    task = SignedPackage.loads(queued[0][1])
    assert task["kwargs"]["full"] is True
    result = sync_customers_task(**task["kwargs"])
    assert result["updated"] == RecordLink.objects.count()
    customers = linked.netsuite.sql(f"SELECT custentity_region, {ns_fields.ZUORA_ID} FROM customer")
    assert {c["custentity_region"] for c in customers} == {"EMEA"}
