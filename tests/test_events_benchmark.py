"""A small run of the near-real-time benchmark so it cannot rot. It asserts behaviour, never
timings: the figures come from `manage.py bench_events`."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from syncadmin import events_benchmark


@pytest.mark.django_db(transaction=True)
def test_every_announced_edit_reaches_the_destination_once_and_lost_ones_at_the_next_run():
    lines: list[str] = []

    results = events_benchmark.run_events_benchmark(
        receiver="standin",
        accounts=50,
        latency_ms=5,
        singles=4,
        interval=0.1,
        burst=20,
        burst_seconds=1,
        lost=4,
        coalesce_seconds=0.1,
        timeout=30,
        out=lines.append,
    )

    singles, burst, net = results.singles, results.burst, results.safety_net
    assert singles is not None and burst is not None and net is not None
    assert (len(singles.times), singles.missing) == (4, 0)
    assert (len(burst.latencies.times), burst.latencies.missing) == (20, 0)
    # One NetSuite write per edited record, within the limit, and the sync's own writes to
    # NetSuite were announced and refused as not the master's.
    assert sorted(set(burst.writes_by_record.values())) == [1]
    assert burst.write_calls == 20
    assert burst.peak_in_flight <= burst.limit == 5
    assert burst.hook_answers["master"] == {"202": 20}
    assert burst.hook_answers["destination"] == {"409": 20}
    # Lost events: nothing moves until the scheduled run, which brings every edit across.
    assert (net.lost, net.arrived_without_hooks, net.after_run) == (4, 0, 4)
    printed = "\n".join(lines)
    assert "edit -> destination: p50" in printed
    assert "within 5 s: 100.0% (target 95%)" in printed
    assert "NetSuite writes per record: 1.000 (20 for 20 records" in printed
    assert "brought 4 of 4 across (target: all)" in printed


def test_bench_events_refuses_bad_counts():
    with pytest.raises(CommandError, match="--burst cannot be negative"):
        call_command("bench_events", "--burst", "-1")


@pytest.mark.parametrize(
    ("times", "share", "expected"),
    [
        ([1.0], 0.95, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([float(n) for n in range(1, 101)], 0.95, 95.0),
    ],
)
def test_percentile_is_nearest_rank(times, share, expected):
    assert events_benchmark.percentile(times, share) == expected
