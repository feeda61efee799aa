"""A concurrency limit that shrinks when the destination throttles and grows back slowly."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


class RunStopped(Exception):
    """The run must stop (its lease is lost, or its deadline passed), raised at a record
    boundary: that record was not sent. The run leaves it, and every record it did not reach,
    to the next run: its watermark does not move."""


class AdaptiveLimiter:
    """Never more than `limit` calls at once; after a 429 the allowance drops by one (not below
    one) and climbs back one step per `recover_after` successes, so a throttled account slows
    the writers down instead of failing accounts.

    With `stop` set, a call that waits for a slot once the run must stop is not sent: it
    raises RunStopped instead (the writers queued behind the slots are the records not sent
    yet)."""

    def __init__(self, limit: int, *, recover_after: int = 20) -> None:
        self.limit = max(1, limit)
        self.allowed = self.limit
        self.recover_after = recover_after
        self._in_use = 0
        self._successes = 0
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        self._urgent_cond = threading.Condition(lock)
        self._urgent_waiting = 0
        self._local = threading.local()
        self.throttles = 0
        self.peak = 0
        self.stop: Callable[[], bool] | None = None

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """This thread's calls take the next free slot ahead of the others waiting: for a
        record that others wait for (a parent), so the last of a run's calls are not a chain
        of children each a round trip after its parent while other slots stand idle."""
        self._local.urgent = True
        try:
            yield
        finally:
            self._local.urgent = False

    def __enter__(self) -> AdaptiveLimiter:
        with self._cond:
            if getattr(self._local, "urgent", False):
                self._urgent_waiting += 1
                try:
                    while self._in_use >= self.allowed:
                        self._urgent_cond.wait()
                finally:
                    self._urgent_waiting -= 1
            else:
                # A slot that an urgent call waits for is not free.
                while self._in_use + self._urgent_waiting >= self.allowed:
                    self._cond.wait()
            self._in_use += 1
            self.peak = max(self.peak, self._in_use)
        if self.stop is not None and self.stop():
            self.__exit__(RunStopped)
            raise RunStopped()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        with self._cond:
            self._in_use -= 1
            wake = 1
            if exc_type is None:
                self._successes += 1
                if self.allowed < self.limit and self._successes >= self.recover_after:
                    self.allowed += 1
                    self._successes = 0
                    wake = 2
            # One freed slot wakes one waiter: waking them all, hundreds of times a second,
            # costs the CPU (and the GIL) that the next request is waiting for.
            if self._urgent_waiting:
                self._urgent_cond.notify(min(wake, self._urgent_waiting))
            # Others only for the slots no urgent call waits for (one may have been woken by
            # an earlier release and not yet run).
            free = self.allowed - self._in_use - self._urgent_waiting
            if free > 0:
                self._cond.notify(min(wake, free))
        time.sleep(0)  # let the woken writer take the interpreter lock now: its slot is idle

    def throttled(self, retry_after: float | None = None) -> None:
        # The transport itself waits Retry-After before its next attempt.
        with self._cond:
            self.throttles += 1
            self._successes = 0
            self.allowed = max(1, self.allowed - 1)
