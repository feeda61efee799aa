from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from connectors.sandboxes import netsuite as ns_sandbox
from connectors.sandboxes import zuora as z_sandbox
from connectors.sandboxes.server import SandboxConfig


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
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--state-dir", default=str(Path(settings.BASE_DIR) / "var" / "sandboxes")
        )
        parser.add_argument("--latency-ms", type=float, default=0.0)
        parser.add_argument("--netsuite-concurrency", type=int, default=5)
        parser.add_argument("--fault-rate", type=float, default=0.0)

    def handle(self, *args: Any, **options: Any) -> None:
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
        )
        if not (state_dir / "netsuite.json").exists():
            # Another seed than Zuora's: these are the ERP's own customers, not copies.
            netsuite.seed(customers=options["customers"], seed=options["seed"] + 1000)
        zuora.start()
        netsuite.start()
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
        for sig in (signal.SIGINT, signal.SIGTERM):
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
