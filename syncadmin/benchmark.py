"""The sync benchmark behind `manage.py bench_sync`: fresh sandboxes, three phases, figures.

The sandboxes run in their own processes by default: on a small machine, one process holding
the client, both servers and the GIL measures Python's scheduler, not the sync. Each phase
reports the floor N x latency / concurrency of its NetSuite writes and the ratio to it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

WRITE_KIND = "write"


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

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.process is not None:
            self.process.terminate()
            self.process.join(timeout=10)


def _build(kind: str, latency_ms: float, limit: int, accounts: int, seed: int = 42) -> Any:
    from connectors.netsuite.sandbox import NetSuiteSandbox
    from connectors.sandbox.server import SandboxConfig
    from connectors.zuora.sandbox import ZuoraSandbox

    config = SandboxConfig(latency_ms=latency_ms, concurrency_limit=limit)
    if kind == "zuora":
        server = ZuoraSandbox(config=config)
        server.seed(accounts, seed=seed)
    else:
        server = NetSuiteSandbox(config=config)
        server.seed(customers=accounts, seed=seed)
    return server


# The sandbox process's thread switch interval (seconds; the interpreter's default is 0.005).
SANDBOX_SWITCH_INTERVAL = 0.0005


def _serve_child(
    kind: str, latency_ms: float, limit: int, accounts: int, conn: Any, seed: int = 42
) -> None:
    # A handler whose latency has passed must not wait 5 ms (the default switch interval)
    # for another handler's SQL to give the interpreter lock back: that wait would be added
    # to every call's latency, a cost of the sandbox, not of the client being measured.
    sys.setswitchinterval(SANDBOX_SWITCH_INTERVAL)
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


@dataclass
class Phase:
    name: str
    accounts: int
    wall: float
    latency_ms: float
    concurrency: int
    calls: dict[str, dict[str, int]]
    counts: dict[str, int]
    throttled: int
    peak_in_flight: int
    rss_peak_mb: float
    zuora_latency_ms: float = 0.0
    zuora_concurrency: int = 1  # the Zuora writes the engine runs at once
    sandbox_cpu: dict[str, float] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)
    routes: dict[str, dict[str, int]] = field(default_factory=dict)  # sandbox -> route -> calls

    @property
    def writes(self) -> int:
        return self.calls.get("netsuite", {}).get(WRITE_KIND, 0)

    @property
    def zuora_writes(self) -> int:
        return self.calls.get("zuora", {}).get(WRITE_KIND, 0)

    @property
    def netsuite_floor(self) -> float:
        return self.writes * self.latency_ms / 1000 / self.concurrency

    @property
    def zuora_floor(self) -> float:
        return self.zuora_writes * self.zuora_latency_ms / 1000 / self.zuora_concurrency

    @property
    def floor(self) -> float:
        """Write calls x latency / concurrency of the busier system: NetSuite's, except when
        NetSuite is the master and the Zuora writes outweigh the NetSuite write-backs."""
        return max(self.netsuite_floor, self.zuora_floor)

    @property
    def total_calls(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.calls.values())

    @property
    def reads(self) -> int:
        return sum(
            n for kinds in self.calls.values() for kind, n in kinds.items() if kind != WRITE_KIND
        )

    def lines(self) -> list[str]:
        ratio = f"{self.wall / self.floor:.3f}" if self.floor else "n/a (no write)"
        per = self.accounts or 1
        calls = "; ".join(
            f"{system} " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
            for system, kinds in sorted(self.calls.items())
            if kinds
        )
        sandbox = ", ".join(
            f"{name} served {self.served.get(name, 0)} calls, "
            f"CPU {cpu:.1f} s = {100 * cpu / self.wall if self.wall else 0:.0f}% of one core"
            for name, cpu in self.sandbox_cpu.items()
        )
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "none"
        return [
            f"== {self.name}",
            f"  accounts {self.accounts}; outcomes {outcomes}",
            f"  wall {self.wall:.2f} s; floor {self.floor:.2f} s = the larger of NetSuite "
            f"{self.netsuite_floor:.2f} s ({self.writes} writes x {self.latency_ms:g} ms / "
            f"{self.concurrency}) and Zuora {self.zuora_floor:.2f} s ({self.zuora_writes} writes x "
            f"{self.zuora_latency_ms:g} ms / {self.zuora_concurrency}); ratio {ratio}",
            f"  API calls {self.total_calls}: {calls}",
            f"  per account: {self.total_calls / per:.4f} calls, "
            f"{self.writes / per:.4f} NetSuite writes, {self.zuora_writes / per:.4f} Zuora writes, "
            f"{self.reads / per:.4f} reads (query/read/token)",
            f"  429s received {self.throttled}; NetSuite peak in flight {self.peak_in_flight}",
            f"  peak RSS of this process {self.rss_peak_mb:.0f} MB (ru_maxrss, sandboxes excluded"
            " when they run in their own processes)",
            f"  sandboxes: {sandbox}",
            "  served by route: "
            + "; ".join(
                f"{name} " + ", ".join(f"{r}={n}" for r, n in sorted(routes.items()))
                for name, routes in sorted(self.routes.items())
                if routes
            ),
        ]


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def run_phase(
    name: str,
    *,
    accounts: int,
    latency_ms: float,
    concurrency: int,
    sandboxes: list[SandboxHandle],
    zuora_latency_ms: float,
    zuora_concurrency: int,
) -> Phase:
    from syncadmin.services.runs import sync_run_execute

    for sandbox in sandboxes:
        sandbox.reset_calls()
    cpu_before = {s.name: s.cpu_seconds() for s in sandboxes}
    started = time.monotonic()
    report = sync_run_execute(trigger="command")
    wall = time.monotonic() - started
    if report.status not in ("succeeded", "partly_failed"):
        raise RuntimeError(f"{name}: the run ended {report.status}: {report.message}")
    summaries = {s.name: s.calls() for s in sandboxes}
    throttled = sum(
        n
        for summary in summaries.values()
        for key, n in summary["by_status"].items()
        if key.endswith(" 429")
    )
    return Phase(
        name=name,
        accounts=accounts,
        wall=wall,
        latency_ms=latency_ms,
        concurrency=concurrency,
        zuora_latency_ms=zuora_latency_ms,
        zuora_concurrency=zuora_concurrency,
        calls=report.api_calls,
        counts=report.counts,
        throttled=throttled,
        peak_in_flight=summaries["netsuite"]["peak_in_flight"],
        rss_peak_mb=_rss_peak_mb(),
        sandbox_cpu={s.name: s.cpu_seconds() - cpu_before[s.name] for s in sandboxes},
        served={s.name: summaries[s.name]["total"] for s in sandboxes},
        routes={s.name: _by_route(summaries[s.name]["by_status"]) for s in sandboxes},
    )


def _by_route(by_status: dict[str, int]) -> dict[str, int]:
    """Calls by route, all statuses together ("v1.account.create 429" counts as the route),
    without the benchmark's own calls to the sandbox's control routes."""
    routes: Counter[str] = Counter()
    for key, n in by_status.items():
        route = key.rsplit(" ", 1)[0]
        if not route.startswith("sandbox."):
            routes[route] += n
    return dict(routes)


def change_zuora_accounts(zuora: SandboxHandle, share: float = 0.01) -> int:
    """Edit `share` of the linked accounts through Zuora's API, as users would: half of them
    address-only (a bill-to contact edit, which does not move the account's updatedDate)."""
    from syncadmin.models import RecordLink
    from syncadmin.services.connections import zuora_client_build

    client = zuora_client_build()
    ids = list(RecordLink.objects.order_by("id").values_list("zuora_account_id", flat=True))
    step = max(1, round(1 / share))
    chosen = ids[::step]
    accounts = {a["id"]: a for a in client.iter_accounts_by_ids(chosen)}
    for number, account_id in enumerate(chosen):
        account = accounts[account_id]
        if number % 2 == 0:
            client.update_contact(account["billToId"], {"address1": f"{number} Benchmark Street"})
        else:
            client.update_account(account_id, {"notes": f"Changed by the benchmark ({number})"})
    return len(chosen)


def change_netsuite_customers(netsuite: SandboxHandle, share: float = 0.01) -> int:
    """The same for NetSuite master: half address-only edits (the address subrecord UI)."""
    from syncadmin.models import RecordLink
    from syncadmin.services.connections import netsuite_client_build

    client = netsuite_client_build()
    ids = list(RecordLink.objects.order_by("id").values_list("netsuite_internal_id", flat=True))
    step = max(1, round(1 / share))
    chosen = ids[::step]
    for number, internal_id in enumerate(chosen):
        if number % 2 == 0:
            netsuite.control(
                "POST",
                f"ui/customer/{internal_id}/address",
                {"addr1": f"{number} Benchmark Street"},
            )
        else:
            client.update_customer(internal_id, {"comments": f"Changed by the benchmark {number}"})
    return len(chosen)


def zuora_write_concurrency(direction: str) -> int:
    """Zuora write calls the engine of `direction` runs at once (half the tenant's default
    limit of 40, which other integrations share)."""
    if direction == "zuora":
        from syncadmin.services.zuora_to_netsuite import ZUORA_WRITES_AT_ONCE

        return ZUORA_WRITES_AT_ONCE
    from syncadmin.services.netsuite_to_zuora import ZUORA_WRITE_CONCURRENCY

    return ZUORA_WRITE_CONCURRENCY


def run_benchmark(
    *,
    accounts: int,
    latency_ms: float,
    concurrency: int,
    direction: str = "zuora",
    zuora_latency_ms: float | None = None,
    in_process: bool = False,
    out: Callable[[str], None] = print,
) -> list[Phase]:
    """Seed fresh sandboxes, configure the (already throwaway) database for them, and run the
    initial sync, a rerun with no change, and a rerun after 1% of the records changed."""
    zuora_latency = latency_ms if zuora_latency_ms is None else zuora_latency_ms
    master_is_zuora = direction == "zuora"
    out(
        f"bench_sync: {accounts} {'Zuora accounts' if master_is_zuora else 'NetSuite customers'}"
        f", NetSuite latency {latency_ms:g} ms and limit {concurrency} (configured concurrency "
        f"{concurrency}), Zuora latency {zuora_latency:g} ms, sandboxes "
        f"{'in this process' if in_process else 'in their own processes'}"
    )
    started = time.monotonic()
    zuora = start_sandbox(
        "zuora",
        latency_ms=zuora_latency,
        limit=40,
        accounts=accounts if master_is_zuora else 0,
        in_process=in_process,
    )
    netsuite: SandboxHandle | None = None
    try:
        netsuite = start_sandbox(
            "netsuite",
            latency_ms=latency_ms,
            limit=concurrency,
            accounts=0 if master_is_zuora else accounts,
            in_process=in_process,
        )
        out(f"  sandboxes seeded and up in {time.monotonic() - started:.1f} s")
        configure(zuora, netsuite, concurrency, "zuora" if master_is_zuora else "netsuite")
        sandboxes = [zuora, netsuite]
        common = {
            "accounts": accounts,
            "latency_ms": latency_ms,
            "concurrency": concurrency,
            "sandboxes": sandboxes,
            "zuora_latency_ms": zuora_latency,
            "zuora_concurrency": zuora_write_concurrency(direction),
        }
        phases = []
        for name in ("initial sync", "rerun, no change"):
            phases.append(run_phase(name, **common))
            _print(phases[-1], out)
        if master_is_zuora:
            changed = change_zuora_accounts(zuora)
        else:
            changed = change_netsuite_customers(netsuite)
        phases.append(run_phase(f"rerun after {changed} changes (1%, half address-only)", **common))
        _print(phases[-1], out)
        return phases
    finally:
        if netsuite is not None:
            netsuite.stop()
        zuora.stop()


def _print(phase: Phase, out: Callable[[str], None]) -> None:
    for line in phase.lines():
        out(line)


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


def measure_admin_results(rows: int, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Fill AccountResult to `rows` rows, then time the admin's results changelist (server
    side, Django's test client) and count its queries."""
    from urllib.parse import urlencode

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from syncadmin.models import AccountResult, SyncRun, name_search_key

    existing = AccountResult.objects.count()
    missing = max(0, rows - existing)
    started = time.monotonic()
    if missing:
        run = SyncRun.objects.create(trigger="command", direction="zuora_to_netsuite")
        outcomes = ["unchanged"] * 90 + ["updated"] * 6 + ["created"] * 3 + ["failed"]
        stamp = timezone.now().isoformat()
        table = AccountResult._meta.db_table
        sql = (
            f"INSERT INTO {table} (run_id, source_id, source_number, source_name, name_key,"
            " destination_id, outcome, reason, error_code, error_message, retryable, waiting_for,"
            " changes, warnings, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '', %s, %s, %s,"
            " '', '{}', '[]', %s)"
        )
        chunk = 50_000
        for start in range(0, missing, chunk):
            values = []
            for i in range(start, min(missing, start + chunk)):
                outcome = outcomes[i % len(outcomes)]
                failed = outcome == "failed"
                name = f"Benchmark account {i}"
                values.append(
                    (
                        run.pk,
                        f"8a{i:030x}",
                        f"A{i:08d}",
                        name,
                        # Raw SQL skips the field's pre_save: the key is made as the ORM does.
                        name_search_key(name),
                        str(i),
                        outcome,
                        "UNKNOWN_PAYMENT_TERM" if failed else "",
                        "Payment term Net 99 is not in NetSuite" if failed else "",
                        False,
                        stamp,
                    )
                )
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, values)
    out(
        f"== admin results changelist with {existing + missing} AccountResult rows "
        f"(inserted {missing} in {time.monotonic() - started:.1f} s)"
    )
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    figures: dict[str, Any] = {}
    # A search is timed only with the rows it must find on the page: an empty answer is fast.
    for label, query, expected in (
        ("first page", "", ""),
        ("failed only", "?outcome__exact=failed", ""),
        ("page 100", "?p=100", ""),
        ("search by number", "?q=A00012345", ">A00012345<"),
        # The start of a name, in any case: 11 rows (12345 and 123450-123459).
        ("search by name", "?" + urlencode({"q": "benchmark ACCOUNT 12345"}), ">A00012345<"),
        # A broad start: 111,111 rows, all older than the newest 800,000.
        ("broad name start", "?" + urlencode({"q": "Benchmark account 1"}), ">A00199999<"),
    ):
        url = f"/admin/syncadmin/accountresult/{query}"
        client.get(url)  # warm caches (templates, the session) outside the timing
        timings = []
        queries = 0
        for _ in range(3):
            with CaptureQueriesContext(connection) as captured:
                begin = time.perf_counter()
                response = client.get(url)
                timings.append(time.perf_counter() - begin)
            queries = len(captured.captured_queries)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            if expected not in response.content.decode():
                raise RuntimeError(f"{url} does not list {expected}")
        best = min(timings)
        figures[label] = {"seconds": best, "queries": queries}
        out(f"  {label:<17} {url}: {best * 1000:.0f} ms server time (best of 3), {queries} queries")
    return figures
