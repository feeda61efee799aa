"""The transport keeps a connection per thread alive between calls: a server that closed it
while it was idle must cost neither an error nor a retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.http import HttpTransport, TransportError


class _ClosesAfterEachAnswer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # no "Connection: close": the client believes it kept alive
    connections: set[int] = set()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).connections.add(self.client_address[1])
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # and the server hangs up once the answer is out

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def closing_server() -> Iterator[str]:
    _ClosesAfterEachAnswer.connections = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosesAfterEachAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
