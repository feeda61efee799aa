"""The fault run: the sandboxes answer a share of calls with every fault kind they know;
runs go on, faults still on, until one has nothing left to write."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable

from syncadmin.chaos.checks import runs_left_running, wrote_nothing
from syncadmin.chaos.figures import PhaseFigures
from syncadmin.chaos.options import FAULT_CLIENT_TIMEOUT, ChaosOptions
from syncadmin.chaos.world import World, probe_count, trial_sandboxes
from syncadmin.testbed import SandboxHandle, configure


def fault_run(
    master: str, expected: set[str], options: ChaosOptions, out: Callable[[str], None]
) -> PhaseFigures:
    from syncadmin.services.runs import sync_run_execute

    figures = PhaseFigures(master=master, phase="faults")
    started = time.monotonic()
    rng = random.Random(f"{options.seed}-{master}-faults")
    with trial_sandboxes(master, options) as (zuora, netsuite):
        configure(zuora, netsuite, options.concurrency, master)
        world = World(master, zuora, netsuite, rng)
        world.choose_probes(expected, probe_count(expected))
        world.set_faults(options.fault_rate)
        for sandbox in (zuora, netsuite):
            sandbox.reset_calls()
        # The first run creates; then, while some fault kind has not been served yet (a small
        # data set makes few calls), every probe's address moves and a record is created
        # again, so updates and creates meet faults too. Then runs go on until one writes
        # nothing.
        edits, edits_allowed = 0, max(1, options.max_runs // 2)
        for number in range(1, options.max_runs + 1):
            try:
                report = sync_run_execute(
                    trigger="command", client_options={"timeout": FAULT_CLIENT_TIMEOUT}
                )
            except Exception as exc:  # a crashed run is a figure, not the end of the trial
                figures.crashed_runs.append(f"run {number}: {type(exc).__name__}: {exc}")
                figures.real_runs += 1
                continue
            if report.status == "skipped":
                figures.skipped_runs += 1
                continue
            figures.real_runs += 1
            world.set_faults(0.0)
            world.place_probes()
            figures.faults = _faults_served(zuora, netsuite)
            if edits == 0 or (figures.kinds_not_served and edits < edits_allowed):
                world.edit()
                edits += 1
            elif report.run is not None and wrote_nothing(report.run):
                figures.converged = True
                figures.runs_to_converge = number
                break
            world.set_faults(options.fault_rate)
        world.set_faults(0.0)
        figures.faults = _faults_served(zuora, netsuite)
        world.audit(expected, figures)
        figures.ghosts = runs_left_running()
    out(f"  {master}: fault run done")
    figures.wall = time.monotonic() - started
    return figures


def _faults_served(*sandboxes: SandboxHandle) -> dict[str, int]:
    served: Counter[str] = Counter()
    for sandbox in sandboxes:
        served.update(sandbox.calls().get("faults", {}))
    return dict(served)
