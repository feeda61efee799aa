"""The production stack, started the way README's "Running in production" says, and used over
HTTP: gunicorn serving the admin (static files through WhiteNoise) and two `manage.py qcluster`
workers on PostgreSQL with Redis as the broker, DEBUG off. It logs in to the admin, loads its
CSS, presses "Run sync now" while a scheduled run is queued beside it, and waits until the two
workers have finished both runs, one at a time.

Run it with the project's venv from any checkout:
    .venv/bin/python .ci/production_smoke.py
Where: SMOKE_POSTGRES_URL (a server login that may create databases; default
postgres://postgres@127.0.0.1:5432/postgres), SMOKE_DATABASE (the database it creates and drops;
default syncadmin_smoke), SMOKE_REDIS_URL (a Redis database it empties; default
redis://127.0.0.1:6379/1)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("SMOKE_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("SMOKE_DATABASE", "syncadmin_smoke")
REDIS_URL = os.environ.get("SMOKE_REDIS_URL", "redis://127.0.0.1:6379/1")
ACCOUNTS = 40
FINISHED = {"succeeded", "partly_failed", "failed", "skipped", "interrupted"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (requests.RequestException, psycopg.Error):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: {what} (waited {timeout:g} s)")
        time.sleep(0.5)


class Stack:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="syncadmin-smoke-"))
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.web_port, self.zuora_port, self.netsuite_port = (free_port() for _ in range(3))
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.password = secrets.token_urlsafe(16)
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": with_database(POSTGRES_URL, DATABASE),
            "Q_BROKER_URL": REDIS_URL,
            "Q_WORKERS": "1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "STATIC_ROOT": str(self.workdir / "static"),
            # No TLS on this machine's loopback: the HTTPS settings of the production
            # environment are checked by tests/test_deployment_settings.py instead.
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "DJANGO_SUPERUSER_PASSWORD": self.password,
            "PYTHONUNBUFFERED": "1",
        }

    # --- processes ---------------------------------------------------------------------------

    def manage(self, *args: str) -> None:
        print("$ manage.py", " ".join(args), flush=True)
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=300
        )

    def start(self, name: str, *command: str | Path) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        print(f"start {name}:", " ".join(str(part) for part in command), flush=True)
        child = subprocess.Popen(
            [str(part) for part in command],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )
        self.children.append((name, child))

    def assert_alive(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                raise SystemExit(f"FAILED: {name} exited with {child.returncode}")

    def stop(self) -> None:
        for _, child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for _, child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()

    def print_logs(self) -> None:
        for name, _ in self.children:
            lines = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()
            print(f"--- {name} (last 40 lines)", *lines[-40:], sep="\n")

    # --- database and broker -----------------------------------------------------------------

    def create_database(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
        redis.Redis.from_url(REDIS_URL).flushdb()

    def drop_database(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        redis.Redis.from_url(REDIS_URL).flushdb()

    def runs(self) -> list[tuple[int, str, str, Any, Any]]:
        with psycopg.connect(self.env["DATABASE_URL"]) as connection:
            return connection.execute(
                "SELECT id, trigger, status, started_at, finished_at FROM syncadmin_syncrun "
                "ORDER BY started_at"
            ).fetchall()


def set_up(stack: Stack) -> None:
    stack.create_database()
    stack.manage("migrate", "--no-input", "--verbosity", "0")
    stack.manage("collectstatic", "--no-input", "--verbosity", "0")
    stack.manage("setup_roles", "--verbosity", "0")
    stack.manage("createsuperuser", "--no-input", "--username", "smoke", "--email", "s@x.test")
    stack.start(
        "sandboxes",
        sys.executable,
        "manage.py",
        "run_sandboxes",
        "--zuora-port",
        str(stack.zuora_port),
        "--netsuite-port",
        str(stack.netsuite_port),
        "--accounts",
        str(ACCOUNTS),
        "--customers",
        "0",
        "--state-dir",
        str(stack.workdir / "sandboxes"),
    )
    for port in (stack.zuora_port, stack.netsuite_port):
        url = f"http://127.0.0.1:{port}/_sandbox/state"
        wait_for(f"the sandbox at {url}", lambda url=url: requests.get(url, timeout=2).ok, 60)
    stack.manage(
        "configure_connection",
        "zuora",
        "--base-url",
        f"http://127.0.0.1:{stack.zuora_port}",
        "--client-id",
        "sandbox-client-id",
        "--client-secret",
        "sandbox-client-secret",
    )
    stack.manage(
        "configure_connection",
        "netsuite",
        "--account-id",
        "1234567_SB1",
        "--base-url",
        f"http://127.0.0.1:{stack.netsuite_port}",
        "--consumer-key",
        "sandbox-consumer-key",
        "--consumer-secret",
        "sandbox-consumer-secret",
        "--token-id",
        "sandbox-token-id",
        "--token-secret",
        "sandbox-token-secret",
    )
    stack.manage("preferences", "--set", "default_subsidiary=Parent Company : US Sub")
    stack.start(
        "gunicorn",
        BIN / "gunicorn",
        "syncadmin.wsgi",
        "--bind",
        f"127.0.0.1:{stack.web_port}",
        "--workers",
        "2",
        "--access-logfile",
        "-",
    )
    # Two clusters, as on two machines: the lease lets one run at a time.
    stack.start("worker-1", sys.executable, "manage.py", "qcluster")
    stack.start("worker-2", sys.executable, "manage.py", "qcluster")


def use_the_admin(stack: Stack) -> None:
    browser = requests.Session()
    login_url = f"{stack.web}/admin/login/"
    page = wait_for("the admin login page", lambda: browser.get(login_url, timeout=5), 60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    home = browser.post(
        login_url,
        data={
            "csrfmiddlewaretoken": token,
            "username": "smoke",
            "password": stack.password,
            "next": "/admin/",
        },
        timeout=10,
    )
    if home.url.rstrip("/") != f"{stack.web}/admin" or "Log out" not in home.text:
        raise SystemExit(f"FAILED: logging in to the admin (ended at {home.url})")
    print("logged in to the admin", flush=True)

    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+\.css)"', home.text).group(1)
    css = browser.get(f"{stack.web}{stylesheet}", timeout=10)
    if css.status_code != 200 or not css.headers["Content-Type"].startswith("text/css"):
        raise SystemExit(f"FAILED: {stylesheet}: {css.status_code} {css.headers['Content-Type']}")
    print(f"{stylesheet}: 200 {css.headers['Content-Type']}, {len(css.content)} bytes", flush=True)

    queued = browser.post(
        f"{stack.web}/admin/syncadmin/syncrun/run-now/",
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        timeout=10,
    )
    if "A sync run is queued" not in queued.text:
        raise SystemExit(f"FAILED: Run sync now: {queued.status_code}")
    print("pressed Run sync now", flush=True)
    # The admin refuses a second press while a run is active, so the schedule's run is what
    # races it: queued at once, the two workers take one each and the lease lets one run.
    stack.manage(
        "shell",
        "-c",
        "from syncadmin.services.runs import sync_run_queue; sync_run_queue(trigger='schedule')",
    )


def watch_the_runs(stack: Stack) -> None:
    def both_finished() -> list[Any] | None:
        stack.assert_alive()
        runs = stack.runs()
        if len(runs) == 2 and all(run[2] in FINISHED for run in runs):
            return runs
        return None

    runs = wait_for("both runs to finish through the workers", both_finished, 90)
    for run_id, trigger, status, started, finished in runs:
        print(f"run {run_id} ({trigger}): {status}, {started} to {finished}")
    if not any(status in ("succeeded", "partly_failed") for _, _, status, _, _ in runs):
        raise SystemExit("FAILED: no run synced the accounts")
    ran = sorted(
        (started, finished) for _, _, status, started, finished in runs if status != "skipped"
    )
    for (_, first_end), (second_start, _) in zip(ran, ran[1:], strict=False):
        if second_start < first_end:
            raise SystemExit("FAILED: two runs ran at the same time")
    print("the workers ran the runs one at a time", flush=True)


def main() -> None:
    # A CI cancel (SIGTERM) still stops the stack and drops the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stack = Stack()
    started = time.monotonic()
    try:
        set_up(stack)
        use_the_admin(stack)
        watch_the_runs(stack)
    except BaseException:
        stack.stop()
        stack.print_logs()
        raise
    finally:
        stack.stop()
        stack.drop_database()
        shutil.rmtree(stack.workdir, ignore_errors=True)
    print(f"production smoke test passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
