"""Sync runs in child processes (`manage.py sync_customers`) sharing this process's database:
started, killed with SIGKILL, and timed from a kill to the next real run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from syncadmin.chaos.figures import PhaseFigures
from syncadmin.chaos.options import SYNC_EXIT_CODES, ChaosOptions


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


def newest_run_id() -> int:
    from syncadmin.models import SyncRun

    return SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
