"""The results of a run are written by a multi-row insert, not bulk_create(): the rows must be
the ones the ORM would have written, field for field, on every database."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms.models import model_to_dict

from syncadmin.models import AccountResult, Direction, Outcome, RecordLink, SyncRun
from syncadmin.services.bulk import insert_rows

pytestmark = pytest.mark.django_db


def _values(run: SyncRun, link: RecordLink | None, suffix: str) -> dict[str, Any]:
    return {
        "run": run,
        "link": link,
        "source_id": f"z-{suffix}",
        "source_number": "A-00042",
        "source_name": "Éclair Œuvre GmbH & Co. 'quoted'",
        "destination_id": "4711",
        "outcome": Outcome.FAILED,
        "reason": "",
        "error_code": "INVALID_FLD_VALUE",
        "error_message": "Zip is 'not valid' — with a quote and a dash",
        "retryable": True,
        "waiting_for": "",
        "changes": {"companyName": [None, "Éclair"], "addressBook": [None, [{"zip": "1"}]]},
        "warnings": ["State dropped: not a US address"],
    }


def test_a_result_row_is_written_as_the_orm_writes_it():
    run = SyncRun.objects.create(trigger="manual", direction=Direction.ZUORA_TO_NETSUITE)
    link = RecordLink.objects.create(zuora_account_id="z1", netsuite_internal_id="4711")

    by_orm = AccountResult.objects.create(**_values(run, link, "orm"))
    assert insert_rows(AccountResult, [_values(run, link, "fast"), _values(run, None, "x")]) == 2

    fast = AccountResult.objects.get(source_id="z-fast")
    skip = {"id", "source_id", "created_at"}
    expected = {k: v for k, v in model_to_dict(by_orm).items() if k not in skip}
    assert {k: v for k, v in model_to_dict(fast).items() if k not in skip} == expected
    assert fast.name_key == AccountResult.objects.get(pk=by_orm.pk).name_key != ""
    assert fast.created_at is not None
    assert AccountResult.objects.get(source_id="z-x").link is None
    # The name search finds rows written either way.
    assert AccountResult.objects.filter(name_key__startswith=fast.name_key[:4]).count() == 3


def test_many_rows_are_written_in_statements_the_database_accepts():
    run = SyncRun.objects.create(trigger="manual", direction=Direction.ZUORA_TO_NETSUITE)

    written = insert_rows(AccountResult, (_values(run, None, str(i)) for i in range(2500)))

    assert written == 2500
    assert AccountResult.objects.filter(run=run).count() == 2500
