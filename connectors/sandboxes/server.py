"""The machinery both API sandboxes share: a threaded HTTP server with the vendor's
governance (latency, concurrency limit, rate limit), fault injection and a call log.

A sandbox subclasses SandboxServer, registers its routes with `route()` and implements
`throttled()` / `server_error()` in its vendor's shapes. Control endpoints under /_sandbox/
(config, calls, state) are never throttled, delayed or faulted, so tests and operators can
always inspect a sandbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.sandboxes.hooks import HookSender, HookSettings

logger = logging.getLogger(__name__)

# "garbage": the call is carried out, then answered 200 with a body the client cannot use (see
# GARBAGE_ANSWERS): what a proxy cutting an answer short, or a vendor bug, looks like. A write
# has landed although its answer says nothing usable.
FAULT_KINDS = ("429", "503", "html", "hang", "drop", "garbage")
GARBAGE_ANSWERS = ("truncated", "list", "object", "empty")


@dataclass
class SandboxConfig:
    """Knobs of a sandbox; every one can be changed at run time (POST /_sandbox/config)."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    concurrency_limit: int = 0  # requests in flight at once; one more gets a 429. 0 = none
    rate_limit_per_minute: int = 0  # 0 = none
    fault_rate: float = 0.0  # share of calls (0..1) that get one of `faults`
    faults: list[str] = field(default_factory=lambda: list(FAULT_KINDS))
    fault_paths: str = ""  # regex on the path: only matching calls are faulted ("" = all)
    fault_limit: int = 0  # faults injected at most, counted from the last config change; 0 = none
    garbage_answers: list[str] = field(default_factory=lambda: list(GARBAGE_ANSWERS))
    hang_seconds: float = 60.0
    retry_after_seconds: int = 1  # what 429 and 503 answers ask clients to wait
    random_seed: int = 7

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown sandbox setting {name!r}")
            if name in ("faults", "garbage_answers"):
                known_values = FAULT_KINDS if name == "faults" else GARBAGE_ANSWERS
                bad = [f for f in value if f not in known_values]
                if bad:
                    raise ValueError(f"unknown {name} {bad}; known: {known_values}")
                value = list(value)
            elif name == "fault_paths":
                re.compile(value)
            else:
                value = type(getattr(self, name))(value)
            setattr(self, name, value)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    url: str  # as the client addressed it: scheme://host/path?query
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern
    # When its request line arrived (monotonic): the configured latency counts from here.
    arrived: float = field(default_factory=time.monotonic)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # The whole HTTP answer, status line to body (see SandboxServer.frame).
    wire: bytes | None = field(default=None, repr=False)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


class DropConnection(Exception):
    """Raised by a handler to close the socket without answering."""


Handler = Callable[[Request], Response]

HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    "<h1>Bad Gateway</h1><p>The server encountered a temporary error.</p></body></html>"
)


class SandboxServer:
    name = "sandbox"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SandboxConfig | None = None,
        hook: HookSettings | None = None,
    ):
        self.config = config or SandboxConfig()
        # Change notifications after saves (Zuora callouts, NetSuite's user event script).
        self.hooks = HookSender(self.name, hook)
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self._lock = threading.Lock()
        self.state_lock = threading.RLock()  # guards the sandbox's data
        self._in_flight = 0
        self.peak_in_flight = 0
        self._recent: deque[float] = deque()
        self._rng = random.Random(self.config.random_seed)
        self.faults_injected = 0  # since the last config change (see fault_limit)
        self.calls: Counter[str] = Counter()  # by endpoint name
        self.faults_served: Counter[str] = Counter()  # by fault kind
        self.statuses: Counter[str] = Counter()  # "endpoint status"
        self.call_log: deque[dict[str, Any]] = deque(maxlen=5000)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._host, self._port = host, port
        self.route("GET", r"/_sandbox/config", "sandbox.config", self._get_config)
        self.route("POST", r"/_sandbox/config", "sandbox.config", self._set_config)
        self.route("GET", r"/_sandbox/calls", "sandbox.calls", self._get_calls)
        self.route("POST", r"/_sandbox/calls/reset", "sandbox.calls", self._reset_calls)
        self.route(
            "GET", r"/_sandbox/state", "sandbox.state", lambda r: Response(200, self.inspect())
        )
        self.route("GET", r"/_sandbox/hooks", "sandbox.hooks", self._get_hooks)
        self.route("POST", r"/_sandbox/hooks", "sandbox.hooks", self._set_hooks)
        self.route("POST", r"/_sandbox/hooks/reset", "sandbox.hooks", self._reset_hooks)

    # -- routing ----------------------------------------------------------------------------
    def route(self, method: str, pattern: str, endpoint: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), endpoint, handler))

    def _match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        path_seen = False
        for route_method, pattern, endpoint, handler in self._routes:
            found = pattern.match(path)
            if found:
                path_seen = True
                if route_method == method:
                    return endpoint, handler, found.groupdict()
        if path_seen:
            return "method_not_allowed", self._method_not_allowed, {}
        return None

    # -- vendor-shaped answers (override) -------------------------------------------------
    def throttled(self, reason: str, retry_after: int) -> Response:
        return Response(429, {"message": reason}, {"Retry-After": str(retry_after)})

    def server_error(self) -> Response:
        return Response(
            503,
            {"message": "Service Unavailable"},
            {"Retry-After": str(self.config.retry_after_seconds)},
        )

    def not_found(self, request: Request) -> Response:
        return Response(404, {"message": f"No route for {request.method} {request.path}"})

    def _method_not_allowed(self, request: Request) -> Response:
        return Response(405, {"message": f"{request.method} not allowed on {request.path}"})

    def inspect(self) -> dict[str, Any]:
        """A summary of the sandbox's data for GET /_sandbox/state; override."""
        return {}

    # -- control endpoints ----------------------------------------------------------------
    def _get_config(self, request: Request) -> Response:
        return Response(200, asdict(self.config))

    def _set_config(self, request: Request) -> Response:
        try:
            with self._lock:
                self.config.update(request.json() or {})
                self._rng = random.Random(self.config.random_seed)
                self.faults_injected = 0
        except (ValueError, TypeError, re.error) as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, asdict(self.config))

    def _get_calls(self, request: Request) -> Response:
        return Response(200, self.call_summary())

    def _reset_calls(self, request: Request) -> Response:
        self.reset_calls()
        return Response(200, self.call_summary())

    def _get_hooks(self, request: Request) -> Response:
        with_deliveries = (request.arg("deliveries") or "").lower() in ("1", "true")
        return Response(200, self.hooks.summary(with_deliveries=with_deliveries))

    def _set_hooks(self, request: Request) -> Response:
        try:
            self.hooks.configure(**(request.json() or {}))
        except (ValueError, TypeError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, self.hooks.summary())

    def _reset_hooks(self, request: Request) -> Response:
        self.hooks.reset()
        return Response(200, self.hooks.summary())

    def call_summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "by_endpoint": dict(self.calls),
                "by_status": dict(self.statuses),
                "peak_in_flight": self.peak_in_flight,
                "faults": dict(self.faults_served),
                "total": sum(v for k, v in self.calls.items() if not k.startswith("sandbox.")),
            }

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()
            self.statuses.clear()
            self.faults_served.clear()
            self.call_log.clear()
            self.peak_in_flight = 0

    def calls_to(self, endpoint: str) -> int:
        with self._lock:
            return self.calls.get(endpoint, 0)

    # -- governance ---------------------------------------------------------------------------
    def _admit(self) -> Response | None:
        """Take a concurrency slot, or answer 429. The caller releases it with _release()."""
        with self._lock:
            config = self.config
            if config.concurrency_limit and self._in_flight >= config.concurrency_limit:
                return self.throttled("concurrency limit exceeded", config.retry_after_seconds)
            if config.rate_limit_per_minute:
                now = time.monotonic()
                while self._recent and now - self._recent[0] > 60:
                    self._recent.popleft()
                if len(self._recent) >= config.rate_limit_per_minute:
                    wait = int(60 - (now - self._recent[0])) + 1
                    return self.throttled("rate limit exceeded", wait)
                self._recent.append(now)
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return None

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _pick_fault(self, path: str) -> str | None:
        config = self.config
        if config.fault_rate <= 0 or not config.faults:
            return None
        if config.fault_paths and not re.search(config.fault_paths, path):
            return None
        with self._lock:
            if config.fault_limit and self.faults_injected >= config.fault_limit:
                return None
            if self._rng.random() >= config.fault_rate:
                return None
            self.faults_injected += 1
            fault = self._rng.choice(config.faults)
            self.faults_served[fault] += 1
            return fault

    def _latency(self) -> float:
        config = self.config
        if config.latency_ms <= 0:
            return 0.0
        jitter = config.latency_jitter_ms
        with self._lock:
            extra = self._rng.uniform(-jitter, jitter) if jitter else 0.0
        return max(0.0, (config.latency_ms + extra) / 1000)

    def dispatch(self, request: Request) -> Response:
        """Route one request through governance, faults and latency. Raises DropConnection."""
        matched = self._match(request.method, request.path)
        endpoint = matched[0] if matched else "unknown"
        if endpoint.startswith("sandbox."):
            request.params = matched[2]  # type: ignore[index]
            response = matched[1](request)  # type: ignore[index]
        else:
            refusal = self._admit()
            if refusal is None:
                try:
                    return self._serve(request, matched, endpoint)
                finally:
                    # Released before the answer is written, so a client that sends its next
                    # request as soon as it reads this answer never finds the slot still taken.
                    self._release()
            response = refusal
        self._log_call(request, endpoint, response)
        return response

    def _log_call(self, request: Request, endpoint: str, response: Response) -> None:
        with self._lock:
            self.calls[endpoint] += 1
            self.statuses[f"{endpoint} {response.status}"] += 1
            self.call_log.append(
                {
                    "at": time.time(),
                    "method": request.method,
                    "path": request.path,
                    "endpoint": endpoint,
                    "status": response.status,
                }
            )

    def _serve(
        self, request: Request, matched: tuple[str, Handler, dict[str, str]] | None, endpoint: str
    ) -> Response:
        # The configured latency is the call's whole service time, from the arrival of its
        # request line to its answer: parsing the headers, our own handling (SQL, signature
        # checks) happen within it, as a vendor's do, instead of being added on top.
        answer_at = request.arrived + self._latency()
        fault = self._pick_fault(request.path)
        if fault in (None, "garbage") and matched is not None:
            _, handler, request.params = matched
            response = handler(request)
            if fault == "garbage":
                response = self._garble(response)
        else:
            _sleep_until(answer_at)
            response = self._fault(fault, request)
        # Framed and logged before the wait, not after it: what is left when the latency has
        # passed is one write, so the answer leaves on time rather than a millisecond or two
        # late (the first work after a sleep runs slowly on a virtual machine's idle core).
        self.frame(response)
        self._log_call(request, endpoint, response)
        _sleep_until(answer_at)
        return response

    def _fault(self, fault: str | None, request: Request) -> Response:
        if fault == "429":
            return self.throttled("injected throttle", self.config.retry_after_seconds)
        if fault == "503":
            return self.server_error()
        if fault == "html":
            return Response(502, HTML_ERROR_PAGE, content_type="text/html")
        if fault == "hang":
            time.sleep(self.config.hang_seconds)
            raise DropConnection()
        if fault == "drop":
            raise DropConnection()
        return self.not_found(request)

    def _garble(self, response: Response) -> Response:
        """A 200 in place of `response` whose body is cut short, of the wrong shape, or empty."""
        with self._lock:
            kind = self._rng.choice(self.config.garbage_answers or list(GARBAGE_ANSWERS))
        if kind == "truncated":
            whole = response.encode() or b'{"id": "1"}'
            return Response(200, whole[: max(1, len(whole) // 2)])
        if kind == "list":
            return Response(200, [])
        if kind == "object":
            return Response(200, {})
        return Response(200, b"")

    def frame(self, response: Response) -> bytes:
        """The whole HTTP/1.1 answer (kept on response.wire), written to the socket at once."""
        if response.wire is None:
            payload = response.encode()
            try:
                reason = HTTPStatus(response.status).phrase
            except ValueError:
                reason = ""
            lines = [
                f"HTTP/1.1 {response.status} {reason}",
                f"Server: {self.name}-sandbox",
                f"Date: {formatdate(usegmt=True)}",
            ]
            if payload or response.status != 204:
                lines.append(f"Content-Type: {response.content_type}; charset=utf-8")
            lines.append(f"Content-Length: {len(payload)}")
            lines.extend(f"{name}: {value}" for name, value in response.headers.items())
            head = "\r\n".join(lines) + "\r\n\r\n"
            response.wire = head.encode("latin-1", "strict") + payload
        return response.wire

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        """Serve in a background thread (port 0 picks a free port); returns self."""
        self._httpd = _Server((self._host, self._port), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll; keep tests quick
            name=f"{self.name}-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd = _Server((self._host, self._port), _make_handler(self))
        logger.info("%s sandbox listening on %s", self.name, self.url)
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        self.hooks.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# How long before its moment a long wait wakes up to sleep the rest: a 50 ms sleep overshoots
# by about 0.5 ms on a virtual machine, a 2 ms one by half that.
_WAKE_EARLY = 0.002


def _sleep_until(moment: float) -> None:
    remaining = moment - time.monotonic()
    if remaining > _WAKE_EARLY:
        time.sleep(remaining - _WAKE_EARLY)
        remaining = moment - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that dies (a sync run killed with kill -9) resets its connections: that
        # is the client's end, not an error of the sandbox worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("%s: connection reset by the client", client_address)
            return
        super().handle_error(request, client_address)


def _make_handler(sandbox: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # An answer goes out in one write, but the server's own errors (send_error) take two;
        # with Nagle on, keep-alive clients would wait ~40 ms for the delayed ACK on those.
        disable_nagle_algorithm = True
        server_version = f"{sandbox.name}-sandbox"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("%s %s", sandbox.name, format % args)

        def parse_request(self) -> bool:
            self.arrived = time.monotonic()  # the request line is in; the headers are next
            return super().parse_request()

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = (
                self.headers.get("Host")
                or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            )
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                url=f"http://{host}{self.path}",
                arrived=self.arrived,
            )
            try:
                response = sandbox.dispatch(request)
            except DropConnection:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            except Exception:  # a sandbox bug must still answer like a server would
                logger.exception(
                    "%s sandbox failed on %s %s", sandbox.name, self.command, self.path
                )
                response = sandbox.server_error()
                response.status = 500
            wire = sandbox.frame(response)
            self.log_request(response.status, len(wire))
            self.wfile.write(wire)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return _Handler
