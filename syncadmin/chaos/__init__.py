"""Crash and fault trials behind `manage.py chaos_sync`: an operator's bad day, measured.

For each direction (the `master` preference) two phases run against fresh sandboxes:

- kill -9 trials: `manage.py sync_customers` runs in a child process against the same database,
  and is killed with SIGKILL after a random delay; the next run is started at once (a skipped
  run is tried again every few seconds, as a scheduler would), and so on. Between trials a few
  source records change and one is created, so every run has work to be killed in. After the
  trials, runs go on normally until one has nothing left to write.
- a fault run: the sandboxes answer a share of calls with every fault kind they know (429, 503,
  an HTML error page, a dropped connection, a hang, and whatever else FAULT_KINDS lists); runs
  go on, faults still on, until one has nothing left to write (a bounded number of runs).

Then the sandboxes are read back over their APIs, faults off, and compared with a reference: the
source records a clean run syncs (a first, fault-free run on identical sandboxes). Reported:
duplicates, lost records, records damaged (data a finance team keeps by hand, put on some records
before the trials: an extra ship-to address line and address values the source does not have),
runs left "running" once every process is dead, and the time from each kill to the next run
that was not skipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from syncadmin.chaos.children import lease_ttl_in_effect
from syncadmin.chaos.fault_trial import fault_run
from syncadmin.chaos.figures import ChaosReport, PhaseFigures, systems
from syncadmin.chaos.kill_trial import kill_trials
from syncadmin.chaos.options import HAND_LINE_LABEL, REFERENCE_CLIENTS, TARGET_KILLS, ChaosOptions
from syncadmin.chaos.world import World, trial_sandboxes
from syncadmin.testbed import configure, database_flush

# What `manage.py chaos_sync` and the tests use.
__all__ = [
    "HAND_LINE_LABEL",
    "TARGET_KILLS",
    "ChaosOptions",
    "ChaosReport",
    "PhaseFigures",
    "World",
    "run_chaos",
    "trial_sandboxes",
]


def reference_sync(master: str, options: ChaosOptions) -> tuple[set[str], int]:
    """The source records a clean run syncs on identical sandboxes (no latency, no fault), and
    how many source records there are."""
    from syncadmin.models import RecordLink
    from syncadmin.services.runs import sync_run_execute

    with trial_sandboxes(master, options, latency_ms=0.0, in_process=True) as (zuora, netsuite):
        configure(zuora, netsuite, options.concurrency, master)
        for _ in range(2):  # the second run settles what the first wrote back
            sync_run_execute(trigger="command", client_options=REFERENCE_CLIENTS)
        world = World(master, zuora, netsuite, random.Random(0))
        total = len(world.sources())
        if master == "zuora":
            keys = set(RecordLink.objects.values_list("zuora_account_number", flat=True))
        else:
            keys = set(RecordLink.objects.values_list("netsuite_internal_id", flat=True))
    database_flush()
    return keys, total


def run_chaos(options: ChaosOptions, out: Callable[[str], None] = print) -> ChaosReport:
    """Every phase asked for, in each direction asked for, on the current (throwaway)
    database, which is flushed between phases."""
    report = ChaosReport(options)
    with lease_ttl_in_effect(options) as ttl:
        out(
            f"chaos_sync: {options.accounts} source records, latency {options.latency_ms:g} ms, "
            f"NetSuite limit {options.concurrency}, {options.kills} kills per direction, "
            f"faults at {options.fault_rate:.0%}, seed {options.seed}; lease: {ttl}"
        )
        for master in options.masters:
            expected, total = reference_sync(master, options)
            source = systems(master)[0]
            out(
                f"reference ({source} master): a clean run syncs {len(expected)} of {total} "
                f"{source} records (the others are out of scope or fail for their data)"
            )
            phases: list[Callable[..., PhaseFigures]] = []
            if options.kill_trials:
                phases.append(kill_trials)
            if options.faults:
                phases.append(fault_run)
            for phase in phases:
                figures = phase(master, expected, options, out)
                report.phases.append(figures)
                for line in figures.lines(options.kills):
                    out(line)
                database_flush()
    return report
