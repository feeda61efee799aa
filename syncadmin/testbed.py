"""The test bed the benchmark and the crash trials run on: fresh sandboxes, in their own
processes by default, a throwaway database, and the connections pointed at them.

On a small machine, one process holding the client, both servers and the interpreter lock
measures Python's scheduler, not the sync: the sandboxes get processes of their own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests


@dataclass
class SandboxHandle:
    """A running sandbox, in this process (`server`) or in a child process (`process`)."""

    name: str
    url: str
    server: Any = None
    process: Any = None

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=600)
        response.raise_for_status()
        return response.json() if response.content else None

    def calls(self) -> dict[str, Any]:
        return self.control("GET", "calls")

    def reset_calls(self) -> None:
        self.control("POST", "calls/reset")

    def cpu_seconds(self) -> float:
        """CPU time the sandbox's process used (user + system); this process when in-process."""
        if self.process is None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        with open(f"/proc/{self.process.pid}/stat") as handle:
            parts = handle.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(parts[11]) + int(parts[12])) / ticks

    def peak_rss_mb(self) -> float | None:
        """The RSS high-water of the sandbox's own process; None when it runs in this one."""
        if self.process is None:
            return None
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.process is not None:
            self.process.terminate()
            self.process.join(timeout=10)


def _build(kind: str, latency_ms: float, limit: int, accounts: int, seed: int = 42) -> Any:
    from connectors.sandboxes.netsuite import NetSuiteSandbox
    from connectors.sandboxes.server import SandboxConfig
    from connectors.sandboxes.zuora import ZuoraSandbox

    config = SandboxConfig(latency_ms=latency_ms, concurrency_limit=limit)
    if kind == "zuora":
        server = ZuoraSandbox(config=config)
        server.seed(accounts, seed=seed)
    else:
        server = NetSuiteSandbox(config=config)
        server.seed(customers=accounts, seed=seed)
    return server


def _serve_child(
    kind: str, latency_ms: float, limit: int, accounts: int, conn: Any, seed: int = 42
) -> None:
    server = _build(kind, latency_ms, limit, accounts, seed)
    server.start()
    conn.send(server.url)
    conn.close()
    while True:
        time.sleep(3600)


def start_sandbox(
    kind: str, *, latency_ms: float, limit: int, accounts: int, in_process: bool, seed: int = 42
) -> SandboxHandle:
    if in_process:
        server = _build(kind, latency_ms, limit, accounts, seed).start()
        return SandboxHandle(kind, server.url, server=server)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve_child, args=(kind, latency_ms, limit, accounts, child, seed), daemon=True
    )
    process.start()
    if not parent.poll(600):
        process.terminate()
        raise RuntimeError(f"the {kind} sandbox did not start")
    return SandboxHandle(kind, parent.recv(), process=process)


def configure(zuora: SandboxHandle, netsuite: SandboxHandle, concurrency: int, master: str) -> None:
    from syncadmin.services.connections import connections_point_at_sandboxes
    from syncadmin.services.preferences import preferences_update

    connections_point_at_sandboxes(zuora_url=zuora.url, netsuite_url=netsuite.url)
    preferences_update(
        values={
            "default_subsidiary": "Parent Company : US Sub",
            "netsuite_concurrency": concurrency,
            "master": master,
        }
    )


@contextlib.contextmanager
def throwaway_database(verbosity: int = 0) -> Iterator[str]:
    """A fresh, migrated database for the benchmark (the test database's name), dropped after:
    the demo's data is never touched."""
    from cryptography.fernet import Fernet
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings

    old_name = connection.settings_dict["NAME"]
    # Secrets of the throwaway connections are encrypted with a throwaway key when the
    # environment has none (the benchmark must not need the operator's key).
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [Fernet.generate_key().decode()]
    name = connection.creation.create_test_db(
        verbosity=verbosity, autoclobber=True, serialize=False
    )
    try:
        with override_settings(FIELD_ENCRYPTION_KEYS=keys):
            yield name
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=verbosity)
        if connection.vendor == "sqlite":
            # Django removes the database file; SQLite's write-ahead log and its index stay.
            for suffix in ("-wal", "-shm"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)


def database_flush() -> None:
    """Empty the (throwaway) database between directions or trial phases, and forget the Zuora
    tokens kept for sandboxes that are gone."""
    from django.core.management import call_command

    from connectors.zuora.client import forget_tokens

    call_command("flush", interactive=False, verbosity=0)
    forget_tokens()


@contextlib.contextmanager
def sandboxes_started(
    *,
    master: str,
    accounts: int,
    netsuite_latency_ms: float,
    zuora_latency_ms: float,
    netsuite_limit: int,
    in_process: bool,
    seed: int = 42,
) -> Iterator[tuple[SandboxHandle, SandboxHandle]]:
    """Fresh Zuora and NetSuite sandboxes: the master's seeded with `accounts` records, the
    other empty. Zuora's limit is the tenant default of 40."""
    zuora = start_sandbox(
        "zuora",
        latency_ms=zuora_latency_ms,
        limit=40,
        accounts=accounts if master == "zuora" else 0,
        in_process=in_process,
        seed=seed,
    )
    netsuite: SandboxHandle | None = None
    try:
        netsuite = start_sandbox(
            "netsuite",
            latency_ms=netsuite_latency_ms,
            limit=netsuite_limit,
            accounts=accounts if master == "netsuite" else 0,
            in_process=in_process,
            seed=seed,
        )
        yield zuora, netsuite
    finally:
        if netsuite is not None:
            netsuite.stop()
        zuora.stop()
