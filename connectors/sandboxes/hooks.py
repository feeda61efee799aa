"""Change notifications a sandbox sends after a save, as the vendors do: Zuora's callout
notifications on account events and NetSuite's user event script (see
connectors/netsuite/suitescript/). The wire contract is connectors/webhooks.py.

Like the vendors' own, delivery is asynchronous: a save queues the call and answers at once;
background threads post it, and a call that fails (no answer, 429 or 5xx) is retried a few
times with growing pauses, as Zuora retries a failed callout up to 3 times. A 2xx or another
4xx answer is final: the receiver has decided. Every delivery, answer and failure is counted,
so tests and benchmarks can see what reached the receiver and what it said.

Switching hooks off (`enabled=False`) makes a sandbox drop its events, counted as dropped:
the "events lost" case the scheduled sync has to cover.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.webhooks import signed_headers

logger = logging.getLogger(__name__)

DELIVERY_LOG_SIZE = 20000
SENDER_THREADS = 4


@dataclass
class HookSettings:
    """Where and how a sandbox sends its change notifications. No url: no hooks."""

    url: str = ""
    secret: str = ""  # signs each call (X-Syncadmin-Signature)
    basic_user: str = ""  # HTTP Basic auth instead, for a Zuora tenant without custom headers
    basic_password: str = ""
    enabled: bool = True  # False: events are dropped (and counted), as if lost
    retries: int = 3  # after a failed first attempt
    retry_delay_seconds: float = 1.0  # before the first retry; doubled for each next one
    timeout_seconds: float = 10.0

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown hook setting(s) {unknown}; known: {sorted(known)}")
        changed = HookSettings(**{**self.__dict__, **values})
        changed.validate()
        self.__dict__.update(changed.__dict__)

    def validate(self) -> None:
        self.url = str(self.url or "")
        self.enabled = bool(self.enabled)
        self.retries = int(self.retries)
        self.retry_delay_seconds = float(self.retry_delay_seconds)
        self.timeout_seconds = float(self.timeout_seconds)
        if not self.url:
            return
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the hook URL must be http(s)://host/path, not {self.url!r}")
        if bool(self.basic_user) != bool(self.basic_password):
            raise ValueError("Basic auth needs both a user name and a password")
        if not self.secret and not self.basic_user:
            raise ValueError(
                "a hook needs a secret to sign its calls, or a Basic auth user and password"
            )
        if self.retries < 0 or self.retry_delay_seconds < 0 or self.timeout_seconds <= 0:
            raise ValueError("retries and retry_delay_seconds must be >= 0, timeout > 0")

    def public(self) -> dict[str, Any]:
        """The settings as a control endpoint shows them: whether secrets are set, not them."""
        return {
            "url": self.url,
            "signed": bool(self.secret),
            "basic_auth": bool(self.basic_user),
            "enabled": self.enabled,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "timeout_seconds": self.timeout_seconds,
        }


@dataclass
class Delivery:
    body: dict[str, Any]
    event_at: float  # time.time() of the save that fired it
    attempts: int = 0
    status: int | None = None  # the last answer's HTTP status; None: no answer
    outcome: str = "pending"  # delivered (2xx) | refused (other 4xx) | failed (gave up)
    answered_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class HookSender:
    """Queues and posts one sandbox's change notifications (see the module's docstring)."""

    def __init__(self, system: str, settings: HookSettings | None = None) -> None:
        self.system = system
        self.settings = settings or HookSettings()
        self.settings.validate()
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._stopping = False
        self._local = threading.local()
        self.counts: Counter[str] = Counter()  # events, dropped, attempts, retries, outcomes
        self.answers: Counter[str] = Counter()  # "202", "409", "503", "no answer"
        self.deliveries: deque[Delivery] = deque(maxlen=DELIVERY_LOG_SIZE)
        # Saves announced per record ("account A00000001", "customer 12"), dropped ones too:
        # on a sync's destination, that is the writes the sync made to each record.
        self.by_record: Counter[str] = Counter()

    # -- settings ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return bool(self.settings.url)

    def configure(self, **values: Any) -> None:
        with self._cond:
            self.settings.update(values)

    # -- sending ----------------------------------------------------------------------------
    def notify(self, body: dict[str, Any]) -> None:
        """Queue a call with this body; never raises, never waits for the receiver."""
        with self._cond:
            if not self.settings.url:
                return
            self.counts["events"] += 1
            self.by_record[_subject(body)] += 1
            if not self.settings.enabled:
                self.counts["dropped"] += 1
                return
            delivery = Delivery(body=dict(body), event_at=time.time())
            self.deliveries.append(delivery)
            self._push(time.monotonic(), delivery)
            if not self._threads:
                self._start_threads()

    def _push(self, due: float, delivery: Delivery) -> None:
        heapq.heappush(self._heap, (due, next(self._order), delivery))
        self._cond.notify()

    def _start_threads(self) -> None:
        self._stopping = False
        for number in range(SENDER_THREADS):
            thread = threading.Thread(
                target=self._work, name=f"{self.system}-hooks-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
                _, _, delivery = heapq.heappop(self._heap)
                self._busy += 1
                settings = HookSettings(**self.settings.__dict__)
            try:
                self._attempt(delivery, settings)
            except Exception:  # a sender bug must not kill the thread and stall the queue
                logger.exception("%s sandbox: a hook call could not be sent", self.system)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _attempt(self, delivery: Delivery, settings: HookSettings) -> None:
        data = json.dumps(delivery.body, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": f"{self.system}-sandbox"}
        if settings.secret:
            # Signed at each attempt: a retry is a new call with its own timestamp.
            headers.update(signed_headers(settings.secret, data))
        auth = (settings.basic_user, settings.basic_password) if settings.basic_user else None
        status: int | None = None
        try:
            response = self._session().post(
                settings.url,
                data=data,
                headers=headers,
                auth=auth,
                timeout=settings.timeout_seconds,
            )
            status = response.status_code
            problem = f"answered {status}"
        except requests.RequestException as exc:
            problem = f"got no answer ({type(exc).__name__})"
        with self._cond:
            delivery.attempts += 1
            delivery.status = status
            delivery.answered_at = time.time()
            self.counts["attempts"] += 1
            self.answers[str(status) if status is not None else "no answer"] += 1
            if status is not None and 200 <= status < 300:
                delivery.outcome = "delivered"
            elif status is not None and 400 <= status < 500 and status != 429:
                delivery.outcome = "refused"
            elif delivery.attempts <= settings.retries and not self._stopping:
                pause = settings.retry_delay_seconds * 2 ** (delivery.attempts - 1)
                self.counts["retries"] += 1
                self._push(time.monotonic() + pause, delivery)
                logger.warning(
                    "%s sandbox: the hook call for %s %s (attempt %d); retrying in %.1f s",
                    self.system,
                    _subject(delivery.body),
                    problem,
                    delivery.attempts,
                    pause,
                )
                return
            else:
                delivery.outcome = "failed"
            self.counts[delivery.outcome] += 1
        if delivery.outcome == "failed":
            logger.warning(
                "%s sandbox: gave up on the hook call for %s: it %s after %d attempts",
                self.system,
                _subject(delivery.body),
                problem,
                delivery.attempts,
            )
        elif delivery.outcome == "refused":
            # Expected now and then (409 from the hook of the system that is not the master).
            logger.debug(
                "%s sandbox: the receiver refused the hook call for %s: %s",
                self.system,
                _subject(delivery.body),
                problem,
            )

    # -- inspection -------------------------------------------------------------------------
    def summary(self, *, with_deliveries: bool = False) -> dict[str, Any]:
        with self._cond:
            out: dict[str, Any] = {
                "settings": self.settings.public(),
                "counts": dict(self.counts),
                "answers": dict(self.answers),
                "pending": len(self._heap) + self._busy,
            }
            if with_deliveries:
                out["deliveries"] = [d.as_dict() for d in self.deliveries]
                out["by_record"] = dict(self.by_record)
        return out

    def reset(self) -> None:
        """Forget the counts and the delivery log (calls still queued are still sent)."""
        with self._cond:
            self.counts.clear()
            self.answers.clear()
            self.deliveries.clear()
            self.by_record.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no call is queued or being sent (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self) -> None:
        """Stop the sending threads; calls still queued are dropped."""
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=2)


def _subject(body: dict[str, Any]) -> str:
    if "accountNumber" in body:
        return f"account {body.get('accountNumber')}"
    return f"{body.get('recordType', 'record')} {body.get('id')}"
