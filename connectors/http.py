"""All outbound HTTP of the connectors goes through HttpTransport: one requests.Session per
client, whose connection pool holds as many connections as the client makes calls at once.

Around requests it adds what a sync needs of every call: the timeouts, retries within a time
budget with exponential backoff and jitter that honour Retry-After, the check that a success
answer is readable, a circuit breaker, and the count of calls by kind. The credentials are
the session's `auth` (an OAuth 1.0a signature or a bearer token, see connectors/netsuite/auth.py
and connectors/zuora/client.py), and they only ever go to the base URL's host: redirects are
not followed, and a call to any other host is sent without them.
What counts as a failure is the vendor's business: each client passes a `check` function that
turns a response into an ApiError (or None when the response is a success).
"""

from __future__ import annotations

import http.cookiejar
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

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
    """No usable answer: timeout, dropped connection, refused connection (retryable), or a
    request that cannot be sent at all, such as a base URL that is not one (permanent)."""

    def __init__(self, message: str, *, code: str = "TRANSPORT", retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable, code=code)


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


CheckFn = Callable[[requests.Response], ApiError | None]
# What is wrong with a success answer, in a few words, or None when it is the expected one.
ExpectFn = Callable[[requests.Response], str | None]


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"a {type(value).__name__}"


def json_problem(response: requests.Response, kind: type) -> tuple[Any, str | None]:
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

    def expect(response: requests.Response) -> str | None:
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


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class _SameOriginOnly(AuthBase):
    """The credentials for calls to the base URL's scheme, host and port, and nothing for any
    other: a signature or a token never leaves for a host other than the one entered."""

    def __init__(self, auth: AuthBase, base_url: str) -> None:
        self._auth = auth
        self._origin = _origin(base_url)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return self._auth(request) if _origin(request.url or "") == self._origin else request


class _NoAuth(AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


# For the calls that get the credentials (a token request): they carry none of the session's.
NO_AUTH = _NoAuth()


class HttpTransport:
    """One requests.Session, timeouts, retries, and a thread-safe count of calls by kind.

    The session is shared by every thread of the client: urllib3's connection pool is
    thread-safe, and nothing else of the session changes once it is built (cookies are
    refused, so no answer changes what later calls send). One pool for all threads makes its
    size the number of connections: `pool_size` is the number of calls the client makes at
    once, so each call finds a kept-alive connection and none is opened only to be thrown
    away (a pool per thread would keep one for every thread that ever called).
    """

    def __init__(
        self,
        *,
        base_url: str,
        name: str = "",
        timeout: float = 30.0,
        connect_timeout: float | None = None,
        retry_budget: float = 90.0,
        max_attempts: int | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 15.0,
        pool_size: int = 10,
        user_agent: str = "syncadmin",
        auth: AuthBase | None = None,
        sleep: Callable[[float], None] | None = None,
        on_throttle: Callable[[float | None], None] | None = None,
        gate: AbstractContextManager[Any] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or self.base_url  # the system, in messages ("Zuora", "NetSuite")
        # (connect, read): an unreachable host is known in seconds, a busy one may be slower.
        self.timeout = timeout
        self.connect_timeout = connect_timeout or min(timeout, 10.0)
        # A transient failure is retried until the call has spent `retry_budget` seconds: a
        # fixed count of attempts gives up on a run of bad luck that a few more seconds would
        # have outlasted. `max_attempts` caps the attempts as well (tests, a connection check).
        self.retry_budget = retry_budget
        self.max_attempts = max(1, max_attempts) if max_attempts else None
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.pool_size = max(1, pool_size)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        if auth is not None:
            self.session.auth = _SameOriginOnly(auth, self.base_url)
        # Retries are ours (budget, Retry-After, breaker), never urllib3's.
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._base_settings = self._environment(self.base_url)  # proxy, CA bundle: read once
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep or self.breaker.wait
        self.on_throttle = on_throttle
        # Held only while a request is on the wire (never while it is built, signed or parsed,
        # nor during a backoff): a concurrency slot of the vendor is worth more than our CPU.
        self.gate = gate
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<HttpTransport {self.base_url}>"

    def _environment(self, url: str) -> dict[str, Any]:
        return self.session.merge_environment_settings(url, {}, None, None, None)

    def calls_by_kind(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1): exponential
        with jitter, capped, and never sooner than the server's Retry-After."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        wait = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after + random.uniform(0, self.backoff_base / 2))
        return wait

    def _send(self, request: requests.Request) -> requests.Response:
        """One attempt: prepared (and signed, with a fresh nonce or token) outside the gate,
        sent inside it. Raises requests' errors."""
        prepared = self.session.prepare_request(request)
        url = prepared.url or ""
        own = url.startswith(f"{self.base_url}/")
        settings = self._base_settings if own else self._environment(url)
        timeout = (self.connect_timeout, self.timeout)
        with self.gate or nullcontext():
            self.breaker.check()  # it may have opened while this call waited for a slot
            return self.session.send(prepared, timeout=timeout, allow_redirects=False, **settings)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] += 1

    def _failure(
        self, exc: requests.RequestException, kind: str, method: str, where: str
    ) -> ApiError:
        """The error for an attempt that got no answer, or could not be sent at all."""
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
            return TransportError(
                f"{self.name}: {method} {where}: {self.base_url} is not a usable URL "
                f"({type(exc).__name__}): correct the connection's base URL",
                code="BAD_URL",
                retryable=False,
            )
        self._count(kind)
        if not isinstance(exc, requests.Timeout):
            # requests wraps the socket's error: name the refusal, the common case to explain.
            cause = "ConnectionRefusedError" if "refused" in str(exc).lower() else None
            return TransportError(
                f"{self.name}: {method} {where}: connection failed ({cause or type(exc).__name__})",
                code="CONNECTION",
            )
        connecting = isinstance(exc, requests.ConnectTimeout)
        waited = self.connect_timeout if connecting else self.timeout
        error = TransportError(
            f"{self.name} did not {'accept a connection for' if connecting else 'answer'} "
            f"{method} {where} within {waited:g} s",
            code="TIMEOUT",
        )
        aborted = self.breaker.timed_out(
            f"{self.name} at {self.base_url} stopped answering ({method} {where} got no answer "
            f"within {waited:g} s, and so did the calls before it): check that {self.name} is "
            "up and reachable from this server, then run again."
        )
        return aborted or error

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
        auth: AuthBase | None = None,
        max_attempts: int | None = None,
        retry_if: Callable[[ApiError], bool] | None = None,
    ) -> requests.Response:
        """Send one logical call, retrying what can be retried; raise ApiError otherwise.

        `check` turns a failed answer into an ApiError; `expect` says what is wrong with a
        success answer that is not the one the call expects (BadAnswer). `retry_if` narrows
        which retryable errors this call may retry (a create without an idempotency key
        retries only what certainly was not carried out). `auth` replaces the session's for
        this call (NO_AUTH: none). Each attempt is signed anew, so a retry never reuses a
        token that just expired nor a signature's nonce.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        request = requests.Request(
            method, url, params=params, json=json, data=data, headers=headers, auth=auth
        )
        where = path.split("?", 1)[0]
        limit = max_attempts or self.max_attempts
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.breaker.check()
            try:
                response = self._send(request)
            except requests.RequestException as exc:
                error = self._failure(exc, kind, method, where)
                if isinstance(error, RunAborted):
                    raise error from exc
            else:
                self._count(kind)
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
            code = error.code or error.status
            logger.info("%s %s failed (%s), retry %d in %.2fs", method, where, code, attempt, wait)
            self._sleep(wait)
