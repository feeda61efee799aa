"""Fixtures that start the Zuora sandbox in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sandboxes.server import SandboxConfig
from connectors.sandboxes.zuora import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ZuoraSandbox
from connectors.zuora.client import ZuoraClient, ZuoraCredentials

SEEDED_ACCOUNTS = 30


def make_zuora_client(
    sandbox: ZuoraSandbox,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    entity_id: str | None = None,
    **options: Any,
) -> ZuoraClient:
    """A client against `sandbox` with fast test defaults; `options` override them."""
    settings: dict[str, Any] = {"timeout": 2.0, "backoff_base": 0.01, "max_attempts": 4}
    settings.update(options)
    credentials = ZuoraCredentials(sandbox.url, client_id, client_secret, entity_id)
    return ZuoraClient(credentials, **settings)


@pytest.fixture
def zuora_sandbox() -> Iterator[ZuoraSandbox]:
    sandbox = ZuoraSandbox(config=SandboxConfig(concurrency_limit=40, hang_seconds=1.0))
    sandbox.retry_after_seconds = 0  # throttled retries must not sleep in tests
    sandbox.seed(SEEDED_ACCOUNTS, seed=42)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def zuora_client(zuora_sandbox: ZuoraSandbox) -> ZuoraClient:
    return make_zuora_client(zuora_sandbox)
