"""What a chaos trial is asked to do, and the targets it is measured against."""

from __future__ import annotations

from dataclasses import dataclass

TARGET_KILLS = 50
TARGET_NEXT_RUN_SECONDS = 60.0
HAND_LINE_LABEL = "Warehouse (kept by hand)"
HAND_LINE_ADDR1 = "1 Dock Road"
HAND_ADDR2 = "Dock 7 (kept by hand)"
# In the fault run a hang must be a hang to the client: the sandbox stays silent for longer
# than the client waits for an answer.
FAULT_CLIENT_TIMEOUT = 2.0
FAULT_HANG_SECONDS = 3.0
REFERENCE_CLIENTS = {"timeout": 10.0, "backoff_base": 0.01}
STARTUP_KILL_SHARE = 0.1  # kills before the run starts (in Django's start-up)
STARTUP_SECONDS = 1.0
SYNC_EXIT_CODES = (0, 1)  # sync_customers: 0 all succeeded or skipped, 1 some failed


@dataclass
class ChaosOptions:
    kills: int = TARGET_KILLS
    accounts: int = 100
    latency_ms: float = 50.0
    concurrency: int = 5
    fault_rate: float = 0.10
    masters: tuple[str, ...] = ("zuora", "netsuite")
    seed: int = 1
    max_runs: int = 10  # runs (not skipped) allowed to converge, per phase
    next_run_limit: float = 120.0  # after this the harness clears a stale lease by hand
    retry_pause: float = 5.0  # between a skipped run and the next attempt
    lease_ttl_seconds: float | None = None  # set only when the project has the setting
    in_process: bool = False  # sandboxes in this process (they share its interpreter lock)
    faults: bool = True
    kill_trials: bool = True
