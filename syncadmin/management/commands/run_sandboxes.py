from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.sandboxes import netsuite as ns_sandbox
from connectors.sandboxes import zuora as z_sandbox
from connectors.sandboxes.hooks import HookSettings
from connectors.sandboxes.seed import SeedAccount, generate_accounts, probable_counterparts
from connectors.sandboxes.server import SandboxConfig
from connectors.zuora.fields import SYNC_TO_NETSUITE

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Command(BaseCommand):
    help = (
        "Serve the local Zuora and NetSuite sandboxes (simulators of both APIs, seeded with "
        "realistic accounts) until interrupted. Their data is kept in --state-dir."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--zuora-port", type=int, default=8101)
        parser.add_argument("--netsuite-port", type=int, default=8102)
        parser.add_argument("--accounts", type=int, default=300, help="Zuora accounts to seed.")
        parser.add_argument(
            "--customers",
            type=int,
            default=50,
            help="NetSuite customers of its own to seed (what a NetSuite-master sync sends).",
        )
        parser.add_argument(
            "--probable-pairs",
            type=int,
            default=6,
            help="NetSuite customers seeded as probable matches of unlinked Zuora accounts "
            "(same email, or same name and postal code), for Match suggestions.",
        )
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--state-dir", default=str(Path(settings.BASE_DIR) / "var" / "sandboxes")
        )
        parser.add_argument("--latency-ms", type=float, default=0.0)
        parser.add_argument("--netsuite-concurrency", type=int, default=5)
        parser.add_argument("--fault-rate", type=float, default=0.0)
        parser.add_argument(
            "--hook-base-url",
            default="",
            help="announce each save to syncadmin's hooks, as the vendors do: Zuora posts to "
            "<this>/hooks/zuora/, NetSuite to <this>/hooks/netsuite/ (e.g. http://127.0.0.1:8000)",
        )
        parser.add_argument(
            "--hook-secret",
            default=os.environ.get("SANDBOX_HOOK_SECRET", ""),
            help="the shared secret that signs the calls (default: $SANDBOX_HOOK_SECRET)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hooks = {}
        if options["hook_base_url"]:
            try:
                for system in ("zuora", "netsuite"):
                    hooks[system] = HookSettings(
                        url=f"{options['hook_base_url'].rstrip('/')}/hooks/{system}/",
                        secret=options["hook_secret"],
                    )
                    hooks[system].validate()
            except ValueError as exc:
                raise CommandError(f"--hook-base-url / --hook-secret: {exc}") from None
        state_dir = Path(options["state_dir"])
        state_dir.mkdir(parents=True, exist_ok=True)
        zuora = z_sandbox.ZuoraSandbox(
            host=options["host"],
            port=options["zuora_port"],
            config=SandboxConfig(
                latency_ms=options["latency_ms"],
                concurrency_limit=40,
                fault_rate=options["fault_rate"],
            ),
            state_file=state_dir / "zuora.json",
            hook=hooks.get("zuora"),
        )
        if not zuora.accounts:
            zuora.seed(options["accounts"], seed=options["seed"])
        netsuite = ns_sandbox.NetSuiteSandbox(
            host=options["host"],
            port=options["netsuite_port"],
            config=SandboxConfig(
                latency_ms=options["latency_ms"],
                concurrency_limit=options["netsuite_concurrency"],
                fault_rate=options["fault_rate"],
            ),
            state_file=state_dir / "netsuite.json",
            hook=hooks.get("netsuite"),
        )
        if not (state_dir / "netsuite.json").exists():
            # Another seed than Zuora's: these are the ERP's own customers, not copies. A few
            # are copies, though: what a company has on both sides before its first sync.
            netsuite.seed(
                customers=options["customers"],
                seed=options["seed"] + 1000,
                counterparts=self._counterparts(zuora, options),
            )
        for sandbox, option in ((zuora, "zuora_port"), (netsuite, "netsuite_port")):
            try:
                sandbox.start()
            except OSError as exc:
                zuora.stop()
                raise CommandError(
                    f"Port {options[option]} is in use ({exc.strerror}): is another demo or "
                    "sandbox still running? Stop it, or pass "
                    f"--{option.replace('_', '-')} with a free port."
                ) from None
        self.stdout.write(
            f"Zuora sandbox    {zuora.url}  client id {z_sandbox.DEFAULT_CLIENT_ID}, "
            f"secret {z_sandbox.DEFAULT_CLIENT_SECRET}\n"
            f"NetSuite sandbox {netsuite.url}  account {ns_sandbox.DEFAULT_ACCOUNT_ID}, "
            f"consumer key {ns_sandbox.DEFAULT_CONSUMER_KEY}, "
            f"token id {ns_sandbox.DEFAULT_TOKEN_ID}\n"
            "These are simulators for trying syncadmin out, not Zuora or NetSuite.",
        )
        self.stdout.flush()
        stop = threading.Event()
        for sig in STOP_SIGNALS:
            signal.signal(sig, lambda *_: stop.set())
        try:
            # Saved every few seconds too, so a killed process loses little.
            while not stop.wait(10):
                zuora.save()
                netsuite.save()
        finally:
            zuora.save()
            netsuite.save()
            zuora.stop()
            netsuite.stop()

    def _counterparts(
        self, zuora: z_sandbox.ZuoraSandbox, options: dict[str, Any]
    ) -> list[SeedAccount]:
        """Probable pairs for the Zuora accounts as seeded (and set to sync)."""
        if options["probable_pairs"] <= 0:
            return []
        by_number = {a["accountNumber"]: a for a in zuora.accounts.values()}

        def syncs(account: SeedAccount) -> bool:
            record = by_number.get(account.account_number)
            return (
                record is not None
                and record["name"] == account.name
                and record.get(SYNC_TO_NETSUITE) != "No"
            )

        seeded = generate_accounts(options["accounts"], seed=options["seed"])
        return probable_counterparts(seeded, count=options["probable_pairs"], eligible=syncs)
