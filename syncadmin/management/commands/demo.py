from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.http import ApiError
from syncadmin import crypto
from syncadmin.models import SyncPreferences
from syncadmin.services.connections import ConnectionNotConfigured, connections_point_at_sandboxes
from syncadmin.services.matching import match_suggestions_generate
from syncadmin.services.preferences import preferences_update

HOST = "127.0.0.1"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_SECONDS = 10


class DemoStopped(BaseException):
    """A stop signal reached the demo: everything it started is stopped, then it ends. A
    BaseException, like Ctrl-C's, so that a run in progress is closed as interrupted."""


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something listens on the port (a socket lingering after a close does not
    count: the servers reuse such an address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


class Children:
    """The demo's processes (sandboxes, worker, server), in one process group of their own,
    so that stopping the group also stops what they started (the worker's processes)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.group: int | None = None

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            # 0: a new group led by the first child; the others join it.
            process_group=self.group or 0,
        )
        if self.group is None:
            self.group = child.pid
        self.started.append((name, child))
        return child

    def ended(self) -> str | None:
        """The name of a child that has ended, if any."""
        return next((name for name, child in self.started if child.poll() is not None), None)

    def stop(self) -> None:
        """Ask each one to stop (SIGTERM: the sandboxes save their data, the worker stops its
        own processes), wait, then kill what is left of the group."""
        if self.group is None:
            return
        for _, child in self.started:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for _, child in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.group, signal.SIGKILL)
        for _, child in self.started:
            child.wait()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise DemoStopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Command(BaseCommand):
    help = (
        "Try syncadmin on its embedded defaults: migrate, start both API sandboxes with a few "
        "hundred accounts, connect to them, look for match suggestions, run a first sync, then "
        "serve the admin and the worker at http://127.0.0.1:8000 until Ctrl-C (or any stop "
        "signal), which stops all of them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=300)
        parser.add_argument("--port", type=int, default=8000, help="the admin's port")
        parser.add_argument("--zuora-port", type=int, default=8101)
        parser.add_argument("--netsuite-port", type=int, default=8102)
        parser.add_argument(
            "--state-dir",
            default=str(Path(settings.BASE_DIR) / "var" / "sandboxes"),
            help="where the sandboxes keep their data between demos",
        )
        parser.add_argument("--no-serve", action="store_true", help="Stop after the first sync.")

    def handle(self, *args: Any, **options: Any) -> None:
        ports = [("zuora_port", options["zuora_port"]), ("netsuite_port", options["netsuite_port"])]
        if not options["no_serve"]:
            ports.append(("port", options["port"]))
        for option, port in ports:
            if port_in_use(port):
                raise CommandError(
                    f"Port {port} is in use: is another demo still running? Stop it, or pass "
                    f"--{option.replace('_', '-')} with a free port."
                )
        self._ensure_key()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready.")
        children = Children()
        with stop_on_signals():
            try:
                self._run(children, options)
            except (DemoStopped, KeyboardInterrupt):
                pass
            finally:
                # A second signal must not cut the stopping short and leave children behind.
                for sig in STOP_SIGNALS:
                    signal.signal(sig, signal.SIG_IGN)
                children.stop()
        self.stdout.write("The demo stopped, with all it started (sandboxes, worker, server).")

    def _run(self, children: Children, options: dict[str, Any]) -> None:
        zuora_url = f"http://{HOST}:{options['zuora_port']}"
        netsuite_url = f"http://{HOST}:{options['netsuite_port']}"
        self._start_sandboxes(children, options, zuora_url, netsuite_url)
        connections_point_at_sandboxes(zuora_url=zuora_url, netsuite_url=netsuite_url)
        preferences = SyncPreferences.load()
        if not preferences.default_subsidiary:
            preferences_update(values={"default_subsidiary": "Parent Company : US Sub"})
        call_command("setup_roles", verbosity=0)
        password = self._ensure_admin()
        self.stdout.write("Connections point at the sandboxes.")
        self._suggest_matches()
        self.stdout.write("First sync:")
        # Some seeded accounts fail on purpose (exit 1); the summary says which.
        with contextlib.suppress(SystemExit):
            call_command("sync_customers")
        if options["no_serve"]:
            return
        children.start("worker", ["qcluster"])
        children.start(
            "server", ["runserver", f"{HOST}:{options['port']}", "--insecure", "--noreload"]
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nsyncadmin is at http://{HOST}:{options['port']}/admin/  "
                f"user: admin  password: {password}\nCtrl-C stops everything."
            )
        )
        self.stdout.flush()
        while (ended := children.ended()) is None:
            time.sleep(0.5)
        self.stderr.write(f"The {ended} stopped on its own; stopping the demo.")

    def _suggest_matches(self) -> None:
        """Probable pairs of records on both sides, before the first sync: it holds back the
        strong ones' accounts until a person approves (links) or rejects the pair."""
        try:
            found = match_suggestions_generate()
        except (ApiError, ConnectionNotConfigured) as exc:
            self.stderr.write(f"Could not look for match suggestions: {exc}")
            return
        if found["suggestions"]:
            self.stdout.write(
                f"Match suggestions: {found['suggestions']} probable pairs of records that "
                f"exist on both sides ({found['strong']} strong: the sync holds those accounts "
                "until you approve or reject the pair under Match suggestions)."
            )

    def _ensure_key(self) -> None:
        if settings.FIELD_ENCRYPTION_KEYS:
            return
        key = crypto.generate_key()
        env_file = Path(settings.BASE_DIR) / ".env"
        with env_file.open("a") as handle:
            handle.write(
                "\n# Generated by `manage.py demo`; keep it, or stored secrets are lost.\n"
                f"FIELD_ENCRYPTION_KEYS={key}\n"
            )
        settings.FIELD_ENCRYPTION_KEYS = [key]
        os.environ["FIELD_ENCRYPTION_KEYS"] = key
        self.stdout.write(f"Generated an encryption key for stored secrets into {env_file}.")

    def _start_sandboxes(
        self, children: Children, options: dict[str, Any], zuora_url: str, netsuite_url: str
    ) -> None:
        child = children.start(
            "sandboxes",
            [
                "run_sandboxes",
                "--accounts",
                str(options["accounts"]),
                "--zuora-port",
                str(options["zuora_port"]),
                "--netsuite-port",
                str(options["netsuite_port"]),
                "--state-dir",
                options["state_dir"],
            ],
        )
        deadline = time.monotonic() + 60
        for url in (f"{zuora_url}/_sandbox/state", f"{netsuite_url}/_sandbox/state"):
            while True:
                if child.poll() is not None:
                    raise CommandError("The sandboxes did not start; their error is above.")
                try:
                    requests.get(url, timeout=2).raise_for_status()
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        message = f"The sandbox at {url} did not answer in 60 s."
                        raise CommandError(message) from None
                    time.sleep(0.3)

    def _ensure_admin(self) -> str:
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(
            username="admin",
            defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password
