from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncadmin import chaos, testbed


class Command(BaseCommand):
    help = (
        "Crash and fault trials on fresh sandboxes and a throwaway database: in each direction, "
        "kill -9 sync runs (child processes) at random points, then let runs converge; then a "
        "run with a share of every fault kind. Prints duplicates, lost and damaged records, "
        "runs left running and the time from a kill to the next real run, with their targets; "
        "exits non-zero when a target is missed. The demo's database and sandboxes are never "
        "touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kills", type=int, default=chaos.TARGET_KILLS, help="Per direction.")
        parser.add_argument("--accounts", type=int, default=100, help="Source records seeded.")
        parser.add_argument("--latency-ms", type=float, default=50.0)
        parser.add_argument(
            "--concurrency", type=int, default=5, help="NetSuite's limit and the configured one."
        )
        parser.add_argument("--fault-rate", type=float, default=0.10)
        parser.add_argument(
            "--direction",
            choices=("zuora", "netsuite", "both"),
            default="both",
            help="The master: zuora (Zuora → NetSuite), netsuite (NetSuite → Zuora), or both.",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--max-runs", type=int, default=10, help="Runs allowed to converge, per phase."
        )
        parser.add_argument(
            "--next-run-limit",
            type=float,
            default=120.0,
            help="Seconds to wait for a real run after a kill before clearing the lease by hand.",
        )
        parser.add_argument(
            "--lease-ttl",
            type=float,
            default=None,
            help="Lease TTL for the runs (SYNC_LEASE_TTL_SECONDS), when the project has it.",
        )
        parser.add_argument("--no-kills", action="store_true", help="Only the fault runs.")
        parser.add_argument("--no-faults", action="store_true", help="Only the kill trials.")
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="Run the sandboxes in this process (they share its interpreter lock).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["accounts"] < 1 or options["kills"] < 0 or options["max_runs"] < 1:
            raise CommandError("--accounts and --max-runs must be at least 1, --kills 0 or more")
        if not 0 <= options["fault_rate"] < 1:
            raise CommandError("--fault-rate is a share of calls: 0 to below 1")
        direction = options["direction"]
        settings = chaos.ChaosOptions(
            kills=options["kills"],
            accounts=options["accounts"],
            latency_ms=options["latency_ms"],
            concurrency=options["concurrency"],
            fault_rate=options["fault_rate"],
            masters=("zuora", "netsuite") if direction == "both" else (direction,),
            seed=options["seed"],
            max_runs=options["max_runs"],
            next_run_limit=options["next_run_limit"],
            lease_ttl_seconds=options["lease_ttl"],
            in_process=options["in_process"],
            faults=not options["no_faults"],
            kill_trials=not options["no_kills"],
        )

        def out(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        with testbed.throwaway_database() as name:
            out(f"throwaway database {name}")
            report = chaos.run_chaos(settings, out=out)
        if report.misses:
            raise CommandError("targets missed:\n  " + "\n  ".join(report.misses), returncode=1)
        out("every target met")
