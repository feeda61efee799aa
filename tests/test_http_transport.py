"""The transport's own connections: kept alive per thread between calls (a server that closed
one while it was idle costs neither an error nor a retry), and verified TLS."""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
