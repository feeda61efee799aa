"""A run's results and new links are stored in batches (bulk_create): every field as the run
gave it, each result pointing at its new link, on every database."""

from __future__ import annotations

import pytest

from syncadmin.models import AccountResult, Outcome, RecordLink
from syncadmin.services.recording import AccountOutcome, DatabaseRecorder
from tests.factories import SyncRunFactory

pytestmark = pytest.mark.django_db


CHANGES = {"companyName": [None, "Éclair"], "addressBook": [None, [{"zip": "1"}]]}


def _outcome(suffix: str, link: RecordLink | None = None) -> AccountOutcome:
    return AccountOutcome(
        source_id=f"z-{suffix}",
        source_number="A-00042",
        source_name="Éclair Œuvre GmbH & Co. 'quoted'",
        destination_id="4711",
        outcome=Outcome.FAILED,
        error_code="INVALID_FLD_VALUE",
        error_message="Zip is 'not valid' — with a quote and a dash",
        retryable=True,
        changes=CHANGES,
        warnings=["State dropped: not a US address"],
        link=link,
        link_is_new=link is not None,
    )


def test_a_result_and_its_new_link_are_stored_field_for_field() -> None:
    run = SyncRunFactory()
    recorder = DatabaseRecorder(run, batch_size=10)
    link = RecordLink(zuora_account_id="z1", netsuite_internal_id="4711")
    recorder.add(_outcome("linked", link))
    recorder.add(_outcome("alone"))
    recorder.flush()

    stored = AccountResult.objects.get(source_id="z-linked")
    assert link.pk is not None  # a later flush updates it by its primary key
    assert stored.link == RecordLink.objects.get(zuora_account_id="z1") == link
    assert (stored.run, stored.source_number, stored.source_name) == (
        run,
        "A-00042",
        "Éclair Œuvre GmbH & Co. 'quoted'",
    )
    assert (stored.destination_id, stored.outcome, stored.retryable) == ("4711", "failed", True)
    assert stored.error_code == "INVALID_FLD_VALUE"
    assert stored.error_message == "Zip is 'not valid' — with a quote and a dash"
    assert stored.changes == CHANGES
    assert stored.warnings == ["State dropped: not a US address"]
    assert stored.created_at is not None
    assert stored.name_key == "éclair œuvre gmbh & co. 'quoted'"
    assert AccountResult.objects.get(source_id="z-alone").link is None
    # The name search finds them.
    assert AccountResult.objects.filter(name_key__startswith=stored.name_key[:4]).count() == 2
    run.refresh_from_db()
    assert (run.processed, run.failed) == (2, 2)


def test_a_link_stored_in_one_batch_is_updated_by_a_later_one() -> None:
    recorder = DatabaseRecorder(SyncRunFactory(), batch_size=10)
    link = RecordLink(zuora_account_id="z1", netsuite_internal_id="4711")
    recorder.add(_outcome("first", link))
    recorder.flush()
    link.zuora_account_number = "A-00042"
    recorder.add(AccountOutcome(source_id="z1", outcome=Outcome.UPDATED, link=link))
    recorder.flush()

    assert RecordLink.objects.get().zuora_account_number == "A-00042"
    assert AccountResult.objects.filter(link=link).count() == 2


def test_many_rows_are_written_in_statements_the_database_accepts() -> None:
    run = SyncRunFactory()
    recorder = DatabaseRecorder(run, batch_size=5000, flush_seconds=3600)
    for i in range(2500):
        link = RecordLink(zuora_account_id=f"z{i}", netsuite_internal_id=str(i)) if i % 2 else None
        recorder.add(_outcome(str(i), link))
    recorder.flush()

    assert AccountResult.objects.filter(run=run).count() == 2500
    assert AccountResult.objects.filter(run=run, link__isnull=False).count() == 1250
    assert RecordLink.objects.count() == 1250
