"""Which failed records the next run looks at again (selectors.open_failure_source_ids)."""

from __future__ import annotations

import pytest

from syncadmin.models import AccountResult, Direction, Outcome, SyncRun
from syncadmin.selectors import open_failure_source_ids
from tests.factories import AccountResultFactory, SyncRunFactory

Z2N = Direction.ZUORA_TO_NETSUITE
N2Z = Direction.NETSUITE_TO_ZUORA


def _run(direction: str, *results: tuple[str, str], trigger: str = "schedule") -> SyncRun:
    run = SyncRunFactory(trigger=trigger, direction=direction, partly_failed=True)
    AccountResult.objects.bulk_create(
        AccountResultFactory.build(run=run, source_id=source_id, outcome=outcome)
        for source_id, outcome in results
    )
    return run


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([(Z2N, [("a", "failed")])], {"a"}, id="failed-in-the-last-run"),
        pytest.param([(Z2N, [("a", Outcome.NEEDS_REVIEW)])], {"a"}, id="waits-for-review"),
        pytest.param(
            [(Z2N, [("a", "failed")]), (Z2N, [("a", "created")])],
            set(),
            id="failed-before-the-last-run-then-created",
        ),
        pytest.param(
            [(Z2N, [("a", "failed")]), ("retry", [("a", "updated")])],
            set(),
            id="succeeded-in-a-retry-after-the-last-run",
        ),
        pytest.param(
            [(Z2N, [("a", "created")]), ("retry", [("a", "failed")])],
            {"a"},
            id="failed-in-a-retry-after-the-last-run",
        ),
        pytest.param([(N2Z, [("a", "failed")])], set(), id="failed-in-the-other-direction"),
        pytest.param(
            [(Z2N, [("a", "failed")]), (N2Z, [("a", "created")])],
            {"a"},
            id="a-later-success-in-the-other-direction-does-not-count",
        ),
        pytest.param(
            [(Z2N, [("a", "failed"), ("b", "failed"), ("c", "unchanged")])],
            {"a", "b"},
            id="only-the-failed-ones",
        ),
    ],
)
def test_a_record_is_looked_at_again_while_its_latest_outcome_since_the_last_run_is_open(
    history: list[tuple[str, list[tuple[str, str]]]], expected: set[str]
) -> None:
    for direction, results in history:
        if direction == "retry":
            _run(Z2N, *results, trigger=SyncRun.Trigger.RETRY)
        else:
            _run(direction, *results)

    assert open_failure_source_ids(direction=Z2N) == expected


@pytest.mark.django_db
def test_more_failures_than_one_lookup_holds_are_all_found() -> None:
    _run(Z2N, *[(f"z{i}", "failed") for i in range(1200)], ("ok", "created"))
    _run(Z2N, ("z7", "updated"), ("z1100", "linked"), trigger=SyncRun.Trigger.RETRY)

    found = open_failure_source_ids(direction=Z2N)

    assert found == {f"z{i}" for i in range(1200)} - {"z7", "z1100"}
