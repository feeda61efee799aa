"""The transport's own connections: one pool per client, as many connections as the calls it
makes at once, kept alive between calls (a server that closed one while it was idle costs
neither an error nor a retry), verified TLS, credentials for the entered host only, and
failures typed by whether a retry can help."""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.auth import AuthBase

from connectors.http import HttpTransport, TransportError


class _JsonAnswers(BaseHTTPRequestHandler):
    """Answers every GET with {"ok": true}, keeping the connection alive (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    connections: set[int] = set()  # the client ports it was called from
    hang_up = False  # close after each answer, without saying so ("Connection: close")

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).connections.add(self.client_address[1])
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.hang_up

    def log_message(self, *args: object) -> None:
        pass


class _ClosesAfterEachAnswer(_JsonAnswers):
    hang_up = True


class _SlowAnswers(_JsonAnswers):
    """Takes `delay` seconds over each answer, so that calls from several threads overlap;
    counts the connections it accepted (a client port may come back on a new one), notes the
    Authorization each host name was sent, and redirects /moved to `moved_to`."""

    delay = 0.1
    moved_to = ""
    authorizations: list[tuple[str, str | None]] = []
    accepted = 0
    _counting = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self._counting:
            type(self).accepted += 1

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).authorizations.append(
            (self.headers["Host"].split(":")[0], self.headers.get("Authorization"))
        )
        time.sleep(self.delay)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", self.moved_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@contextlib.contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[int]:
    """The server's port while it serves in a thread of its own."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closing_server() -> Iterator[str]:
    _ClosesAfterEachAnswer.connections = set()
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _ClosesAfterEachAnswer)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def slow_server() -> Iterator[str]:
    _SlowAnswers.accepted, _SlowAnswers.authorizations = 0, []
    _SlowAnswers.delay = 0.1
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _SlowAnswers)) as port:
        _SlowAnswers.moved_to = f"http://localhost:{port}/ping"
        yield f"http://127.0.0.1:{port}"


def test_more_threads_than_the_concurrency_never_open_more_connections(slow_server: str) -> None:
    # What a sync does: many workers, and a gate letting the configured concurrency through.
    concurrency = 3
    transport = HttpTransport(base_url=slow_server, pool_size=concurrency, max_attempts=1)
    transport.gate = threading.BoundedSemaphore(concurrency)

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(
            pool.map(
                lambda _: transport.request("GET", "/ping", kind="read", check=lambda r: None),
                range(20),
            )
        )

    assert transport.calls_by_kind() == {"read": 20}
    # With a pool smaller than the concurrency, the connections a full pool throws away are
    # opened again: with a pool of 1 this server accepts 4 or more.
    assert 1 <= _SlowAnswers.accepted <= concurrency


class _Bearer(AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = "Bearer the-token"
        return request


def test_credentials_go_to_the_entered_host_only(slow_server: str) -> None:
    _SlowAnswers.delay = 0.0
    transport = HttpTransport(base_url=slow_server, auth=_Bearer(), max_attempts=1)
    elsewhere = slow_server.replace("127.0.0.1", "localhost")

    transport.request("GET", "/ping", kind="read", check=lambda r: None)
    transport.request("GET", f"{elsewhere}/ping", kind="read", check=lambda r: None)
    moved = transport.request("GET", "/moved", kind="read", check=lambda r: None)

    assert moved.status_code == 302  # not followed: the caller sees the redirect itself
    assert _SlowAnswers.authorizations == [
        ("127.0.0.1", "Bearer the-token"),
        ("localhost", None),
        ("127.0.0.1", "Bearer the-token"),
    ]


def test_no_answer_in_time_is_a_transient_timeout(slow_server: str) -> None:
    _SlowAnswers.delay = 1.0
    transport = HttpTransport(base_url=slow_server, timeout=0.2, max_attempts=1)

    with pytest.raises(TransportError) as caught:
        transport.request("GET", "/ping", kind="read", check=lambda r: None)

    assert caught.value.retryable and caught.value.code == "TIMEOUT"
    assert "did not answer GET /ping within 0.2 s" in str(caught.value)
    assert transport.calls_by_kind() == {"read": 1}


@pytest.mark.parametrize("base_url", ["htp://127.0.0.1:9", "http://"])
def test_a_base_url_that_is_not_one_is_a_permanent_error_sent_nowhere(base_url: str) -> None:
    transport = HttpTransport(base_url=base_url, max_attempts=5)

    with pytest.raises(TransportError) as caught:
        transport.request("GET", "/ping", kind="read", check=lambda r: None)

    assert caught.value.permanent and caught.value.code == "BAD_URL"
    assert "correct the connection's base URL" in str(caught.value)
    assert transport.calls_by_kind() == {}


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry(
    closing_server: str,
) -> None:
    transport = HttpTransport(base_url=closing_server, max_attempts=1)

    answers = []
    for _ in range(3):
        answers.append(transport.request("GET", "/ping", kind="read", check=lambda r: None).json())
        time.sleep(0.05)  # idle: the server's hang-up reaches the client

    assert answers == [{"ok": True}] * 3
    assert transport.calls_by_kind() == {"read": 3}
    assert len(_ClosesAfterEachAnswer.connections) == 3  # a new connection each time


def test_a_refused_connection_is_a_retryable_transport_error() -> None:
    transport = HttpTransport(base_url="http://127.0.0.1:9", max_attempts=1)

    with pytest.raises(TransportError) as caught:
        transport.request("GET", "/ping", kind="read", check=lambda r: None)

    assert caught.value.retryable and caught.value.code == "CONNECTION"
    assert "GET /ping: connection failed" in str(caught.value)


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with `cryptography`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert_path, key_path = _self_signed_certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JsonAnswers)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with _serving(server) as port:
        yield f"https://127.0.0.1:{port}", cert_path


def test_https_calls_verify_the_certificate_against_the_configured_bundle(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert_path = tls_server
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    unknown = HttpTransport(base_url=url, max_attempts=1)
    with pytest.raises(TransportError) as caught:
        unknown.request("GET", "/ping", kind="read", check=lambda r: None)
    assert "SSL" in str(caught.value) or "Certificate" in str(caught.value)

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    trusted = HttpTransport(base_url=url, max_attempts=1)
    for _ in range(2):  # the second call reuses the connection
        answer = trusted.request("GET", "/ping", kind="read", check=lambda r: None)
        assert answer.json() == {"ok": True}
    assert trusted.calls_by_kind() == {"read": 2}


def test_https_calls_to_another_host_verify_against_the_same_bundle(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert_path = tls_server
    elsewhere = url.replace("127.0.0.1", "localhost") + "/ping"  # not the base URL: urllib3
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    unknown = HttpTransport(base_url=url, max_attempts=1)
    with pytest.raises(TransportError):
        unknown.request("GET", elsewhere, kind="read", check=lambda r: None)

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    trusted = HttpTransport(base_url=url, max_attempts=1)
    answer = trusted.request("GET", elsewhere, kind="read", check=lambda r: None)
    assert answer.json() == {"ok": True}


def test_retry_after_given_as_an_http_date_is_honoured() -> None:
    from email.utils import formatdate

    from connectors.http import parse_retry_after

    wait = parse_retry_after(formatdate(time.time() + 30, usegmt=True))
    assert wait is not None and 28 <= wait <= 31
    assert parse_retry_after(formatdate(time.time() - 30, usegmt=True)) == 0.0
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("soon") is None
