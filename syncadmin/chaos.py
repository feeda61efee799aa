"""Crash and fault trials behind `manage.py chaos_sync`: an operator's bad day, measured.

For each direction (the `master` preference) two phases run against fresh sandboxes:

- kill -9 trials: `manage.py sync_customers` runs in a child process against the same database,
  and is killed with SIGKILL after a random delay; the next run is started at once (a skipped
  run is tried again every few seconds, as a scheduler would), and so on. Between trials a few
  source records change and one is created, so every run has work to be killed in. After the
  trials, runs go on normally until one has nothing left to write.
- a fault run: the sandboxes answer a share of calls with every fault kind they know (429, 503,
  an HTML error page, a dropped connection, a hang, and whatever else FAULT_KINDS lists); runs
  go on, faults still on, until one has nothing left to write (a bounded number of runs).

Then the sandboxes are read back over their APIs, faults off, and compared with a reference: the
source records a clean run syncs (a first, fault-free run on identical sandboxes). Reported:
duplicates, lost records, records damaged (data a finance team keeps by hand, put on some records
before the trials: an extra ship-to address line and address values the source does not have),
runs left "running" once every process is dead, and the time from each kill to the next run
that was not skipped.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from syncadmin.benchmark import SandboxHandle, configure, start_sandbox

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


@dataclass
class PhaseFigures:
    master: str
    phase: str  # "kill" or "faults"
    expected: int = 0
    kills: int = 0
    kills_in_run: int = 0  # the killed process was in the middle of its run
    next_run: list[float | None] = field(default_factory=list)  # None: not within the limit
    cleared_by_hand: int = 0
    real_runs: int = 0
    skipped_runs: int = 0
    crashed_runs: list[str] = field(default_factory=list)
    converged: bool = False
    runs_to_converge: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)  # faults served, by kind
    probes: int = 0
    probes_placed: int = 0  # of them, with hand-kept data on their destination
    wall: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        source, destination = _systems(self.master)
        what = "kill -9 trials" if self.phase == "kill" else "fault run"
        return f"{source} → {destination} ({source} master), {what}"

    @property
    def kinds_not_served(self) -> list[str]:
        from connectors.sandboxes.server import FAULT_KINDS

        return [kind for kind in FAULT_KINDS if not self.faults.get(kind)]

    @property
    def slowest_next_run(self) -> float | None:
        """The longest wait from a kill to the next real run; None when one never came."""
        if any(wait is None for wait in self.next_run):
            return None
        return max((w for w in self.next_run if w is not None), default=0.0)

    def misses(self, kills_asked: int) -> list[str]:
        checks: list[tuple[bool, str]] = [
            (self.converged, "did not converge"),
            (not self.duplicates, f"{len(self.duplicates)} duplicates"),
            (not self.lost, f"{len(self.lost)} lost"),
            (not self.damaged, f"{len(self.damaged)} damaged"),
        ]
        if self.phase == "faults":
            checks.append((not self.kinds_not_served, f"no {self.kinds_not_served} fault served"))
        if self.phase == "kill":
            slowest = self.slowest_next_run
            checks += [
                (self.kills >= kills_asked, f"{self.kills} kills of {kills_asked} asked"),
                (not self.ghosts, f"{len(self.ghosts)} runs left running"),
                (
                    slowest is not None and slowest <= TARGET_NEXT_RUN_SECONDS,
                    f"next run after a kill in {_seconds(slowest)}",
                ),
            ]
        return [f"{self.title}: {message}" for ok, message in checks if not ok]

    def lines(self, kills_asked: int) -> list[str]:
        def verdict(ok: bool) -> str:
            return "ok" if ok else "MISSED"

        lines = [f"== {self.title}: {self.wall:.0f} s"]
        if self.phase == "kill":
            smaller = f" (the target asks {TARGET_KILLS})" if kills_asked < TARGET_KILLS else ""
            lines.append(
                f"  kills {self.kills} ({self.kills_in_run} in the middle of a run)"
                f"{smaller}   target {kills_asked}: {verdict(self.kills >= kills_asked)}"
            )
            # A kill after which no run came within the limit ranks as the longest wait.
            waits = sorted(self.next_run, key=lambda w: float("inf") if w is None else w)
            slowest = self.slowest_next_run
            median = waits[len(waits) // 2] if waits else None
            lines.append(
                f"  next real run after a kill: slowest {_seconds(slowest)}, median "
                f"{_seconds(median)}   target within {TARGET_NEXT_RUN_SECONDS:g} s: "
                f"{verdict(slowest is not None and slowest <= TARGET_NEXT_RUN_SECONDS)}"
            )
            if self.cleared_by_hand:
                lines.append(
                    f"    {self.cleared_by_hand} kills left a lease no run could take within "
                    "the limit; the harness cleared it by hand to go on"
                )
        if self.phase == "faults":
            served = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
            lines.append(
                f"  faults served: {served or 'none'}   target every kind: "
                f"{verdict(not self.kinds_not_served)}"
            )
        lines.append(
            f"  runs that ended by themselves {self.real_runs}, skipped {self.skipped_runs}; "
            "converged "
            f"{'after ' + str(self.runs_to_converge) + ' runs' if self.converged else 'NO'}"
            f"   target converges: {verdict(self.converged)}"
        )
        for label, items in (
            ("duplicates", self.duplicates),
            ("lost", self.lost),
            (
                f"damaged (of {self.probes} records with hand-kept data, "
                f"{self.probes_placed} on their destination)",
                self.damaged,
            ),
        ):
            lines.append(f"  {label} {len(items)}   target 0: {verdict(not items)}")
            lines.extend(f"    {item}" for item in items[:10])
            if len(items) > 10:
                lines.append(f"    ... and {len(items) - 10} more")
        if self.phase == "kill":
            lines.append(
                f"  runs left running {len(self.ghosts)}   target 0: {verdict(not self.ghosts)}"
            )
            lines.extend(f"    {ghost}" for ghost in self.ghosts[:5])
        lines.append(
            f"  every expected record ({self.expected}) synced once: "
            f"{verdict(not self.duplicates and not self.lost)}"
        )
        lines.extend(f"  crashed: {crash}" for crash in self.crashed_runs[:5])
        lines.extend(f"  note: {note}" for note in self.notes)
        return lines


@dataclass
class ChaosReport:
    options: ChaosOptions
    phases: list[PhaseFigures] = field(default_factory=list)

    @property
    def misses(self) -> list[str]:
        return [m for phase in self.phases for m in phase.misses(self.options.kills)]


def _seconds(value: float | None) -> str:
    return "never (past the limit)" if value is None else f"{value:.1f} s"


def _systems(master: str) -> tuple[str, str]:
    return ("Zuora", "NetSuite") if master == "zuora" else ("NetSuite", "Zuora")


# -- the database the child processes share ---------------------------------------------------
def database_url() -> str:
    """The URL of this process's database, for a child process (a file or a server: an
    in-memory SQLite database cannot be shared)."""
    from django.db import connection

    params = connection.settings_dict
    name = str(params["NAME"])
    if connection.vendor == "sqlite":
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("chaos trials need a database file or server, not memory")
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor != "postgresql":
        raise RuntimeError(f"chaos trials support SQLite and PostgreSQL, not {connection.vendor}")
    auth = quote(params.get("USER") or "", safe="")
    if params.get("PASSWORD"):
        auth += ":" + quote(params["PASSWORD"], safe="")
    host = params.get("HOST") or "localhost"
    port = f":{params['PORT']}" if params.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(name, safe='')}"


def lease_ttl_setting_exists() -> bool:
    from django.conf import settings

    return hasattr(settings, "SYNC_LEASE_TTL_SECONDS")


def child_environment(options: ChaosOptions) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env["FIELD_ENCRYPTION_KEYS"] = ",".join(settings.FIELD_ENCRYPTION_KEYS)
    if options.lease_ttl_seconds is not None and lease_ttl_setting_exists():
        env["SYNC_LEASE_TTL_SECONDS"] = f"{options.lease_ttl_seconds:g}"
    return env


@contextlib.contextmanager
def lease_ttl_in_effect(options: ChaosOptions) -> Iterator[str]:
    """The lease TTL this process's runs use (the same as the children's), described."""
    from django.conf import settings
    from django.test import override_settings

    if lease_ttl_setting_exists():
        if options.lease_ttl_seconds is not None:
            with override_settings(SYNC_LEASE_TTL_SECONDS=options.lease_ttl_seconds):
                yield f"SYNC_LEASE_TTL_SECONDS={options.lease_ttl_seconds:g}"
            return
        yield f"SYNC_LEASE_TTL_SECONDS={settings.SYNC_LEASE_TTL_SECONDS} (the project's)"
        return
    from syncadmin.services.lease import DEFAULT_TTL

    yield (
        f"the project's fixed lease of {DEFAULT_TTL.total_seconds():g} s (it has no "
        "SYNC_LEASE_TTL_SECONDS setting)"
    )


def _flush_database() -> None:
    from django.core.management import call_command

    from connectors.zuora.client import forget_tokens

    call_command("flush", interactive=False, verbosity=0)
    forget_tokens()


# -- the two systems, seen from outside the sync ----------------------------------------------
@dataclass
class Probe:
    """A record with data a finance team keeps by hand (on the destination or the source)."""

    key: str
    placed: bool = False


class World:
    """Both sandboxes as a finance team and an auditor see them: edits through the vendors'
    APIs (and NetSuite's address UI), read-backs of every record. Keys name source records the
    same way on identical sandboxes: Zuora account numbers, NetSuite internal ids."""

    def __init__(
        self, master: str, zuora: SandboxHandle, netsuite: SandboxHandle, rng: random.Random
    ) -> None:
        from syncadmin.services.connections import netsuite_client_build, zuora_client_build

        self.master = master
        self.zuora_sandbox, self.netsuite_sandbox = zuora, netsuite
        self.zuora = zuora_client_build(**REFERENCE_CLIENTS)
        self.netsuite = netsuite_client_build(**REFERENCE_CLIENTS)
        self.rng = rng
        self.probes: dict[str, Probe] = {}
        self.created: list[str] = []
        self.edits = 0

    def set_faults(self, rate: float) -> None:
        from connectors.sandboxes.server import FAULT_KINDS

        for sandbox in (self.zuora_sandbox, self.netsuite_sandbox):
            sandbox.control(
                "POST",
                "config",
                {
                    "fault_rate": rate,
                    "faults": list(FAULT_KINDS),
                    "hang_seconds": FAULT_HANG_SECONDS,
                    "random_seed": self.rng.randrange(1 << 30),
                },
            )

    # -- sources ----------------------------------------------------------------------------
    def _zuora_accounts(self) -> list[dict[str, Any]]:
        return list(self.zuora.iter_accounts())

    def _netsuite_customers(self) -> list[dict[str, Any]]:
        return list(
            self.netsuite.suiteql(
                "SELECT id, entityid, externalid, custentity_zuora_id FROM customer ORDER BY id"
            )
        )

    def sources(self) -> dict[str, dict[str, Any]]:
        if self.master == "zuora":
            return {a["accountNumber"]: a for a in self._zuora_accounts()}
        return {c["id"]: c for c in self._netsuite_customers()}

    def choose_probes(self, expected: set[str], count: int) -> None:
        """Records the clean run syncs whose billing address has no second line: the hand-kept
        second line cannot then be the source's own value."""
        sources = self.sources()
        candidates = sorted(k for k in expected if k in sources)
        if self.master == "zuora":
            fit = [k for k in candidates if not (sources[k].get("billTo") or {}).get("address2")]
        else:
            books = self.netsuite.address_books([sources[k]["id"] for k in candidates])
            fit = [
                k
                for k in candidates
                if not any(
                    line["defaultBilling"] and line["addressBookAddress"].get("addr2")
                    for line in books.get(k, [])
                )
            ]
        for key in self.rng.sample(fit, min(count, len(fit))):
            self.probes[key] = Probe(key)
        if self.master == "netsuite":
            # NetSuite is the source: its hand-kept lines are there before any run.
            for key in self.probes:
                self.netsuite.update_customer(key, {"addressBook": {"items": [_hand_line()]}})

    # -- edits between runs ---------------------------------------------------------------------
    def edit(self, *, create: bool = True) -> None:
        """Move every probe's billing address (a write the sync must make without damage),
        change one other record, and create one."""
        self.edits += 1
        n = self.edits
        sources = self.sources()
        for key in self.probes:
            self._move_address(sources[key], f"{n} Chaos Street")
        others = sorted(set(sources) - set(self.probes))
        if others:
            other = sources[self.rng.choice(others)]
            if self.master == "zuora":
                self.zuora.update_account(other["id"], {"notes": f"Chaos trial edit {n}"})
            else:
                self.netsuite.update_customer(other["id"], {"comments": f"Chaos trial edit {n}"})
        if create:
            self.created.append(self._create_source(n))

    def _move_address(self, source: dict[str, Any], addr1: str) -> None:
        if self.master == "zuora":
            self.zuora.update_contact(source["billToId"], {"address1": addr1})
        else:
            self.netsuite_sandbox.control(
                "POST", f"ui/customer/{source['id']}/address", {"addr1": addr1}
            )

    def _create_source(self, n: int) -> str:
        name = f"Chaos Trial Customer {self.rng.randrange(10**6)}-{n}"
        if self.master == "zuora":
            created = self.zuora.create_account(
                {
                    "name": name,
                    "currency": "USD",
                    "billCycleDay": 1,
                    "paymentTerm": "Net 30",
                    "autoPay": False,
                    "billToContact": {
                        "firstName": "Chaos",
                        "lastName": f"Trial {n}",
                        "workEmail": f"chaos.trial{n}@example.com",
                        "address1": f"{n} Trial Road",
                        "city": "Austin",
                        "state": "TX",
                        "zipCode": "78701",
                        "country": "United States",
                    },
                },
                idempotency_key=f"chaos-{name}",
            )
            return str(created["accountNumber"])
        from connectors.netsuite import fields

        return self.netsuite.create_customer(
            {
                "companyName": name,
                "email": f"chaos.trial{n}@example.com",
                "subsidiary": {"id": "2"},
                "currency": {"id": "1"},
                "terms": {"id": "2"},
                fields.SEND_TO_ZUORA: True,
                "addressBook": {
                    "items": [
                        {
                            "label": fields.ADDRESS_LABEL_BILL_TO,
                            "defaultBilling": True,
                            "defaultShipping": True,
                            "addressBookAddress": {
                                "addressee": name,
                                "addr1": f"{n} Trial Road",
                                "city": "Austin",
                                "state": "TX",
                                "zip": "78701",
                                "country": "US",
                            },
                        }
                    ]
                },
            }
        )

    # -- hand-kept data on destinations ---------------------------------------------------------
    def place_probes(self) -> None:
        """Put the hand-kept data on each probe's destination as soon as it exists."""
        from syncadmin.models import RecordLink

        for probe in self.probes.values():
            if probe.placed:
                continue
            if self.master == "zuora":
                link = RecordLink.objects.filter(zuora_account_number=probe.key).first()
                if link is None:
                    continue
                book = self.netsuite.address_books([link.netsuite_internal_id]).get(
                    link.netsuite_internal_id, []
                )
                billing = next((line for line in book if line["defaultBilling"]), None)
                if billing is None:
                    continue
                items = [
                    {
                        "internalId": billing["internalId"],
                        "addressBookAddress": {"addr2": HAND_ADDR2},
                    },
                    _hand_line(),
                ]
                self.netsuite.update_customer(
                    link.netsuite_internal_id, {"addressBook": {"items": items}}
                )
            else:
                link = RecordLink.objects.filter(netsuite_internal_id=probe.key).first()
                if link is None:
                    continue
                account = self.zuora.get_account(link.zuora_account_id)
                self.zuora.update_contact(account["billToId"], {"address2": HAND_ADDR2})
            probe.placed = True

    # -- the audit ---------------------------------------------------------------------------------
    def audit(self, expected: set[str], figures: PhaseFigures) -> None:
        """Duplicates, lost and damaged records, read back from both systems."""
        from connectors.zuora import fields as z_fields
        from syncadmin.models import RecordLink

        expected = expected | set(self.created)
        figures.expected = len(expected)
        sources = self.sources()
        destinations: dict[str, dict[str, Any]]
        if self.master == "zuora":
            number_of = {a["id"]: key for key, a in sources.items()}
            destinations = {c["id"]: c for c in self._netsuite_customers()}
            stands_for = {
                d: number_of.get(c.get("externalid") or c.get("custentity_zuora_id") or "")
                for d, c in destinations.items()
            }
            links = {
                link.zuora_account_number: link.netsuite_internal_id
                for link in RecordLink.objects.all()
            }
        else:
            destinations = {a["id"]: a for a in self._zuora_accounts()}
            stands_for = {
                d: (str(a.get(z_fields.INTEGRATION_ID) or "") or None)
                for d, a in destinations.items()
            }
            stands_for = {d: (s if s in sources else None) for d, s in stands_for.items()}
            links = {
                link.netsuite_internal_id: link.zuora_account_id
                for link in RecordLink.objects.all()
            }
        per_source = Counter(s for s in stands_for.values() if s is not None)
        for key, count in sorted(per_source.items()):
            if count > 1:
                figures.duplicates.append(f"{count} destination records for source {key}")
        strays = sorted(d for d, s in stands_for.items() if s is None)
        for destination in strays:
            figures.duplicates.append(f"destination {destination} stands for no source record")
        for key in sorted(expected):
            destination = links.get(key)
            if key not in sources:
                figures.lost.append(f"source {key} is gone from the source system")
            elif destination is None:
                figures.lost.append(f"source {key} has no link")
            elif destination not in destinations:
                figures.lost.append(f"source {key} is linked to {destination}, which is missing")
        figures.probes = len(self.probes)
        figures.probes_placed = sum(p.placed for p in self.probes.values())
        for probe in self.probes.values():
            damage = self._damage(probe, links)
            if damage:
                figures.damaged.append(damage)

    def _damage(self, probe: Probe, links: dict[str, str]) -> str:
        """What a probe lost of its hand-kept data ("" when nothing), in one line: the figure
        counts damaged records, not damaged values."""
        problems = []
        if self.master == "zuora":
            destination = links.get(probe.key)
            if not probe.placed or destination is None:
                return ""  # never reached its destination: counted as lost, if expected
            book = self.netsuite.address_books([destination]).get(destination, [])
            where = f"NetSuite customer {destination} (Zuora {probe.key})"
        else:
            book = self.netsuite.address_books([probe.key]).get(probe.key, [])
            where = f"NetSuite customer {probe.key}"
        if not any(
            line["label"] == HAND_LINE_LABEL
            and line["addressBookAddress"].get("addr1") == HAND_LINE_ADDR1
            for line in book
        ):
            problems.append(f"the address line {HAND_LINE_LABEL!r} is gone")
        if self.master == "zuora":
            if not any(line["addressBookAddress"].get("addr2") == HAND_ADDR2 for line in book):
                problems.append(f"address line 2 {HAND_ADDR2!r} was blanked")
        elif probe.placed and links.get(probe.key):
            account = self.zuora.get_account(links[probe.key])
            if (account.get("billTo") or {}).get("address2") != HAND_ADDR2:
                problems.append(
                    f"on its Zuora account {account.get('accountNumber')}, bill-to address "
                    f"line 2 {HAND_ADDR2!r} was blanked"
                )
        return f"{where}: {'; '.join(problems)}" if problems else ""


def _hand_line() -> dict[str, Any]:
    return {
        "label": HAND_LINE_LABEL,
        "defaultBilling": False,
        "defaultShipping": False,
        "addressBookAddress": {
            "addressee": "Receiving dock",
            "addr1": HAND_LINE_ADDR1,
            "city": "Springfield",
            "state": "IL",
            "zip": "62701",
            "country": "US",
        },
    }


# -- runs -----------------------------------------------------------------------------------------
class ChildRuns:
    """`manage.py sync_customers` in child processes, one at a time, against this database."""

    def __init__(self, options: ChaosOptions, figures: PhaseFigures, workdir: Path) -> None:
        from django.conf import settings

        self.options = options
        self.figures = figures
        self.env = child_environment(options)
        self.manage = Path(settings.BASE_DIR) / "manage.py"
        self.log = workdir / "run.log"
        self.kill_times: list[datetime] = []
        self.cleared: set[int] = set()  # kills after which the harness cleared the lease
        self.waiting_since: float | None = None  # monotonic time of the kill waited for

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "wb") as log:
            return subprocess.Popen(
                [sys.executable, str(self.manage), "sync_customers", "--no-progress"],
                cwd=self.manage.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def waiting(self) -> bool:
        """A kill happened and no run has started for real since."""
        return self.waiting_since is not None

    def kill(self, process: subprocess.Popen[bytes], newest_before: int) -> None:
        from django.utils import timezone

        from syncadmin.models import SyncRun

        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.figures.kills += 1
        if SyncRun.objects.filter(pk__gt=newest_before, status="running").exists():
            self.figures.kills_in_run += 1
        self.kill_times.append(timezone.now())
        self.waiting_since = time.monotonic()

    def finished(self, process: subprocess.Popen[bytes], newest_before: int) -> Any:
        """The run a child that exited by itself made (None when it made none)."""
        from syncadmin.models import SyncRun

        run = SyncRun.objects.filter(pk__gt=newest_before).order_by("-pk").first()
        if process.returncode not in SYNC_EXIT_CODES or run is None:
            tail = self.log.read_text(errors="replace")[-600:]
            self.figures.crashed_runs.append(f"exit code {process.returncode}: {tail!r}")
        if run is None or run.status == "skipped":
            self.figures.skipped_runs += run is not None
            self._wait_or_clear()
            return None
        self.figures.real_runs += 1
        self.waiting_since = None
        return run

    def _wait_or_clear(self) -> None:
        """Pause before the next attempt; past the limit, clear the stale lease by hand."""
        from syncadmin.models import SyncLease

        if (
            self.waiting_since is not None
            and time.monotonic() - self.waiting_since > self.options.next_run_limit
        ):
            SyncLease.objects.update(holder="", expires_at=None)
            self.figures.cleared_by_hand += 1
            self.waiting_since = None
            self.cleared.add(len(self.kill_times) - 1)
            return
        time.sleep(self.options.retry_pause)

    def next_run_waits(self) -> list[float | None]:
        from syncadmin.models import SyncRun

        waits: list[float | None] = []
        for number, killed_at in enumerate(self.kill_times):
            if number in self.cleared:
                waits.append(None)
                continue
            run = (
                SyncRun.objects.filter(started_at__gt=killed_at)
                .exclude(status="skipped")
                .order_by("started_at")
                .first()
            )
            waits.append(None if run is None else (run.started_at - killed_at).total_seconds())
        return waits


def _newest_run_id() -> int:
    from syncadmin.models import SyncRun

    return SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _wrote_nothing(run: Any) -> bool:
    """A finished run with nothing left to write, and no account failed for a passing cause."""
    from syncadmin.models import AccountResult

    if run.status not in ("succeeded", "partly_failed"):
        return False
    if run.created or run.updated or run.linked:
        return False
    return not AccountResult.objects.filter(run=run, outcome="failed", retryable=True).exists()


def kill_trials(
    master: str, expected: set[str], options: ChaosOptions, out: Callable[[str], None]
) -> PhaseFigures:
    figures = PhaseFigures(master=master, phase="kill")
    started = time.monotonic()
    rng = random.Random(f"{options.seed}-{master}-kill")
    with _sandboxes(master, options) as (zuora, netsuite), tempfile.TemporaryDirectory() as tmp:
        configure(zuora, netsuite, options.concurrency, master)
        world = World(master, zuora, netsuite, rng)
        world.choose_probes(expected, _probe_count(expected))
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
            before = _newest_run_id()
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
        figures.ghosts = _ghosts()
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
        before = _newest_run_id()
        process = runs.start()
        process.wait(timeout=3600)
        run = runs.finished(process, before)
        if run is None:
            continue
        real += 1
        world.place_probes()
        if _wrote_nothing(run):
            figures.runs_to_converge = real
            return True
    return False


def _ghosts() -> list[str]:
    from syncadmin.models import SyncRun

    return [
        f"run {run.pk} started {run.started_at:%H:%M:%S}, {run.processed} accounts recorded"
        for run in SyncRun.objects.filter(status="running").order_by("pk")
    ]


def fault_run(
    master: str, expected: set[str], options: ChaosOptions, out: Callable[[str], None]
) -> PhaseFigures:
    from syncadmin.services.runs import sync_run_execute

    figures = PhaseFigures(master=master, phase="faults")
    started = time.monotonic()
    rng = random.Random(f"{options.seed}-{master}-faults")
    with _sandboxes(master, options) as (zuora, netsuite):
        configure(zuora, netsuite, options.concurrency, master)
        world = World(master, zuora, netsuite, rng)
        world.choose_probes(expected, _probe_count(expected))
        world.set_faults(options.fault_rate)
        for sandbox in (zuora, netsuite):
            sandbox.reset_calls()
        # The first run creates; then, while some fault kind has not been served yet (a small
        # data set makes few calls), every probe's address moves and a record is created
        # again, so updates and creates meet faults too. Then runs go on until one writes
        # nothing.
        edits, edits_allowed = 0, max(1, options.max_runs // 2)
        for number in range(1, options.max_runs + 1):
            try:
                report = sync_run_execute(
                    trigger="command", client_options={"timeout": FAULT_CLIENT_TIMEOUT}
                )
            except Exception as exc:  # a crashed run is a figure, not the end of the trial
                figures.crashed_runs.append(f"run {number}: {type(exc).__name__}: {exc}")
                figures.real_runs += 1
                continue
            if report.status == "skipped":
                figures.skipped_runs += 1
                continue
            figures.real_runs += 1
            world.set_faults(0.0)
            world.place_probes()
            figures.faults = _faults_served(zuora, netsuite)
            if edits == 0 or (figures.kinds_not_served and edits < edits_allowed):
                world.edit()
                edits += 1
            elif report.run is not None and _wrote_nothing(report.run):
                figures.converged = True
                figures.runs_to_converge = number
                break
            world.set_faults(options.fault_rate)
        world.set_faults(0.0)
        figures.faults = _faults_served(zuora, netsuite)
        world.audit(expected, figures)
        figures.ghosts = _ghosts()
    out(f"  {master}: fault run done")
    figures.wall = time.monotonic() - started
    return figures


def _faults_served(*sandboxes: SandboxHandle) -> dict[str, int]:
    served: Counter[str] = Counter()
    for sandbox in sandboxes:
        served.update(sandbox.calls().get("faults", {}))
    return dict(served)


def _probe_count(expected: set[str]) -> int:
    return max(2, min(10, len(expected) // 5))


@contextlib.contextmanager
def _sandboxes(
    master: str,
    options: ChaosOptions,
    *,
    latency_ms: float | None = None,
    in_process: bool | None = None,
) -> Iterator[tuple[SandboxHandle, SandboxHandle]]:
    """Fresh sandboxes: the master seeded with `accounts` records, the other side empty."""
    latency = options.latency_ms if latency_ms is None else latency_ms
    local = options.in_process if in_process is None else in_process
    zuora = start_sandbox(
        "zuora",
        latency_ms=latency,
        limit=40,
        accounts=options.accounts if master == "zuora" else 0,
        in_process=local,
        seed=options.seed,
    )
    netsuite: SandboxHandle | None = None
    try:
        netsuite = start_sandbox(
            "netsuite",
            latency_ms=latency,
            limit=options.concurrency,
            accounts=options.accounts if master == "netsuite" else 0,
            in_process=local,
            seed=options.seed,
        )
        yield zuora, netsuite
    finally:
        if netsuite is not None:
            netsuite.stop()
        zuora.stop()


def reference_sync(master: str, options: ChaosOptions) -> tuple[set[str], int]:
    """The source records a clean run syncs on identical sandboxes (no latency, no fault), and
    how many source records there are."""
    from syncadmin.models import RecordLink
    from syncadmin.services.runs import sync_run_execute

    with _sandboxes(master, options, latency_ms=0.0, in_process=True) as (zuora, netsuite):
        configure(zuora, netsuite, options.concurrency, master)
        for _ in range(2):  # the second run settles what the first wrote back
            sync_run_execute(trigger="command", client_options=REFERENCE_CLIENTS)
        world = World(master, zuora, netsuite, random.Random(0))
        total = len(world.sources())
        if master == "zuora":
            keys = set(RecordLink.objects.values_list("zuora_account_number", flat=True))
        else:
            keys = set(RecordLink.objects.values_list("netsuite_internal_id", flat=True))
    _flush_database()
    return keys, total


def run_chaos(options: ChaosOptions, out: Callable[[str], None] = print) -> ChaosReport:
    """Every phase asked for, in each direction asked for, on the current (throwaway)
    database, which is flushed between phases."""
    report = ChaosReport(options)
    with lease_ttl_in_effect(options) as ttl:
        out(
            f"chaos_sync: {options.accounts} source records, latency {options.latency_ms:g} ms, "
            f"NetSuite limit {options.concurrency}, {options.kills} kills per direction, "
            f"faults at {options.fault_rate:.0%}, seed {options.seed}; lease: {ttl}"
        )
        for master in options.masters:
            expected, total = reference_sync(master, options)
            source = _systems(master)[0]
            out(
                f"reference ({source} master): a clean run syncs {len(expected)} of {total} "
                f"{source} records (the others are out of scope or fail for their data)"
            )
            phases: list[Callable[..., PhaseFigures]] = []
            if options.kill_trials:
                phases.append(kill_trials)
            if options.faults:
                phases.append(fault_run)
            for phase in phases:
                figures = phase(master, expected, options, out)
                report.phases.append(figures)
                for line in figures.lines(options.kills):
                    out(line)
                _flush_database()
    return report
