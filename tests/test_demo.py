"""`manage.py demo` as a new user runs it: in a process of its own, on a database and sandbox
state of its own, on free ports."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent (or init) to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": TEST_KEY,
        "Q_BROKER_URL": "",
    }


@pytest.fixture
def ports() -> dict[str, int]:
    return {"zuora": free_port(), "netsuite": free_port(), "admin": free_port()}


def demo_args(tmp_path: Path, ports: dict[str, int], *extra: str) -> list[str]:
    return [
        sys.executable,
        "manage.py",
        "demo",
        "--accounts",
        "60",
        "--state-dir",
        str(tmp_path / "sandboxes"),
        "--zuora-port",
        str(ports["zuora"]),
        "--netsuite-port",
        str(ports["netsuite"]),
        "--port",
        str(ports["admin"]),
        *extra,
    ]


def test_the_demo_offers_probable_pairs_to_approve_or_reject(tmp_path, demo_env, ports):
    result = subprocess.run(
        demo_args(tmp_path, ports, "--no-serve"),
        cwd=ROOT,
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Match suggestions: " in result.stdout
    with sqlite3.connect(tmp_path / "demo.sqlite3") as db:
        pending = db.execute(
            "SELECT zuora_account_id FROM syncadmin_matchsuggestion "
            "WHERE status = 'pending' AND strong"
        ).fetchall()
        held = db.execute(
            "SELECT source_id FROM syncadmin_accountresult WHERE outcome = 'review'"
        ).fetchall()
        rules = {row[0] for row in db.execute("SELECT rule FROM syncadmin_matchsuggestion")}
    assert len(pending) >= 3
    # The first sync held those accounts back: nothing was created for them yet.
    assert sorted(held) == sorted(pending)
    assert len(rules) >= 2  # same email, and same name with the same postal code
    assert not any(listening(port) for port in (ports["zuora"], ports["netsuite"]))


@pytest.fixture
def running_demo(tmp_path, demo_env, ports) -> Iterator[subprocess.Popen[str]]:
    demo = subprocess.Popen(
        demo_args(tmp_path, ports),
        cwd=ROOT,
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        assert demo.stdout is not None
        for line in demo.stdout:
            if "syncadmin is at" in line or time.monotonic() > deadline:
                break
        while not listening(ports["admin"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        yield demo
    finally:
        if demo.poll() is None:
            for pid in descendants(demo.pid):
                os.kill(pid, signal.SIGKILL)
            demo.kill()
        demo.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_the_sandboxes_worker_and_server_too(running_demo, ports, sig):
    children = descendants(running_demo.pid)
    assert len(children) >= 3  # sandboxes, worker (and its processes), server
    assert all(listening(port) for port in ports.values())

    running_demo.send_signal(sig)

    assert running_demo.wait(timeout=60) == 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]
    assert not any(listening(port) for port in ports.values())


def test_a_taken_port_is_refused_in_one_line_before_anything_starts(tmp_path, demo_env, ports):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["zuora"]))
        taken.listen()

        result = subprocess.run(
            demo_args(tmp_path, ports),
            cwd=ROOT,
            env=demo_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"CommandError: Port {ports['zuora']} is in use: is another demo still running? "
        "Stop it, or pass --zuora-port with a free port."
    ]
    assert not (tmp_path / "sandboxes").exists()
    assert not listening(ports["netsuite"])
