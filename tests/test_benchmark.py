"""A small run of the sync benchmark so it cannot rot. It asserts behaviour, never timings:
the figures come from `manage.py bench_sync`."""

from __future__ import annotations

import pytest

from syncadmin import benchmark
from syncadmin.models import AccountResult, SyncCursor


@pytest.mark.django_db(transaction=True)
def test_benchmark_phases_count_calls_and_write_once_per_created_or_changed_account() -> None:
    lines: list[str] = []

    phases = benchmark.run_benchmark(
        accounts=60, latency_ms=2, concurrency=5, in_process=True, out=lines.append
    )

    initial, rerun, changed = phases
    created = initial.counts["created"]
    assert created > 0
    # One NetSuite write per created account: the address book rides in the same call.
    assert initial.writes == created
    # The cross-reference write-backs travel up to 50 to a Zuora call.
    assert -(-created // 50) <= initial.calls["zuora"]["write"] <= -(-created // 50) + 2
    assert initial.throttled == 0
    assert initial.peak_in_flight <= 5
    # The rerun re-reads nothing it wrote back itself, and writes nothing.
    assert rerun.writes == 0
    # Token, contacts and accounts changed since the watermark. Children that failed because
    # of a Draft parent are not read again while that parent does not change.
    assert rerun.total_calls <= 5, rerun.calls
    assert rerun.counts.get("created", 0) == rerun.counts.get("updated", 0) == 0
    assert SyncCursor.objects.get().settled_through is not None
    # 1% of 60 is one account (address-only); it costs one write.
    assert changed.writes == changed.counts["updated"] >= 1
    assert AccountResult.objects.filter(outcome="updated").count() == changed.counts["updated"]
    assert any(line.startswith("  wall") for line in lines)
    # The figures the targets are stated in: one write per created record, none on a rerun
    # with nothing to do.
    assert initial.destination_writes == initial.records_written == created
    assert rerun.total_writes == 0
    printed = "\n".join(lines)
    assert "== Zuora → NetSuite (Zuora master): the figures of the targets" in printed
    assert "ratio to the floor" in printed
    assert f"1.000 NetSuite writes per created/changed record ({created} for {created})" in printed
    assert "reads per record" in printed
    assert "calls besides token calls, 0 writes" in printed
    assert "peak memory of the process running the sync" in printed
    # Calls by route name the NetSuite upserts, one per created account.
    assert f"record.customer.upsert={created}" in "\n".join(lines)
