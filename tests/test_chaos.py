"""A small version of `manage.py chaos_sync`: in each direction, sync runs in child processes
killed with kill -9 at random points, then a run with 10% faults of every kind, against the
sandboxes. The full trials and their figures: docs/performance.md, "Crash and fault trials"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from syncadmin import chaos
from syncadmin.services.runs import sync_run_execute
from tests.conftest import FAST_CLIENTS, TEST_KEY

NEXT_RUN_LIMIT = 6.0  # the test's bound; the product's target is 60 s
SMALL = chaos.ChaosOptions(
    kills=2,
    accounts=15,
    latency_ms=10.0,
    fault_rate=0.10,
    max_runs=4,
    next_run_limit=NEXT_RUN_LIMIT,
    retry_pause=0.5,
    # Read only when the project has SYNC_LEASE_TTL_SECONDS: a dead holder's lease must not
    # outlive the test's bound.
    lease_ttl_seconds=2.0,
    in_process=True,
)


@pytest.fixture(scope="module")
def trials(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """The trials run once for the module (child processes need committed data)."""
    lines: list[str] = []
    with django_db_blocker.unblock(), override_settings(FIELD_ENCRYPTION_KEYS=[TEST_KEY]):
        try:
            report = chaos.run_chaos(SMALL, out=lines.append)
        finally:
            call_command("flush", interactive=False, verbosity=0)
    yield {"report": report, "printed": "\n".join(lines)}


def phases(trials: dict[str, Any], phase: str) -> list[chaos.PhaseFigures]:
    found = [p for p in trials["report"].phases if p.phase == phase]
    assert [p.master for p in found] == ["zuora", "netsuite"]
    return found


def test_runs_killed_at_random_points_never_duplicate_or_lose_a_record(trials):
    for figures in phases(trials, "kill"):
        assert figures.kills == SMALL.kills, figures.title
        assert figures.converged, figures.title
        assert figures.duplicates == [], figures.title
        assert figures.lost == [], figures.title
        assert figures.expected > SMALL.accounts // 2
        assert figures.probes_placed == figures.probes >= 2, figures.title
    assert trials["printed"].count("  duplicates 0   target 0: ok") == 4
    assert trials["printed"].count("  lost 0   target 0: ok") == 4


def test_faults_of_every_kind_at_10_percent_converge_with_every_record_synced_once(trials):
    for figures in phases(trials, "faults"):
        assert figures.converged, figures.title
        assert figures.runs_to_converge <= SMALL.max_runs
        assert figures.probes_placed == figures.probes >= 2, figures.title
        assert figures.duplicates == [], figures.title
        assert figures.lost == [], figures.title


def test_address_lines_and_values_kept_by_hand_survive_kills_and_faults(trials):
    for figures in trials["report"].phases:
        assert figures.probes >= 2
        assert figures.damaged == [], figures.title


def test_no_run_is_left_running_after_every_process_died(trials):
    for figures in phases(trials, "kill"):
        assert figures.ghosts == [], figures.title


def test_a_real_run_starts_soon_after_a_kill(trials):
    for figures in phases(trials, "kill"):
        assert len(figures.next_run) == SMALL.kills
        assert figures.cleared_by_hand == 0, figures.title
        assert figures.slowest_next_run is not None
        assert figures.slowest_next_run <= NEXT_RUN_LIMIT


@pytest.mark.django_db(transaction=True)
def test_the_audit_reports_a_duplicate_a_lost_and_a_damaged_record():
    """The checks can fail: a second NetSuite customer for one Zuora account, a link gone, a
    hand-kept address line deleted."""
    import random

    from connectors.netsuite import fields
    from syncadmin.benchmark import configure
    from syncadmin.models import RecordLink

    options = chaos.ChaosOptions(accounts=8, latency_ms=0.0, in_process=True)
    with chaos.trial_sandboxes("zuora", options) as (zuora, netsuite):
        configure(zuora, netsuite, options.concurrency, "zuora")
        sync_run_execute(trigger="command", client_options=FAST_CLIENTS)
        world = chaos.World("zuora", zuora, netsuite, random.Random(1))
        expected = set(RecordLink.objects.values_list("zuora_account_number", flat=True))
        world.choose_probes(expected, 1)
        world.place_probes()
        (probe,) = world.probes
        link = RecordLink.objects.get(zuora_account_number=probe)
        items = world.netsuite.address_books([link.netsuite_internal_id])[link.netsuite_internal_id]
        world.netsuite.update_customer(
            link.netsuite_internal_id,
            {"addressBook": {"items": [i for i in items if i["label"] != chaos.HAND_LINE_LABEL]}},
            replace_address_book=True,
        )
        twin = RecordLink.objects.exclude(pk=link.pk).first()
        world.netsuite.create_customer(
            {
                "companyName": "A second copy",
                "subsidiary": {"id": "2"},
                fields.ZUORA_ID: twin.zuora_account_id,
            }
        )
        lost = RecordLink.objects.exclude(pk__in=[link.pk, twin.pk]).first()
        lost.delete()

        figures = chaos.PhaseFigures(master="zuora", phase="kill")
        world.audit(expected, figures)

    assert figures.duplicates == [f"2 destination records for source {twin.zuora_account_number}"]
    assert figures.lost == [f"source {lost.zuora_account_number} has no link"]
    assert figures.damaged == [
        f"NetSuite customer {link.netsuite_internal_id} (Zuora {probe}): the address line "
        f"{chaos.HAND_LINE_LABEL!r} is gone"
    ]  # one line per damaged record
