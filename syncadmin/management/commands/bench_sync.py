from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncadmin import benchmark, testbed


class Command(BaseCommand):
    help = (
        "Benchmark the customer sync on fresh sandboxes and a throwaway database: the initial "
        "sync, a rerun with no change, a rerun after 1% of the records changed. Prints, per "
        "direction, elapsed time against the floor (writes x latency / concurrency), writes "
        "per created or changed record, reads per record, the calls and writes of the rerun "
        "with no change, API calls by kind and route, 429s and the peak memory of the process "
        "running the sync. The demo's database and sandboxes are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=1000)
        parser.add_argument("--latency-ms", type=float, default=100.0)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=5,
            help="NetSuite's concurrency limit in the sandbox, and the configured concurrency.",
        )
        parser.add_argument(
            "--direction",
            choices=("zuora", "netsuite", "both"),
            default="zuora",
            help="The master: zuora (Zuora → NetSuite), netsuite (NetSuite → Zuora), or both "
            "one after the other, each on fresh sandboxes and an emptied database.",
        )
        parser.add_argument(
            "--zuora-latency-ms",
            type=float,
            default=None,
            help="Latency of the Zuora sandbox (default: the same as NetSuite's).",
        )
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="Run the sandboxes in this process (they share its GIL with the client).",
        )
        parser.add_argument(
            "--admin-rows",
            type=int,
            default=0,
            help="Also time the admin's results changelist with this many AccountResult rows.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["accounts"] < 1 or options["concurrency"] < 1:
            raise CommandError("--accounts and --concurrency must be at least 1")

        def out(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        with testbed.throwaway_database() as name:
            out(f"throwaway database {name}")
            direction = options["direction"]
            masters = ("zuora", "netsuite") if direction == "both" else (direction,)
            for number, master in enumerate(masters):
                if number:
                    testbed.database_flush()
                benchmark.run_benchmark(
                    accounts=options["accounts"],
                    latency_ms=options["latency_ms"],
                    concurrency=options["concurrency"],
                    direction=master,
                    zuora_latency_ms=options["zuora_latency_ms"],
                    in_process=options["in_process"],
                    out=out,
                )
            if options["admin_rows"]:
                benchmark.measure_admin_results(options["admin_rows"], out=out)
