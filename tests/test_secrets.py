"""Secrets are encrypted at rest, never shown back, and survive a key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from syncadmin.crypto import SecretKeyError
from syncadmin.models import NetSuiteConnection, ZuoraConnection
from syncadmin.services.connections import zuora_connection_update
from tests.factories import NetSuiteConnectionFactory, ZuoraConnectionFactory

SECRET = "zuora-client-secret-value-123"


def stored_column(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608 - test helper
        return cursor.fetchone()[0]


def test_secret_is_stored_encrypted_and_read_back_decrypted(db):
    zuora_connection_update(base_url="https://rest.zuora.com", client_id="id", client_secret=SECRET)

    raw = stored_column("syncadmin_zuoraconnection", "client_secret_encrypted")
    assert SECRET not in raw
    assert ZuoraConnection.load().secret("client_secret") == SECRET


def test_wrong_key_raises_a_clear_error_instead_of_returning_ciphertext(db, settings):
    zuora_connection_update(base_url="https://rest.zuora.com", client_id="id", client_secret=SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(SecretKeyError) as caught:
        ZuoraConnection.load().secret("client_secret")

    message = str(caught.value)
    assert "FIELD_ENCRYPTION_KEYS" in message
    assert SECRET not in message
    assert stored_column("syncadmin_zuoraconnection", "client_secret_encrypted") not in message


def test_missing_keys_refuse_to_store_a_secret(db, settings):
    settings.FIELD_ENCRYPTION_KEYS = []

    with pytest.raises(SecretKeyError, match="FIELD_ENCRYPTION_KEYS is not set"):
        zuora_connection_update(base_url="https://x.example", client_id="id", client_secret=SECRET)


def test_rotation_reencrypts_every_secret_with_the_newest_key(db, settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    NetSuiteConnectionFactory(consumer_secret="consumer-secret", token_secret="token-secret")
    ZuoraConnectionFactory(client_secret=SECRET)
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    call_command("rotate_encryption_keys")

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key can now be dropped
    assert ZuoraConnection.load().secret("client_secret") == SECRET
    assert NetSuiteConnection.load().secret("token_secret") == "token-secret"
    assert NetSuiteConnection.load().secret("consumer_secret") == "consumer-secret"


def test_client_built_from_settings_never_shows_its_secret(db):
    from syncadmin.services.connections import zuora_client_build

    zuora_connection_update(base_url="https://rest.zuora.com", client_id="id", client_secret=SECRET)
    client = zuora_client_build()

    assert SECRET not in repr(client)
    assert SECRET not in repr(client.credentials)


def test_calls_logged_at_debug_level_show_no_credentials(caplog, netsuite_sandbox, zuora_sandbox):
    import logging

    from connectors.sandboxes.netsuite import DEFAULT_CONSUMER_SECRET, DEFAULT_TOKEN_SECRET
    from connectors.sandboxes.zuora import DEFAULT_CLIENT_SECRET
    from connectors.zuora.client import forget_tokens
    from tests.netsuite_fixtures import make_client, tba_credentials
    from tests.zuora_fixtures import make_zuora_client

    forget_tokens()
    netsuite = make_client(tba_credentials(netsuite_sandbox))
    zuora = make_zuora_client(zuora_sandbox)
    caplog.set_level(logging.DEBUG)

    netsuite.get_customer("1")
    zuora.list_currencies()

    assert "GET" in caplog.text or "POST" in caplog.text  # the calls were logged at all
    for secret in (DEFAULT_CONSUMER_SECRET, DEFAULT_TOKEN_SECRET, DEFAULT_CLIENT_SECRET):
        assert secret not in caplog.text
    for credential in ("oauth_signature=", "Signature:", "Authorization", "Bearer", "access_token"):
        assert credential not in caplog.text
