"""Connection settings: storing them, building API clients from them, and testing them."""

from __future__ import annotations

from collections.abc import Callable, Collection
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors.http import ApiError
from connectors.netsuite.client import NetSuiteClient, NetSuiteCredentials, default_base_url
from connectors.zuora.client import ZuoraClient, ZuoraCredentials
from syncadmin.models import NetSuiteConnection, SyncPreferences, ZuoraConnection
from syncadmin.services.storable import storable_text


class ConnectionNotConfigured(Exception):
    pass


Connection = ZuoraConnection | NetSuiteConnection

SECRET_LABELS = {
    "client_secret": "client secret",
    "consumer_secret": "consumer secret",
    "token_secret": "token secret",
    "private_key": "private key",
}


def address_is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def address_is_allowed(url: str) -> bool:
    """https, or plain http to this machine only (the local sandboxes)."""
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and address_is_loopback(url))


def connection_address(connection: Connection) -> str:
    """Where the connection's calls, and so its credentials, go."""
    if isinstance(connection, NetSuiteConnection):
        if connection.base_url:
            return connection.base_url
        return default_base_url(connection.account_id) if connection.account_id else ""
    return connection.base_url


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


def _secrets_in_use(connection: Connection) -> tuple[str, ...]:
    if isinstance(connection, ZuoraConnection):
        return ("client_secret",)
    if connection.auth_method == NetSuiteConnection.AUTH_OAUTH2:
        return ("private_key",)
    return ("consumer_secret", "token_secret")


def connection_address_change(connection: Connection, *, entered: Collection[str]) -> None:
    """Apply the address rules to `connection`, which carries new, unsaved settings: its
    address must be https (plain http only to this machine, for the sandboxes), and stored
    secrets stay with the address they were entered for. When the address changes, each
    secret the connection signs in with must be entered again (`entered`: the secrets given
    anew or removed in this change), or ValidationError names it; stored secrets it does not
    use are removed, so no later change of sign-in method sends them to the new address."""
    system = "Zuora" if isinstance(connection, ZuoraConnection) else "NetSuite"
    address = connection_address(connection)
    address_field = "base_url" if connection.base_url or system == "Zuora" else "account_id"
    if address and not address_is_allowed(address):
        raise ValidationError(
            {
                address_field: f"The {system} address must start with https://; plain http "
                "is only accepted for the local sandboxes (127.0.0.1, ::1 or localhost)."
            }
        )
    stored = type(connection).objects.filter(pk=1).first()
    if stored is None:
        return
    stored_address = connection_address(stored)
    if _origin(stored_address) == _origin(address):
        return
    kept = [
        name
        for name in connection.SECRET_FIELDS
        if stored.secret_is_set(name) and name not in entered
    ]
    in_use = _secrets_in_use(connection)
    verb = "sent to" if system == "Zuora" else "used with"
    where = f"; the stored one is only ever {verb} {stored_address}" if stored_address else ""
    errors = {
        name: f"You changed the address of the {system} connection, so enter its "
        f"{SECRET_LABELS[name]} again{where}."
        for name in kept
        if name in in_use
    }
    if errors:
        raise ValidationError(errors)
    for name in kept:
        connection.set_secret(name, "")


def zuora_connection_update(
    *, base_url: str, client_id: str, client_secret: str | None = None, entity_id: str = ""
) -> ZuoraConnection:
    connection = ZuoraConnection.load()
    connection.base_url = base_url.rstrip("/")
    connection.client_id = client_id
    connection.entity_id = entity_id
    connection_address_change(connection, entered={"client_secret"} if client_secret else ())
    if client_secret:
        connection.set_secret("client_secret", client_secret)
    connection.full_clean()
    connection.save()
    return connection


def netsuite_connection_update(
    *,
    account_id: str,
    base_url: str = "",
    auth_method: str = NetSuiteConnection.AUTH_TBA,
    consumer_key: str = "",
    consumer_secret: str | None = None,
    token_id: str = "",
    token_secret: str | None = None,
    client_id: str = "",
    certificate_id: str = "",
    private_key: str | None = None,
    algorithm: str = "PS256",
) -> NetSuiteConnection:
    connection = NetSuiteConnection.load()
    connection.account_id = account_id
    connection.base_url = base_url.rstrip("/")
    connection.auth_method = auth_method
    connection.consumer_key = consumer_key
    connection.token_id = token_id
    connection.client_id = client_id
    connection.certificate_id = certificate_id
    connection.algorithm = algorithm
    given = {
        "consumer_secret": consumer_secret,
        "token_secret": token_secret,
        "private_key": private_key,
    }
    connection_address_change(connection, entered={name for name, value in given.items() if value})
    for name, value in given.items():
        if value:
            connection.set_secret(name, value)
    connection.full_clean()
    connection.save()
    return connection


def connections_point_at_sandboxes(*, zuora_url: str, netsuite_url: str) -> None:
    """Connect both systems to the local sandboxes with their documented credentials (the demo,
    the benchmark and the tests)."""
    from connectors.sandboxes import netsuite as ns_sandbox
    from connectors.sandboxes import zuora as z_sandbox

    zuora_connection_update(
        base_url=zuora_url,
        client_id=z_sandbox.DEFAULT_CLIENT_ID,
        client_secret=z_sandbox.DEFAULT_CLIENT_SECRET,
    )
    netsuite_connection_update(
        account_id=ns_sandbox.DEFAULT_ACCOUNT_ID,
        base_url=netsuite_url,
        consumer_key=ns_sandbox.DEFAULT_CONSUMER_KEY,
        consumer_secret=ns_sandbox.DEFAULT_CONSUMER_SECRET,
        token_id=ns_sandbox.DEFAULT_TOKEN_ID,
        token_secret=ns_sandbox.DEFAULT_TOKEN_SECRET,
    )


def _refuse_plain_http(connection: Connection) -> None:
    """Settings stored before addresses were checked on saving are checked before use."""
    address = connection_address(connection)
    if not address_is_allowed(address):
        raise ConnectionNotConfigured(
            f"The {connection._meta.verbose_name} points at {address}, which is not https: "
            "change its address to an https:// one and enter its secrets again."
        )


def zuora_client_build(connection: ZuoraConnection | None = None, **options: Any) -> ZuoraClient:
    connection = connection or ZuoraConnection.load()
    if not connection.is_configured:
        raise ConnectionNotConfigured(
            "The Zuora connection is not configured: set its base URL, client id and secret."
        )
    _refuse_plain_http(connection)
    credentials = ZuoraCredentials(
        base_url=connection.base_url,
        client_id=connection.client_id,
        client_secret=connection.secret("client_secret"),
        entity_id=connection.entity_id or None,
    )
    return ZuoraClient(credentials, **options)


def netsuite_client_build(
    connection: NetSuiteConnection | None = None, **options: Any
) -> NetSuiteClient:
    connection = connection or NetSuiteConnection.load()
    if not connection.is_configured:
        raise ConnectionNotConfigured(
            "The NetSuite connection is not configured: set the account id and credentials."
        )
    _refuse_plain_http(connection)
    credentials = NetSuiteCredentials(
        account_id=connection.account_id,
        base_url=connection.base_url or None,
        auth_method=connection.auth_method,
        consumer_key=connection.consumer_key,
        consumer_secret=connection.secret("consumer_secret"),
        token_id=connection.token_id,
        token_secret=connection.secret("token_secret"),
        client_id=connection.client_id,
        certificate_id=connection.certificate_id,
        private_key_pem=connection.secret("private_key"),
        algorithm=connection.algorithm,
    )
    # As many kept-alive connections as the calls the sync makes to NetSuite at once.
    options.setdefault("pool_size", SyncPreferences.load().netsuite_concurrency)
    return NetSuiteClient(credentials, **options)


def _check(connection: Any, probe: Callable[[], str]) -> tuple[bool, str]:
    # Imported here: connection_health builds on this module.
    from syncadmin.services.connection_health import run_error_explain

    try:
        ok, message = True, probe()
    except (ApiError, ConnectionNotConfigured) as exc:
        ok, message = False, run_error_explain(exc)
    except Exception as exc:  # a bad key or URL must end as a message, not a 500
        ok, message = False, f"{type(exc).__name__}: {exc}"
    connection.last_checked_at = timezone.now()
    connection.last_check_ok = ok
    connection.last_check_message = storable_text(message)[:1000]
    connection.save(update_fields=["last_checked_at", "last_check_ok", "last_check_message"])
    return ok, message


def zuora_connection_test() -> tuple[bool, str]:
    connection = ZuoraConnection.load()

    def probe() -> str:
        client = zuora_client_build(connection, timeout=15, max_attempts=2)
        currencies = client.list_currencies()
        return f"Connected: {len(currencies)} currencies enabled."

    return _check(connection, probe)


def netsuite_connection_test() -> tuple[bool, str]:
    connection = NetSuiteConnection.load()

    def probe() -> str:
        client = netsuite_client_build(connection, timeout=15, max_attempts=2)
        subsidiaries = client.list_subsidiaries()
        return f"Connected: {len(subsidiaries)} subsidiaries visible."

    return _check(connection, probe)
