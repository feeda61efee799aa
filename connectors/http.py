"""All outbound HTTP of the connectors goes through HttpTransport.

It owns the connections of a client, the timeout on every call, retries within a time
budget with exponential backoff and jitter that honour Retry-After, the check that a success
answer is readable, a circuit breaker, and the count of calls by kind.
The transport encodes each request itself (query string, JSON or form body); a client passes
an `authorize` function for its credentials (a bearer token, or an OAuth 1.0a signature
through oauthlib, see connectors/netsuite/auth.py). Calls to the client's base URL go out on
a kept-alive http.client connection of the calling thread; through a proxy, and to any other
URL, urllib3 sends them, with the same TLS settings. At a few hundred calls a second the
client is CPU-bound, and every millisecond of CPU a call spends is interpreter time the
threads holding NetSuite slots wait for: requests' preparing and sending paths, then
urllib3's pool, each cost more CPU than the rest of a call.
What counts as a failure is the vendor's business: each client passes a `check` function that
turns a response into an ApiError (or None when the response is a success).
"""

from __future__ import annotations

import functools
import http.client
import json as jsonlib
import logging
import math
import os
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.wait import wait_for_read

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A call that did not succeed. `retryable` says whether trying again later can help.

    Messages never carry credentials: they are built from the vendor's error text and the
    request's method and path only.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return not self.retryable

    def __reduce__(self):  # keep pickling (django-q, multiprocessing) working with kw-only args
        return (_rebuild_error, (type(self), self.__dict__.copy()))


def _rebuild_error(cls: type[ApiError], state: dict[str, Any]) -> ApiError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class TransportError(ApiError):
    """No usable answer: timeout, dropped connection, refused connection. Always retryable."""

    def __init__(self, message: str, *, code: str = "TRANSPORT") -> None:
        super().__init__(message, retryable=True, code=code)


class BadAnswer(TransportError):
    """A success status with a body that is not the answer the call expects: truncated or
    garbled JSON, the wrong shape, an empty body, a created record without its id. Like a
    dropped connection, the call may or may not have been carried out: it is retried only
    where a second try cannot duplicate anything (reads, tokens, idempotent writes)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="BAD_ANSWER")


class RunAborted(ApiError):
    """Not one account's failure but the whole run's: credentials refused, or a system that
    stopped answering. The engines let it through their per-account handlers, so the run
    stops at once with this one message, and the records it did not reach stay due."""

    def __init__(
        self, message: str, *, code: str, retryable: bool = True, status: int | None = None
    ) -> None:
        super().__init__(message, retryable=retryable, code=code, status=status)


class CircuitBreaker:
    """Stops a run early when a system is out, instead of failing it account by account.

    It opens on refused credentials (the clients say so, after one refresh), on
    `failures_to_open` calls in a row that failed on a transient error after all their
    retries, or on `timeouts_to_open` attempts in a row that got no answer in time (a hung
    system would otherwise cost every account its timeouts). Any answer the system gives,
    even an error about one record, closes the count again. Once open, every call of the
    clients sharing it fails at once, without going out, with the same message. One breaker
    serves both clients of a run.
    """

    def __init__(self, *, failures_to_open: int = 5, timeouts_to_open: int = 5) -> None:
        self.failures_to_open = failures_to_open
        self.timeouts_to_open = timeouts_to_open
        self._lock = threading.Lock()
        self._failures = 0
        self._timeouts = 0
        self._opened = threading.Event()
        self.error: RunAborted | None = None

    @property
    def is_open(self) -> bool:
        return self.error is not None

    def check(self) -> None:
        """Raise the run's RunAborted if the breaker is open (a new instance per raise: the
        threads of a run may raise it at the same time)."""
        error = self.error
        if error is not None:
            raise RunAborted(
                error.message,
                code=error.code or "",
                retryable=error.retryable,
                status=error.status,
            )

    def open(self, error: RunAborted) -> RunAborted:
        """Open with `error`, unless already open; the error to raise either way."""
        with self._lock:
            if self.error is None:
                self.error = error
                logger.warning("circuit breaker open: %s", error.message)
            self._opened.set()
            return self.error

    def answered(self) -> None:
        if self._failures or self._timeouts:  # the lock only when there is a count to clear
            with self._lock:
                self._failures = self._timeouts = 0

    def timed_out(self, message: str) -> RunAborted | None:
        """Count an attempt that got no answer; the error to raise if that opens the breaker
        (`message` says what happened and what to check)."""
        with self._lock:
            self._timeouts += 1
            tripped = self._timeouts >= self.timeouts_to_open
        return self.open(RunAborted(message, code="NO_ANSWER")) if tripped else None

    def gave_up(self, message: str) -> RunAborted | None:
        """Count a call that failed on a transient error after its retries."""
        with self._lock:
            self._failures += 1
            tripped = self._failures >= self.failures_to_open
        return self.open(RunAborted(message, code="UNAVAILABLE")) if tripped else None

    def wait(self, seconds: float) -> None:
        """Sleep before a retry, but wake as soon as the breaker opens."""
        self._opened.wait(seconds)


class SentRequest:
    """What an error message may say of the request an answer is for: method and URL (the
    names are requests.PreparedRequest's). Never its headers: they carry the credentials."""

    __slots__ = ("method", "url")

    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url

    @property
    def path_url(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.path or '/'}{'?' + parts.query if parts.query else ''}"


# (method, url) -> the headers that authorize that request: a bearer token, or an OAuth 1.0a
# signature (which covers the method and the URL)
AuthorizeFn = Callable[[str, str], Mapping[str, str]]


class HttpResponse:
    """What a check function and a client read of an answer (the subset of requests.Response
    they use, with the same names)."""

    __slots__ = ("status_code", "headers", "content", "request", "_json")

    def __init__(
        self, status_code: int, headers: Any, content: bytes, request: SentRequest
    ) -> None:
        self.status_code = status_code
        self.headers = headers  # case-insensitive .get(), like requests'
        self.content = content
        self.request = request
        self._json: Any = _UNPARSED

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The decoded body, decoded once (the check, the shape check and the client all
        read it). Raises ValueError for a body that is not JSON, an empty one included."""
        if self._json is _UNPARSED:
            self._json = jsonlib.loads(self.content)
        return self._json


_UNPARSED = object()
CheckFn = Callable[[HttpResponse], ApiError | None]
# What is wrong with a success answer, in a few words, or None when it is the expected one.
ExpectFn = Callable[[HttpResponse], str | None]


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"a {type(value).__name__}"


def json_problem(response: HttpResponse, kind: type) -> tuple[Any, str | None]:
    """(body, None) when the body is JSON of `kind` (dict or list), else (None, the problem)."""
    if not response.content.strip():
        return None, "the body is empty"
    try:
        body = response.json()
    except ValueError:
        return None, "the body is not valid JSON (cut short or garbled)"
    if not isinstance(body, kind):
        wanted = "an object" if kind is dict else "a list"
        return None, f"{wanted} was expected, not {_kind_of(body)}"
    return body, None


def expect_json(
    kind: type = dict, *, lists: tuple[str, ...] = (), ids: tuple[str, ...] = ()
) -> ExpectFn:
    """An `expect` for a JSON answer of `kind`; for an object, each key of `lists` holds a
    list of objects and each key of `ids` a non-empty id."""

    def expect(response: HttpResponse) -> str | None:
        body, problem = json_problem(response, kind)
        if problem is not None:
            return problem
        for key in lists:
            items = body.get(key)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                return f"no list of records under {key!r}"
        for key in ids:
            value = body.get(key)
            if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
                return f"no {key!r} in the answer"
        return None

    return expect


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None or moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


@functools.lru_cache(maxsize=4)
def _tls_context(bundle: str | None) -> ssl.SSLContext:
    """Certificate-verifying TLS settings, by CA bundle: loading the system's certificates
    takes tens of milliseconds, so a process does it once, not once per client."""
    if bundle and os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle or None)


class HttpTransport:
    """Kept-alive connections, timeouts, retries, and a thread-safe count of calls by kind."""

    def __init__(
        self,
        *,
        base_url: str,
        name: str = "",
        timeout: float = 30.0,
        retry_budget: float = 90.0,
        max_attempts: int | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 15.0,
        pool_size: int = 32,
        user_agent: str = "syncadmin",
        sleep: Callable[[float], None] | None = None,
        on_throttle: Callable[[float | None], None] | None = None,
        gate: AbstractContextManager[Any] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or self.base_url  # the system, in messages ("Zuora", "NetSuite")
        self.timeout = timeout
        # A transient failure (throttling, an outage, a dropped or garbled answer) is retried
        # until the call has spent this many seconds: a fixed count of attempts gives up on a
        # run of bad luck that a few more seconds would have outlasted. `max_attempts` caps
        # the attempts as well, when given (tests, a connection check).
        self.retry_budget = retry_budget
        self.max_attempts = max(1, max_attempts) if max_attempts else None
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.user_agent = user_agent
        self._bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        # The proxy settings of the environment are read once, for this base URL.
        proxies = requests.utils.get_environ_proxies(self.base_url)
        self._proxy = proxies.get(self.base_url.split(":", 1)[0]) or proxies.get("all")
        self._pool_size = pool_size
        self._manager: urllib3.PoolManager | None = None
        self._manager_lock = threading.Lock()
        # Calls to the base URL go out on a connection of the calling thread (http.client,
        # kept alive): urllib3's pool checks, wrappers and retries objects cost as much CPU as
        # the rest of the call, and every thread switch they add is interpreter time a thread
        # holding a NetSuite slot waits for (a run of 2,000 NetSuite → Zuora accounts went
        # from 8.5 s to 6.5 s of CPU). Through a proxy, and for any other URL, urllib3 sends.
        self._base = urlsplit(self.base_url)
        self._origin = f"{self._base.scheme}://{self._base.netloc}/"
        self._direct = not self._proxy and self._base.scheme in ("http", "https")
        self._local = threading.local()
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep
        self.on_throttle = on_throttle
        # Held only while a request is on the wire (never while it is built, signed or parsed,
        # nor during a backoff): a concurrency slot of the vendor is worth more than our CPU.
        self.gate = gate
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled = 0

    def __repr__(self) -> str:
        return f"<HttpTransport {self.base_url}>"

    # -- counters ---------------------------------------------------------------------------
    def _count(self, kind: str, *, throttled: bool = False) -> None:
        with self._lock:
            self.calls[kind] += 1
            if throttled:
                self.throttled += 1

    def calls_by_kind(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
            self.throttled = 0

    # -- calls ------------------------------------------------------------------------------
    def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Any, bytes]:
        """Status, headers and body of one attempt. Raises TimeoutError, OSError or
        http.client.HTTPException (direct), or urllib3's errors (through urllib3)."""
        if not (self._direct and url.startswith(self._origin)):
            answer = self._pool().urlopen(
                method,
                url,
                body=body,
                headers=headers,
                timeout=self.timeout,
                retries=False,
                redirect=False,
            )
            return answer.status, answer.headers, answer.data
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        elif connection.sock is not None and wait_for_read(connection.sock, timeout=0.0):
            connection.close()  # closed by the server while idle: it reconnects below
        try:
            connection.request(method, url[len(self._origin) - 1 :], body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        except BaseException:
            connection.close()  # never reuse a connection in an unknown state
            raise

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self._base.hostname or "", self._base.port
        if self._base.scheme == "https":
            context = _tls_context(self._bundle)
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _pool(self) -> urllib3.PoolManager:
        """urllib3, for a proxy and for URLs other than the base URL's, made on first use
        with the same TLS settings as the direct connections."""
        with self._manager_lock:
            if self._manager is None:
                options: dict[str, Any] = {"num_pools": 4, "maxsize": self._pool_size}
                options["ssl_context"] = _tls_context(self._bundle)
                self._manager = (
                    urllib3.ProxyManager(self._proxy, **options)
                    if self._proxy
                    else urllib3.PoolManager(**options)
                )
            return self._manager

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1): exponential
        with jitter, capped, and never sooner than the server's Retry-After."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        wait = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after + random.uniform(0, self.backoff_base / 2))
        return wait

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self.breaker.wait(seconds)

    def request(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        check: CheckFn,
        expect: ExpectFn | None = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        authorize: AuthorizeFn | None = None,
        max_attempts: int | None = None,
        retry_if: Callable[[ApiError], bool] | None = None,
    ) -> HttpResponse:
        """Send one logical call, retrying what can be retried; raise ApiError otherwise.

        `check` turns a failed answer into an ApiError; `expect` says what is wrong with a
        success answer that is not the one the call expects (BadAnswer). `retry_if` narrows
        which retryable errors this call may retry (a create without an idempotency key
        retries only what certainly was not carried out). `authorize` is called before every
        attempt with the method and the whole URL and returns the credential headers, so a
        retry never reuses a token that just expired nor a signature's nonce. Only a form body
        is part of an OAuth 1.0a signature, and the clients that sign send JSON.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        if params:
            query = urlencode(list(params.items()) if isinstance(params, Mapping) else params)
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        base_headers = {"User-Agent": self.user_agent}
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode("utf-8")
            base_headers["Content-Type"] = "application/json"
        elif data is not None:
            encoded = urlencode(data) if isinstance(data, Mapping) else data
            body = encoded.encode("utf-8") if isinstance(encoded, str) else encoded
            base_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if body is not None or method not in ("GET", "HEAD"):
            base_headers["Content-Length"] = str(len(body or b""))
        sent = SentRequest(method, url)
        where = path.split("?", 1)[0]
        limit = max_attempts or self.max_attempts
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.breaker.check()
            call_headers = {**base_headers, **(headers or {})}
            if authorize is not None:
                call_headers.update(authorize(method, url))
            error: ApiError | None
            try:
                with self.gate or nullcontext():
                    self.breaker.check()  # it may have opened while this call waited for a slot
                    status, answer_headers, content = self._send(method, url, body, call_headers)
                response = HttpResponse(status, answer_headers, content, sent)
            except (Urllib3Timeout, TimeoutError):
                self._count(kind)
                error = TransportError(
                    f"{self.name} did not answer {method} {where} within {self.timeout:g} s",
                    code="TIMEOUT",
                )
                aborted = self.breaker.timed_out(
                    f"{self.name} at {self.base_url} stopped answering ({method} {where} got "
                    f"no answer within {self.timeout:g} s, and so did the calls before it): "
                    f"check that {self.name} is up and reachable from this server, then run "
                    "again."
                )
                if aborted is not None:
                    raise aborted from error
            except (Urllib3Error, OSError, http.client.HTTPException) as exc:
                self._count(kind)
                error = TransportError(
                    f"{self.name}: {method} {where}: connection failed ({type(exc).__name__})",
                    code="CONNECTION",
                )
            else:
                self._count(kind, throttled=response.status_code == 429)
                error = check(response)
                if error is None:
                    problem = expect(response) if expect is not None else None
                    if problem is None:
                        self.breaker.answered()
                        return response
                    error = BadAnswer(
                        f"{self.name} sent an unreadable answer to {method} {where} "
                        f"(HTTP {response.status_code}: {problem})"
                    )
                elif not error.retryable:
                    self.breaker.answered()  # it answered: a refusal of one record
                if response.status_code == 429 and self.on_throttle is not None:
                    self.on_throttle(error.retry_after)
            if not error.retryable:
                raise error
            wait = self.backoff(attempt, error.retry_after)
            spent = time.monotonic() - started
            if (
                (retry_if is not None and not retry_if(error))
                or (limit is not None and attempt >= limit)
                or spent + wait > self.retry_budget
            ):
                if attempt > 1:
                    error.message = (
                        f"{error.message} (gave up after {attempt} attempts in {spent:.0f} s)"
                    )
                    error.args = (error.message,)
                aborted = self.breaker.gave_up(
                    f"{self.name} at {self.base_url} failed several calls in a row, each after "
                    f"its retries (the last: {error.message}): check that {self.name} is up "
                    "and reachable from this server, then run again."
                )
                if aborted is not None:
                    raise aborted from error
                raise error
            logger.info(
                "%s %s failed (%s), retry %d in %.2fs",
                method,
                path,
                error.code or error.status,
                attempt,
                wait,
            )
            self._wait(wait)
