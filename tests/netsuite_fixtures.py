"""Fixtures that start the NetSuite sandbox in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from connectors.netsuite.client import NetSuiteClient, NetSuiteCredentials
from connectors.sandboxes.netsuite import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
    NetSuiteSandbox,
)
from connectors.sandboxes.server import SandboxConfig

SEEDED_CUSTOMERS = 8


def tba_credentials(sandbox: NetSuiteSandbox, **overrides: Any) -> NetSuiteCredentials:
    values: dict[str, Any] = {
        "account_id": DEFAULT_ACCOUNT_ID,
        "base_url": sandbox.url,
        "auth_method": "tba",
        "consumer_key": DEFAULT_CONSUMER_KEY,
        "consumer_secret": DEFAULT_CONSUMER_SECRET,
        "token_id": DEFAULT_TOKEN_ID,
        "token_secret": DEFAULT_TOKEN_SECRET,
    }
    values.update(overrides)
    return NetSuiteCredentials(**values)


def make_client(credentials: NetSuiteCredentials, **kwargs: Any) -> NetSuiteClient:
    options: dict[str, Any] = {"timeout": 2.0, "backoff_base": 0.01, "max_attempts": 4}
    options.update(kwargs)
    return NetSuiteClient(credentials, **options)


def generate_key(algorithm: str) -> tuple[str, str]:
    """(private PEM, public PEM): EC P-256 for ES256, RSA 2048 for PS256."""
    if algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def oauth2_client(
    sandbox: NetSuiteSandbox,
    *,
    algorithm: str = "ES256",
    client_id: str = "sandbox-client",
    certificate_id: str = "cert-1",
    register: bool = True,
    **kwargs: Any,
) -> NetSuiteClient:
    """A client using OAuth 2.0 client credentials with a fresh key registered on `sandbox`."""
    private_pem, public_pem = generate_key(algorithm)
    if register:
        sandbox.register_oauth2_client(client_id, certificate_id, public_pem)
    credentials = NetSuiteCredentials(
        account_id=DEFAULT_ACCOUNT_ID,
        base_url=sandbox.url,
        auth_method="oauth2",
        client_id=client_id,
        certificate_id=certificate_id,
        private_key_pem=private_pem,
        algorithm=algorithm,
    )
    return make_client(credentials, **kwargs)


@pytest.fixture
def netsuite_sandbox() -> Iterator[NetSuiteSandbox]:
    sandbox = NetSuiteSandbox(config=SandboxConfig(concurrency_limit=5, hang_seconds=3.0))
    sandbox.seed(customers=SEEDED_CUSTOMERS, seed=7)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def netsuite_client(netsuite_sandbox: NetSuiteSandbox) -> NetSuiteClient:
    return make_client(tba_credentials(netsuite_sandbox))
