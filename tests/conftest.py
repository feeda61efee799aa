from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from connectors.sandboxes.netsuite import (
    NetSuiteSandbox,
)
from connectors.sandboxes.server import SandboxConfig
from connectors.sandboxes.zuora import ZuoraSandbox

pytest_plugins = ["tests.zuora_fixtures", "tests.netsuite_fixtures"]

TEST_KEY = Fernet.generate_key().decode()


def pytest_unconfigure(config: Any) -> None:
    """pytest-django removes the SQLite test database, but not its write-ahead log and index
    (a sandbox thread may still hold a connection): remove them too, so var/ does not fill up."""
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


FAST_CLIENTS = {"timeout": 2.0, "backoff_base": 0.01, "max_attempts": 5}


@pytest.fixture(autouse=True)
def encryption_key(settings: Any) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [TEST_KEY]


@pytest.fixture(autouse=True)
def no_lease_heartbeat_inside_a_test_transaction(request: Any, settings: Any) -> None:
    """A test run inside one transaction (the `db` fixture) hides the lease row from the
    heartbeat thread's own connection (SQLite even makes it wait for the test's write lock),
    so there a heartbeat would find no lease and stop the run: such tests renew too rarely
    to matter. Transactional tests keep the real heartbeat."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
    )
    if not transactional:
        settings.SYNC_LEASE_HEARTBEAT_SECONDS = 24 * 3600
        settings.SYNC_LEASE_TTL_SECONDS = 48 * 3600


@pytest.fixture(autouse=True)
def no_kept_zuora_tokens() -> None:
    """Each test starts without the tokens earlier tests' clients kept: sandboxes listen on
    free ports, and a later one may reuse an earlier one's address."""
    from connectors.zuora.client import forget_tokens

    forget_tokens()


@dataclass
class Systems:
    zuora: ZuoraSandbox
    netsuite: NetSuiteSandbox

    def netsuite_client(self) -> Any:
        """A client of the NetSuite sandbox, for a test's own edits (as a NetSuite user)."""
        from tests.netsuite_fixtures import make_client, tba_credentials

        return make_client(tba_credentials(self.netsuite))

    def zuora_client(self) -> Any:
        """A client of the Zuora sandbox, for a test's own edits (as a Zuora user)."""
        from tests.zuora_fixtures import make_zuora_client

        return make_zuora_client(self.zuora)


@pytest.fixture
def systems(db: Any) -> Iterator[Systems]:
    """Both sandboxes running, the connections pointing at them, preferences ready: Zuora seeded
    with 40 accounts, NetSuite with reference data and no customers."""
    from syncadmin.services.connections import connections_point_at_sandboxes
    from tests.factories import SyncPreferencesFactory

    zuora = ZuoraSandbox(config=SandboxConfig(concurrency_limit=40, hang_seconds=3.0))
    zuora.retry_after_seconds = 0
    zuora.seed(40, seed=42)
    netsuite = NetSuiteSandbox(
        config=SandboxConfig(concurrency_limit=5, hang_seconds=3.0, retry_after_seconds=0)
    )
    netsuite.seed(customers=0, seed=42)
    zuora.start()
    netsuite.start()
    try:
        connections_point_at_sandboxes(zuora_url=zuora.url, netsuite_url=netsuite.url)
        SyncPreferencesFactory(default_subsidiary="Parent Company : US Sub")
        yield Systems(zuora=zuora, netsuite=netsuite)
    finally:
        zuora.stop()
        netsuite.stop()


@pytest.fixture
def run_sync() -> Any:
    """Run one sync the way the command does, with fast client timeouts and backoff."""
    from syncadmin.services.runs import sync_run_execute

    def run(**kwargs: Any) -> Any:
        kwargs.setdefault("trigger", "command")
        kwargs.setdefault("client_options", FAST_CLIENTS)
        return sync_run_execute(**kwargs)

    return run


@pytest.fixture
def as_role(client: Any, db: None) -> Any:
    """Logs the test client in as a new user of one of the roles setup_roles defines."""
    from django.contrib.auth.models import Group

    from syncadmin.services.roles import roles_setup
    from tests.factories import UserFactory

    roles_setup()

    def login(role: str) -> Any:
        client.force_login(UserFactory(groups=[Group.objects.get(name=role)]))
        return client

    return login
