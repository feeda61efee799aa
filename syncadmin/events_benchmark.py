"""The near-real-time benchmark behind `manage.py bench_events` (issue 22).

Both sandboxes run in this process at the vendors' latency; the master's sandbox announces
each save to a receiver, the way Zuora's callouts and NetSuite's user event script do. The
benchmark edits records in the master as a user would (UI edits: no API slot taken), and
watches the destination sandbox's own store, not its API, for the change to land, so the
watching takes nothing from the concurrency the sync needs. Three phases:

- singles: N edits, one every `interval` seconds; edit-to-destination time per edit: p50, p95,
  p99, the share within 5 s and within 10 s (targets: 95% within 5 s, 99% within 10 s);
- burst: many edits (1,000) within a minute, one per record: total time, writes per record on
  the destination (the target: 1), NetSuite's concurrency used against its limit, 429s;
- safety net: hooks switched off (events lost), some edits, then one ordinary scheduled run:
  how many of the lost edits it brings across (the target: all).

The receiver is either syncadmin itself (`receiver="app"`: the real web server and a django-q2
worker on the same database, as the demo runs them), or a stand-in (`receiver="standin"`: a
small HTTP server in this process that checks the signature like connectors.webhooks, answers
202, and syncs the records it was told about in coalesced batches with sync_run_execute). The
stand-in measures the sending side, the engine and the timing harness; only the app measures
syncadmin's own queueing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from connectors.sandboxes.netsuite import NetSuiteSandbox
from connectors.sandboxes.server import SandboxConfig
from connectors.sandboxes.zuora import ZuoraSandbox
from connectors.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRefused,
    signature_verify,
)
from connectors.zuora import fields as zuora_fields

Out = Callable[[str], None]
SYSTEM_NAMES = {"zuora": "Zuora", "netsuite": "NetSuite"}
WRITE_ENDPOINTS = {
    "netsuite": ("record.customer.create", "record.customer.update", "record.customer.upsert"),
    "zuora": ("v1.account.create", "v1.account.update", "v1.contact.update", "v1.action.update"),
}
POLL_SECONDS = 0.05


class ReceiverUnavailable(Exception):
    """The receiving side cannot be started or set up; says what to do."""


# -- the sandboxes ---------------------------------------------------------------------------------
EDITS = ("name", "email")


@dataclass
class Systems:
    master: str
    zuora: ZuoraSandbox
    netsuite: NetSuiteSandbox
    # What a user edits: "name" (Zuora → NetSuite, that also renames the addressee of the
    # customer's address lines) or "email" (the bill-to contact's work email: one field, on
    # no address line).
    edit: str = "name"

    @property
    def source(self) -> ZuoraSandbox | NetSuiteSandbox:
        return self.zuora if self.master == "zuora" else self.netsuite

    @property
    def destination(self) -> ZuoraSandbox | NetSuiteSandbox:
        return self.netsuite if self.master == "zuora" else self.zuora

    @property
    def destination_name(self) -> str:
        return "netsuite" if self.master == "zuora" else "zuora"

    def names_on_destination(self) -> dict[str, str]:
        """Master key -> the edited value on the destination, read from the store directly."""
        if self.master == "zuora":
            column = "email" if self.edit == "email" else "companyname"
            rows = self.netsuite.sql(
                f"SELECT externalid, {column} AS value FROM customer WHERE externalid IS NOT NULL"
            )
            return {row["externalid"]: row["value"] for row in rows}
        with self.zuora.state_lock:
            return {
                str(account[zuora_fields.INTEGRATION_ID]): account.get("name")
                for account in self.zuora.accounts.values()
                if account.get(zuora_fields.INTEGRATION_ID)
            }

    def destination_subjects(self) -> dict[str, str]:
        """Master key -> how the destination's hook names the record ("customer 12")."""
        if self.master == "zuora":
            rows = self.netsuite.sql(
                "SELECT id, externalid FROM customer WHERE externalid IS NOT NULL"
            )
            return {row["externalid"]: f"customer {row['id']}" for row in rows}
        with self.zuora.state_lock:
            return {
                str(account[zuora_fields.INTEGRATION_ID]): f"account {account['accountNumber']}"
                for account in self.zuora.accounts.values()
                if account.get(zuora_fields.INTEGRATION_ID)
            }

    def names_on_source(self) -> dict[str, str]:
        if self.master == "zuora":
            with self.zuora.state_lock:
                if self.edit == "email":
                    contacts = self.zuora.contacts
                    return {
                        a["id"]: contacts.get(a.get("billToId"), {}).get("workEmail")
                        for a in self.zuora.accounts.values()
                    }
                return {a["id"]: a.get("name") for a in self.zuora.accounts.values()}
        rows = self.netsuite.sql("SELECT id, companyname FROM customer")
        return {str(row["id"]): row["companyname"] for row in rows}

    def user_edit(self, key: str, name: str) -> None:
        """A user edits the record in the master's UI; its hook fires."""
        if self.master == "zuora" and self.edit == "email":
            self.zuora.user_edit(key, {"billToContact": {"workEmail": name}})
        elif self.master == "zuora":
            self.zuora.user_edit(key, {"name": name})
        else:
            self.netsuite.user_edit(int(key), {"companyName": name})

    def stop(self) -> None:
        self.zuora.stop()
        self.netsuite.stop()


def systems_start(
    *,
    master: str,
    accounts: int,
    latency_ms: float,
    netsuite_limit: int,
    seed: int = 42,
    edit: str = "name",
) -> Systems:
    """Both sandboxes in this process: the master's seeded, the other empty."""
    zuora = ZuoraSandbox(config=SandboxConfig(latency_ms=latency_ms, concurrency_limit=40))
    netsuite = NetSuiteSandbox(
        config=SandboxConfig(latency_ms=latency_ms, concurrency_limit=netsuite_limit)
    )
    if master == "zuora":
        zuora.seed(accounts, seed=seed)
        netsuite.seed(customers=0, seed=seed)
    else:
        zuora.seed(0, seed=seed)
        netsuite.seed(customers=accounts, seed=seed)
    zuora.start()
    netsuite.start()
    return Systems(master=master, zuora=zuora, netsuite=netsuite, edit=edit)


# -- watching the destination ----------------------------------------------------------------------
class Watch:
    """Polls the destination's store and notes when each expected name arrives there."""

    def __init__(self, systems: Systems) -> None:
        self.systems = systems
        self._lock = threading.Lock()
        self.pending: dict[str, tuple[str, float]] = {}  # key -> (expected name, edit time)
        self.arrived: dict[str, float] = {}  # key -> seconds from the edit
        self._stop = threading.Event()
        self.missing_keys: list[str] = []
        self.last_arrival = 0.0  # time.time() of the latest arrival
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def expect(self, key: str, name: str, edited_at: float) -> None:
        with self._lock:
            self.arrived.pop(key, None)
            self.pending[key] = (name, edited_at)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            with self._lock:
                if not self.pending:
                    continue
            names = self.systems.names_on_destination()
            now = time.time()
            with self._lock:
                for key, (name, edited_at) in list(self.pending.items()):
                    if names.get(key) == name:
                        self.arrived[key] = now - edited_at
                        self.last_arrival = now
                        del self.pending[key]

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self.pending:
                    return True
            time.sleep(POLL_SECONDS)
        return False

    def take(self) -> tuple[list[float], int]:
        """(the arrival times, how many never arrived); starts afresh."""
        with self._lock:
            times, missing = sorted(self.arrived.values()), len(self.pending)
            self.missing_keys = list(self.pending)
            self.arrived.clear()
            self.pending.clear()
        return times, missing


# -- receivers -------------------------------------------------------------------------------------
class StandInReceiver:
    """A small hook receiver in this process, standing in for syncadmin's own: it checks the
    signature (and refuses a replay) like the contract says, answers 409 for the system that
    is not the master, 202 otherwise, and syncs the announced records in coalesced batches."""

    def __init__(self, *, master: str, secret: str, coalesce_seconds: float = 0.3) -> None:
        self.master = master
        self.secret = secret
        self.coalesce_seconds = coalesce_seconds
        self.answers: Counter[str] = Counter()
        self.batches: list[int] = []
        self.errors: list[str] = []
        self.replays = 0
        self._queue: dict[str, None] = {}
        self._seen_signatures: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    def hook_url(self, system: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/{system}/"

    def start(self) -> StandInReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.receive(self.path, self.headers, raw)
                with receiver._cond:
                    receiver.answers[str(status)] += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        for target in (self._server.serve_forever, self._sync_loop):
            thread = threading.Thread(target=target, daemon=True, name="standin-receiver")
            thread.start()
            self._threads.append(thread)
        return self

    def receive(self, path: str, headers: Any, raw: bytes) -> int:
        system = path.strip("/").split("/")[-1]
        if system not in SYSTEM_NAMES:
            return 404
        try:
            signature_verify(
                self.secret,
                timestamp=headers.get(TIMESTAMP_HEADER),
                signature_value=headers.get(SIGNATURE_HEADER),
                body=raw,
            )
            body = json.loads(raw)
        except (SignatureRefused, ValueError):
            return 401
        with self._cond:
            signature_value = headers.get(SIGNATURE_HEADER)
            if signature_value in self._seen_signatures:
                self.replays += 1
                return 409
            self._seen_signatures.add(signature_value)
            if system != self.master:
                return 409
            key = body.get("accountId") if system == "zuora" else body.get("id")
            if not key:
                return 400
            self._queue[str(key)] = None
            self._cond.notify_all()
        return 202

    def _sync_loop(self) -> None:
        from django.db import connection

        from syncadmin.models import SyncRun
        from syncadmin.services.runs import sync_run_execute

        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._queue or self._stopping)
                    if self._stopping:
                        return
                time.sleep(self.coalesce_seconds)  # edits arriving meanwhile join this batch
                with self._cond:
                    batch, self._queue = list(self._queue), {}
                try:
                    report = sync_run_execute(trigger=SyncRun.Trigger.COMMAND, account_ids=batch)
                except Exception as exc:  # keep serving; the benchmark reports what is missing
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if report.status == SyncRun.Status.SKIPPED:
                    with self._cond:  # a scheduled run holds the lease: try again after it
                        self._queue = {**dict.fromkeys(batch), **self._queue}
                    time.sleep(0.2)
                    continue
                self.batches.append(len(batch))
        finally:
            connection.close()

    def summary(self) -> str:
        runs = len(self.batches)
        mean = sum(self.batches) / runs if runs else 0
        text = f"stand-in receiver: answers {dict(self.answers)}; {runs} sync runs, "
        text += f"{mean:.1f} records per run on average"
        if self.replays:
            text += f"; {self.replays} calls refused as replays"
        if self.errors:
            text += f"; {len(self.errors)} runs failed, first: {self.errors[0]}"
        return text

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=30)


def receiver_enable(*, system: str, secret: str) -> None:
    """Turn near-real-time on in syncadmin for `system`'s hook, with this shared secret (the
    benchmark's own; the admin's *Generate secret* makes a random one)."""
    from syncadmin.services.hooks import hook_enabled_set, hook_secret_set

    hook_secret_set(system=system, secret=secret)
    hook_enabled_set(system=system, enabled=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    """The URL of the database this process uses (the throwaway one), for the children."""
    from django.db import connection

    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{os.path.abspath(config['NAME'])}"
    user = config.get("USER") or ""
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = config.get("HOST") or "127.0.0.1"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{config['NAME']}"


class AppReceiver:
    """syncadmin itself: `manage.py runserver` and `manage.py qcluster` on this database."""

    def __init__(self, *, master: str, secret: str) -> None:
        self.master = master
        self.secret = secret
        self.port = _free_port()
        self._children: Any = None

    def hook_url(self, system: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{system}/"

    def start(self) -> AppReceiver:
        from django.conf import settings

        from syncadmin.management.commands.demo import Children

        for system in SYSTEM_NAMES:
            receiver_enable(system=system, secret=self.secret)
        environment = {
            "DATABASE_URL": _database_url(),
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        }
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)  # the children inherit it
        try:
            self._children = Children()
            self._children.start("worker", ["qcluster"])
            self._children.start(
                "server", ["runserver", f"127.0.0.1:{self.port}", "--insecure", "--noreload"]
            )
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        deadline = time.monotonic() + 60
        while True:
            ended = self._children.ended()
            if ended is not None:
                raise ReceiverUnavailable(f"syncadmin's {ended} stopped; its error is above.")
            try:
                requests.get(f"http://127.0.0.1:{self.port}/admin/login/", timeout=2)
                return self
            except requests.RequestException:
                if time.monotonic() > deadline:
                    message = "syncadmin's web server did not answer in 60 s."
                    raise ReceiverUnavailable(message) from None
                time.sleep(0.3)

    def summary(self) -> str:
        return f"receiver: syncadmin at http://127.0.0.1:{self.port} with a django-q2 worker"

    def stop(self) -> None:
        if self._children is not None:
            self._children.stop()


# -- figures ---------------------------------------------------------------------------------------
def percentile(times: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted `times`."""
    if not times:
        return None
    rank = max(1, -(-len(times) * share // 1))
    return times[int(rank) - 1]


@dataclass
class Latencies:
    name: str
    times: list[float]
    missing: int
    missing_keys: list[str] = field(default_factory=list)

    @property
    def edits(self) -> int:
        return len(self.times) + self.missing

    def within(self, seconds: float) -> float:
        return sum(1 for t in self.times if t <= seconds) / self.edits if self.edits else 0.0

    def lines(self) -> list[str]:
        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f} s"

        return [
            f"  {self.edits} edits, {len(self.times)} reached the destination"
            + (
                f", {self.missing} did not (timed out): {', '.join(self.missing_keys[:5])}"
                if self.missing
                else ""
            ),
            f"  edit -> destination: p50 {fmt(percentile(self.times, 0.50))}, "
            f"p95 {fmt(percentile(self.times, 0.95))}, p99 {fmt(percentile(self.times, 0.99))}, "
            f"max {fmt(self.times[-1] if self.times else None)}",
            f"  within 5 s: {self.within(5):.1%} (target 95%); "
            f"within 10 s: {self.within(10):.1%} (target 99%)",
        ]


@dataclass
class Burst:
    latencies: Latencies
    total_seconds: float
    writes_by_record: dict[str, int]
    write_calls: int
    peak_in_flight: int
    limit: int
    throttled: int
    hook_answers: dict[str, dict[str, int]] = field(default_factory=dict)
    netsuite_routes: dict[str, int] = field(default_factory=dict)

    def lines(self, destination: str) -> list[str]:
        counts = list(self.writes_by_record.values())
        most = max(counts, default=0)
        more_than_one = sum(1 for n in counts if n > 1)
        written = sum(1 for n in counts if n >= 1)
        edits = self.latencies.edits
        return [
            *self.latencies.lines(),
            f"  total: {self.total_seconds:.1f} s from the first edit to the last record on "
            f"the destination",
            f"  {SYSTEM_NAMES[destination]} writes per record: {sum(counts) / edits:.3f} "
            f"({sum(counts)} for {edits} records; {written} written, most {most} on one, "
            f"{more_than_one} written more than once; target 1)",
            f"  {SYSTEM_NAMES[destination]} write calls: {self.write_calls}",
            f"  NetSuite concurrency: peak {self.peak_in_flight} in flight, limit {self.limit}; "
            f"429s {self.throttled}",
            "  NetSuite calls by route: "
            + ", ".join(f"{k}={v}" for k, v in sorted(self.netsuite_routes.items())),
            f"  hook answers: {self.hook_answers}",
        ]


@dataclass
class SafetyNet:
    lost: int
    arrived_without_hooks: int
    after_run: int
    run_seconds: float
    run_status: str

    def lines(self) -> list[str]:
        return [
            f"  {self.lost} edits with the hook off: {self.arrived_without_hooks} reached the "
            "destination before the scheduled run",
            f"  the scheduled run ({self.run_status}, {self.run_seconds:.1f} s) brought "
            f"{self.after_run} of {self.lost} across (target: all)",
        ]


@dataclass
class Results:
    singles: Latencies | None = None
    burst: Burst | None = None
    safety_net: SafetyNet | None = None


# -- phases ----------------------------------------------------------------------------------------
def _editable_keys(systems: Systems) -> list[str]:
    """Master records the first sync brought across (under the same name)."""
    there = systems.names_on_destination()
    if systems.edit == "email":
        return [key for key in systems.names_on_source() if key in there]
    return [
        key for key, name in systems.names_on_source().items() if name and there.get(key) == name
    ]


def _slice(keys: list[str], start: int, count: int) -> list[str]:
    """`count` keys from `start`, wrapping around when there are too few."""
    if not keys:
        return []
    return [keys[(start + n) % len(keys)] for n in range(min(count, len(keys)))]


def _new_name(old: str, tag: str) -> str:
    return f"{old[:60]} ~{tag}"


def _edit_paced(systems: Systems, watch: Watch, keys: list[str], interval: float, tag: str) -> None:
    names = systems.names_on_source()
    start = time.monotonic()
    for number, key in enumerate(keys):
        pause = start + number * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if systems.edit == "email":
            name = f"bench.{tag}{number}.{int(time.time())}@example.com"
        else:
            name = _new_name((names[key] or "").split(" ~")[0], f"{tag}{number}")
        edited_at = time.time()
        systems.user_edit(key, name)
        watch.expect(key, name, edited_at)


def phase_singles(
    systems: Systems, watch: Watch, keys: list[str], *, interval: float, timeout: float
) -> Latencies:
    _edit_paced(systems, watch, keys, interval, "s")
    watch.wait(timeout)
    times, missing = watch.take()
    return Latencies("singles", times, missing, watch.missing_keys)


def phase_burst(
    systems: Systems, watch: Watch, keys: list[str], *, seconds: float, timeout: float
) -> Burst:
    subjects = systems.destination_subjects()
    for sandbox in (systems.zuora, systems.netsuite):
        sandbox.reset_calls()
        sandbox.hooks.reset()
    started = time.time()
    _edit_paced(systems, watch, keys, seconds / max(1, len(keys)), "b")
    watch.wait(timeout)
    total = max(watch.last_arrival - started, 0.0)
    times, missing = watch.take()
    # Writes the sync makes after the last arrival (a second write of a record) count too.
    time.sleep(2)
    destination = systems.destination
    by_record = destination.hooks.by_record
    calls = destination.call_summary()["by_endpoint"]
    netsuite_statuses = systems.netsuite.call_summary()["by_status"]
    return Burst(
        latencies=Latencies("burst", times, missing, watch.missing_keys),
        total_seconds=total,
        writes_by_record={key: by_record.get(subjects.get(key, ""), 0) for key in keys},
        write_calls=sum(calls.get(e, 0) for e in WRITE_ENDPOINTS[systems.destination_name]),
        peak_in_flight=systems.netsuite.peak_in_flight,
        limit=systems.netsuite.config.concurrency_limit,
        throttled=sum(n for k, n in netsuite_statuses.items() if k.endswith(" 429")),
        netsuite_routes={
            k: v
            for k, v in systems.netsuite.call_summary()["by_endpoint"].items()
            if not k.startswith("sandbox.")
        },
        hook_answers={
            "master": dict(systems.source.hooks.answers),
            "destination": dict(destination.hooks.answers),
        },
    )


def phase_safety_net(
    systems: Systems, watch: Watch, keys: list[str], *, wait: float, timeout: float
) -> SafetyNet:
    from syncadmin.models import SyncRun
    from syncadmin.services.runs import sync_run_execute

    systems.source.hooks.configure(enabled=False)
    try:
        _edit_paced(systems, watch, keys, 0.05, "l")
        time.sleep(wait)
        arrived_early = len(watch.arrived)
        started = time.monotonic()
        deadline = started + timeout
        while True:
            report = sync_run_execute(trigger=SyncRun.Trigger.SCHEDULE)
            if report.status != SyncRun.Status.SKIPPED or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # an event sync holds the lease: the schedule waits its turn
        run_seconds = time.monotonic() - started
        watch.wait(5)
        times, missing = watch.take()
    finally:
        systems.source.hooks.configure(enabled=True)
    return SafetyNet(
        lost=len(keys),
        arrived_without_hooks=arrived_early,
        after_run=len(times),
        run_seconds=run_seconds,
        run_status=str(report.status),
    )


@contextlib.contextmanager
def receiver_started(
    kind: str, *, master: str, secret: str, coalesce_seconds: float
) -> Iterator[Any]:
    if kind == "standin":
        receiver: Any = StandInReceiver(
            master=master, secret=secret, coalesce_seconds=coalesce_seconds
        )
    else:
        receiver = AppReceiver(master=master, secret=secret)
    try:
        yield receiver.start()
    finally:
        receiver.stop()


def run_events_benchmark(
    *,
    master: str = "zuora",
    accounts: int = 1500,
    latency_ms: float = 300.0,
    concurrency: int = 5,
    singles: int = 50,
    interval: float = 2.0,
    burst: int = 1000,
    burst_seconds: float = 60.0,
    lost: int = 20,
    receiver: str = "app",
    coalesce_seconds: float = 0.3,
    master_hook_only: bool = False,
    edit: str = "name",
    timeout: float = 300.0,
    out: Out = print,
) -> Results:
    """Run the phases (a phase with 0 edits is skipped) and print their figures."""
    if edit not in EDITS or (edit == "email" and master != "zuora"):
        raise ValueError("the edit is the name, or (Zuora master only) the bill-to email")
    from syncadmin.models import SyncRun
    from syncadmin.services.runs import sync_run_execute
    from syncadmin.testbed import SandboxHandle, configure

    destination = "netsuite" if master == "zuora" else "zuora"
    out(
        f"== near-real-time, {SYSTEM_NAMES[master]} → {SYSTEM_NAMES[destination]}: "
        f"{accounts} records, {latency_ms:.0f} ms a call, NetSuite limit {concurrency}, "
        f"receiver: {receiver}; each edit changes the {edit}"
    )
    systems = systems_start(
        master=master,
        accounts=accounts,
        latency_ms=latency_ms,
        netsuite_limit=concurrency,
        edit=edit,
    )
    results = Results()
    try:
        configure(
            SandboxHandle("zuora", systems.zuora.url),
            SandboxHandle("netsuite", systems.netsuite.url),
            concurrency,
            master,
        )
        started = time.monotonic()
        first = sync_run_execute(trigger=SyncRun.Trigger.COMMAND)
        keys = _editable_keys(systems)
        out(
            f"first sync: {first.status}, {time.monotonic() - started:.1f} s; "
            f"{len(keys)} records on both sides to edit"
        )
        # Each phase edits records of its own: two saves of one record in the same second
        # make byte-identical signed calls, and the receiver refuses the second as a replay.
        needed = singles + burst + lost
        if len(keys) < needed:
            out(
                f"  only {len(keys)} records to edit, fewer than the {needed} the phases ask "
                "for: some records are edited in two phases (seed more with --accounts)"
            )
        single_keys, burst_keys = _slice(keys, 0, singles), _slice(keys, singles, burst)
        lost_keys = _slice(keys, singles + burst, lost)
        secret = secrets.token_urlsafe(32)
        with (
            receiver_started(
                receiver, master=master, secret=secret, coalesce_seconds=coalesce_seconds
            ) as hooks_receiver,
            Watch(systems) as watch,
        ):
            systems.source.hooks.configure(url=hooks_receiver.hook_url(master), secret=secret)
            # The destination announces the sync's own writes too, as the vendors do; the
            # receiver answers them 409 (not the master). Kept off with master_hook_only.
            systems.destination.hooks.configure(
                url=hooks_receiver.hook_url(destination),
                secret=secret,
                enabled=not master_hook_only,
            )
            out(
                hooks_receiver.summary()
                if receiver == "app"
                else "receiver: stand-in (this process)"
            )
            if singles:
                out(f"-- {singles} single edits, one every {interval:g} s")
                results.singles = phase_singles(
                    systems, watch, single_keys, interval=interval, timeout=timeout
                )
                for line in results.singles.lines():
                    out(line)
            if burst:
                out(f"-- a burst of {len(burst_keys)} edits in {burst_seconds:g} s, one per record")
                results.burst = phase_burst(
                    systems, watch, burst_keys, seconds=burst_seconds, timeout=timeout
                )
                for line in results.burst.lines(destination):
                    out(line)
            if lost:
                out(f"-- safety net: {lost} edits with the master's hook off, then a scheduled run")
                results.safety_net = phase_safety_net(
                    systems, watch, lost_keys, wait=3.0, timeout=timeout
                )
                for line in results.safety_net.lines():
                    out(line)
            if receiver == "standin":
                out(hooks_receiver.summary())
            for system, sandbox in (
                ("master", systems.source),
                ("destination", systems.destination),
            ):
                counts = sandbox.hooks.summary()
                out(f"hooks of the {system} since the burst: {counts['counts']}")
    finally:
        systems.stop()
    return results
