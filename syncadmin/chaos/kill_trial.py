"""The kill -9 trials: sync runs in child processes killed at random points, then runs
until one has nothing left to write."""

from __future__ import annotations

import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from syncadmin.chaos.checks import runs_left_running, wrote_nothing
from syncadmin.chaos.children import ChildRuns, newest_run_id
from syncadmin.chaos.figures import PhaseFigures
from syncadmin.chaos.options import STARTUP_KILL_SHARE, STARTUP_SECONDS, ChaosOptions
from syncadmin.chaos.world import World, probe_count, trial_sandboxes
from syncadmin.testbed import configure


def kill_trials(
    master: str, expected: set[str], options: ChaosOptions, out: Callable[[str], None]
) -> PhaseFigures:
    figures = PhaseFigures(master=master, phase="kill")
    started = time.monotonic()
    rng = random.Random(f"{options.seed}-{master}-kill")
    with (
        trial_sandboxes(master, options) as (zuora, netsuite),
        tempfile.TemporaryDirectory() as tmp,
    ):
        configure(zuora, netsuite, options.concurrency, master)
        world = World(master, zuora, netsuite, rng)
        world.choose_probes(expected, probe_count(expected))
        runs = ChildRuns(options, figures, Path(tmp))
        # A kill lands anywhere in a run: after its run has started, within the length of the
        # last whole run (at first a guess); now and then during the process's start-up.
        span = 2.0
        settle = 2 * options.latency_ms / 1000 + 0.05
        edit_due = False
        while figures.kills < options.kills:
            if edit_due:
                world.edit()
                edit_due = False
            before = newest_run_id()
            process = runs.start()
            # While the last kill's lease may still block, attempts run to their end: killing
            # a run that was going to be skipped would count a kill that tested nothing.
            if not runs.waiting and _alive_at_random_point(process, before, rng, span):
                runs.kill(process, before)
                # Calls the dead run had in flight still land: let them before editing.
                time.sleep(settle)
                world.place_probes()
                edit_due = True
                continue
            process.wait()
            run = runs.finished(process, before)
            if run is not None:
                span = max(0.5, run.duration or span)
                world.place_probes()
                edit_due = True
        out(f"  {master}: {figures.kills} kills done; converging")
        figures.converged = _converge_children(runs, figures, world, options)
        figures.next_run = runs.next_run_waits()
        world.audit(expected, figures)
        figures.ghosts = runs_left_running()
    figures.wall = time.monotonic() - started
    return figures


def _alive_at_random_point(
    process: subprocess.Popen[bytes], before: int, rng: random.Random, span: float
) -> bool:
    """Wait for a random point of the child's life; whether it is still alive there."""
    from syncadmin.models import SyncRun

    if rng.random() < STARTUP_KILL_SHARE:
        delay = rng.uniform(0.0, STARTUP_SECONDS)
    else:
        while not SyncRun.objects.filter(pk__gt=before).exists():
            if process.poll() is not None:
                return False
            time.sleep(0.02)
        delay = rng.uniform(0.0, span)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        return True
    return False


def _converge_children(
    runs: ChildRuns, figures: PhaseFigures, world: World, options: ChaosOptions
) -> bool:
    real = 0
    while real < options.max_runs:
        before = newest_run_id()
        process = runs.start()
        process.wait(timeout=3600)
        run = runs.finished(process, before)
        if run is None:
            continue
        real += 1
        world.place_probes()
        if wrote_nothing(run):
            figures.runs_to_converge = real
            return True
    return False
