"""A stored secret only ever goes to the address it was entered for: changing a connection's
address asks for its secrets again (admin and command line), and only https is accepted, plain
http only to this machine (the sandboxes). Checked over real HTTP: a stranger's server on
another loopback port records everything it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from connectors.sandboxes.zuora import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from syncadmin.models import NetSuiteConnection, ZuoraConnection
from syncadmin.services.connections import (
    netsuite_connection_update,
    zuora_connection_test,
    zuora_connection_update,
)
from tests.factories import NetSuiteConnectionFactory
from tests.netsuite_fixtures import generate_key

NEW_SECRET = "secret-typed-for-the-new-address"


@dataclass
class Stranger:
    """A server someone else controls: answers 401 to everything and keeps what it got."""

    url: str
    received: list[str] = field(default_factory=list)


@pytest.fixture
def stranger() -> Iterator[Stranger]:
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode(errors="replace")
            received.append(f"{self.requestline}\n{self.headers}\n{body}")
            answer = b'{"message": "not you"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stranger(url=f"http://127.0.0.1:{server.server_port}", received=received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def zuora_at_sandbox(db, zuora_sandbox) -> str:
    zuora_connection_update(
        base_url=zuora_sandbox.url, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET
    )
    return zuora_sandbox.url


def zuora_form(**overrides: str) -> dict[str, str]:
    return {
        "base_url": "",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": "",
        "entity_id": "",
        **overrides,
    }


def configure_zuora(*args: str) -> str:
    out = StringIO()
    call_command(
        "configure_connection", "zuora", "--client-id", DEFAULT_CLIENT_ID, *args, stdout=out
    )
    return out.getvalue()


# --- the admin -------------------------------------------------------------------------------


def test_admin_asks_for_the_secret_again_when_the_zuora_address_changes(
    admin_client, zuora_at_sandbox, stranger
):
    page = admin_client.post(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1]),
        zuora_form(base_url=stranger.url),
    )

    assert page.status_code == 200
    assert (
        "You changed the address of the Zuora connection, so enter its client secret again; "
        f"the stored one is only ever sent to {zuora_at_sandbox}."
    ) in page.content.decode()
    assert ZuoraConnection.load().base_url == zuora_at_sandbox
    tested = admin_client.post(reverse("admin:syncadmin_zuoraconnection_test"), follow=True)
    assert "Connected" in tested.content.decode()
    assert stranger.received == []


def test_admin_sends_only_the_newly_typed_secret_to_a_new_zuora_address(
    admin_client, zuora_at_sandbox, stranger
):
    saved = admin_client.post(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1]),
        zuora_form(base_url=stranger.url, client_secret=NEW_SECRET),
    )
    assert saved.status_code == 302

    admin_client.post(reverse("admin:syncadmin_zuoraconnection_test"))

    assert any(NEW_SECRET in request for request in stranger.received)
    assert not any(DEFAULT_CLIENT_SECRET in request for request in stranger.received)


def test_admin_accepts_a_new_address_when_the_stored_secret_is_removed(
    admin_client, zuora_at_sandbox, stranger
):
    saved = admin_client.post(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1]),
        zuora_form(base_url=stranger.url, clear_client_secret="on"),
    )

    assert saved.status_code == 302
    connection = ZuoraConnection.load()
    assert connection.base_url == stranger.url
    assert not connection.secret_is_set("client_secret")


def test_admin_keeps_the_stored_secret_when_the_address_stays(admin_client, zuora_at_sandbox):
    saved = admin_client.post(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1]),
        zuora_form(base_url=f"{zuora_at_sandbox}/", entity_id="entity-2"),
    )

    assert saved.status_code == 302
    connection = ZuoraConnection.load()
    assert connection.entity_id == "entity-2"
    assert connection.secret("client_secret") == DEFAULT_CLIENT_SECRET


def test_admin_refuses_plain_http_to_another_machine(admin_client, db):
    ZuoraConnection.load()

    page = admin_client.post(
        reverse("admin:syncadmin_zuoraconnection_change", args=[1]),
        zuora_form(base_url="http://rest.na.zuora.com", client_secret=NEW_SECRET),
    )

    assert page.status_code == 200
    assert "The Zuora address must start with https://" in page.content.decode()
    assert ZuoraConnection.load().base_url == ""


def test_admin_asks_for_the_netsuite_secrets_its_sign_in_uses_when_the_account_changes(
    admin_client, db
):
    NetSuiteConnectionFactory(account_id="1234567")

    page = admin_client.post(
        reverse("admin:syncadmin_netsuiteconnection_change", args=[1]),
        {
            "account_id": "7654321",
            "base_url": "",
            "auth_method": "tba",
            "consumer_key": "fake-consumer-key",
            "token_id": "fake-token-id",
            "client_id": "",
            "certificate_id": "",
            "algorithm": "PS256",
            "consumer_secret": "typed-again",
        },
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert (
        "You changed the address of the NetSuite connection, so enter its token secret again; "
        "the stored one is only ever used with https://1234567.suitetalk.api.netsuite.com."
    ) in html
    assert "enter its consumer secret again" not in html
    assert NetSuiteConnection.load().account_id == "1234567"


# --- the command line ------------------------------------------------------------------------


def test_command_refuses_a_new_zuora_address_with_an_empty_secret(zuora_at_sandbox, stranger):
    with pytest.raises(CommandError, match="so enter its client secret again; the stored one"):
        configure_zuora("--base-url", stranger.url, "--client-secret", "")

    assert ZuoraConnection.load().base_url == zuora_at_sandbox
    ok, _ = zuora_connection_test()
    assert ok
    assert stranger.received == []


def test_command_sends_only_the_newly_given_secret_to_a_new_zuora_address(
    zuora_at_sandbox, stranger
):
    output = configure_zuora("--base-url", stranger.url, "--client-secret", NEW_SECRET)

    assert NEW_SECRET not in output
    ok, _ = zuora_connection_test()
    assert not ok
    assert any(NEW_SECRET in request for request in stranger.received)
    assert not any(DEFAULT_CLIENT_SECRET in request for request in stranger.received)


@pytest.mark.parametrize("url", ["http://rest.na.zuora.com", "http://10.0.0.5:8101", "ftp://x.y"])
def test_command_refuses_addresses_that_are_not_https(db, url):
    with pytest.raises(CommandError, match="must start with https://"):
        configure_zuora("--base-url", url, "--client-secret", NEW_SECRET)

    assert ZuoraConnection.load().base_url == ""


@pytest.mark.parametrize(
    "url",
    [
        "https://rest.na.zuora.com",
        "http://localhost:8101",
        "http://127.0.0.2:8101",
        "http://[::1]:8101",
    ],
)
def test_command_accepts_https_and_plain_http_to_this_machine(db, url):
    configure_zuora("--base-url", url, "--client-secret", NEW_SECRET)

    assert ZuoraConnection.load().base_url == url


def test_command_asks_for_the_private_key_again_when_the_netsuite_account_changes(db, tmp_path):
    private_pem, _ = generate_key("PS256")
    key_file = tmp_path / "key.pem"
    key_file.write_text(private_pem)
    oauth2 = ["--auth", "oauth2", "--client-id", "cid", "--certificate-id", "kid"]
    call_command(
        "configure_connection",
        "netsuite",
        "--account-id",
        "1234567",
        *oauth2,
        "--private-key-file",
        str(key_file),
        stdout=StringIO(),
    )
    call_command(
        "configure_connection",
        "netsuite",
        "--account-id",
        "1234567",
        *oauth2,
        "--certificate-id",
        "kid2",
        stdout=StringIO(),
    )  # same address: key kept
    assert NetSuiteConnection.load().secret("private_key") == private_pem

    with pytest.raises(CommandError, match="so enter its private key again"):
        call_command(
            "configure_connection",
            "netsuite",
            "--account-id",
            "7654321",
            *oauth2,
            stdout=StringIO(),
        )

    assert NetSuiteConnection.load().account_id == "1234567"


def test_secrets_the_new_sign_in_does_not_use_are_removed_when_the_address_changes(db):
    NetSuiteConnectionFactory(account_id="1234567")
    private_pem, _ = generate_key("ES256")

    connection = netsuite_connection_update(
        account_id="7654321",
        auth_method=NetSuiteConnection.AUTH_OAUTH2,
        client_id="cid",
        certificate_id="kid",
        private_key=private_pem,
        algorithm="ES256",
    )

    assert connection.secret("private_key") == private_pem
    assert not connection.secret_is_set("consumer_secret")
    assert not connection.secret_is_set("token_secret")


def test_a_stored_plain_http_address_is_refused_before_any_call(db):
    from tests.factories import ZuoraConnectionFactory

    ZuoraConnectionFactory(base_url="http://rest.na.zuora.com")

    ok, message = zuora_connection_test()

    assert not ok
    assert "not https" in message
