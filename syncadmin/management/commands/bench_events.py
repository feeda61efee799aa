from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncadmin import events_benchmark, testbed


class Command(BaseCommand):
    help = (
        "Benchmark near-real-time sync (issue 22) on fresh sandboxes at vendor latency and a "
        "throwaway database: the master sandbox announces each edit to syncadmin's hook, as "
        "Zuora's callouts and NetSuite's user event script do. Prints the edit-to-destination "
        "time of single edits (p50/p95/p99, share within 5 s and 10 s), a burst of edits "
        "(total time, writes per record, NetSuite concurrency used against its limit), and "
        "the safety net: edits made with the hook off reach the destination at the next "
        "scheduled run. The demo's database and sandboxes are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--master", choices=("zuora", "netsuite"), default="zuora")
        parser.add_argument(
            "--accounts",
            type=int,
            default=1500,
            help="records seeded (some fail on purpose; each phase edits records of its own)",
        )
        parser.add_argument("--latency-ms", type=float, default=300.0)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=5,
            help="NetSuite's concurrency limit in the sandbox, and the configured concurrency.",
        )
        parser.add_argument("--singles", type=int, default=50, help="single edits (0: skip)")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between singles")
        parser.add_argument("--burst", type=int, default=1000, help="edits in the burst (0: skip)")
        parser.add_argument("--burst-seconds", type=float, default=60.0)
        parser.add_argument(
            "--lost", type=int, default=20, help="edits made with the hook off (0: skip)"
        )
        parser.add_argument(
            "--receiver",
            choices=("app", "standin"),
            default="app",
            help="app: syncadmin's web server and a django-q2 worker receive the hooks; "
            "standin: a small receiver in this process that syncs announced records in "
            "coalesced batches (measures the sending side and the engine, not syncadmin's queue)",
        )
        parser.add_argument(
            "--coalesce-ms",
            type=float,
            default=300.0,
            help="the stand-in's wait for more events before it syncs a batch",
        )
        parser.add_argument(
            "--master-hook-only",
            action="store_true",
            help="the destination does not announce the sync's own writes (it does by default, "
            "like the vendors; the receiver answers those 409)",
        )
        parser.add_argument(
            "--edit",
            choices=events_benchmark.EDITS,
            default="name",
            help="what each edit changes: the name (with Zuora as master it also renames the "
            "addressee of the customer's address lines, which costs a read of the customer), "
            "or the bill-to email (one field on no address line; Zuora master only)",
        )
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds per phase")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("accounts", "concurrency"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        if options["edit"] == "email" and options["master"] != "zuora":
            raise CommandError("--edit email works with --master zuora only")
        for name in ("singles", "burst", "lost"):
            if options[name] < 0:
                raise CommandError(f"--{name} cannot be negative")

        def out(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        with testbed.throwaway_database() as name:
            out(f"throwaway database {name}")
            try:
                events_benchmark.run_events_benchmark(
                    master=options["master"],
                    accounts=options["accounts"],
                    latency_ms=options["latency_ms"],
                    concurrency=options["concurrency"],
                    singles=options["singles"],
                    interval=options["interval"],
                    burst=options["burst"],
                    burst_seconds=options["burst_seconds"],
                    lost=options["lost"],
                    receiver=options["receiver"],
                    coalesce_seconds=options["coalesce_ms"] / 1000,
                    master_hook_only=options["master_hook_only"],
                    edit=options["edit"],
                    timeout=options["timeout"],
                    out=out,
                )
            except events_benchmark.ReceiverUnavailable as exc:
                raise CommandError(str(exc)) from None
