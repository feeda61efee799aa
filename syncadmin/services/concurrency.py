"""A concurrency limit that shrinks when the destination throttles and grows back slowly."""

from __future__ import annotations

import threading


class AdaptiveLimiter:
    """Never more than `limit` calls at once; after a 429 the allowance drops by one (not below
    one) and climbs back one step per `recover_after` successes, so a throttled account slows
    the writers down instead of failing accounts."""

    def __init__(self, limit: int, *, recover_after: int = 20) -> None:
        self.limit = max(1, limit)
        self.allowed = self.limit
        self.recover_after = recover_after
        self._in_use = 0
        self._successes = 0
        self._cond = threading.Condition()
        self.throttles = 0
        self.peak = 0

    def __enter__(self) -> AdaptiveLimiter:
        with self._cond:
            while self._in_use >= self.allowed:
                self._cond.wait()
            self._in_use += 1
            self.peak = max(self.peak, self._in_use)
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
            self._cond.notify(wake)

    def throttled(self, retry_after: float | None = None) -> None:
        # The transport itself waits Retry-After before its next attempt.
        with self._cond:
            self.throttles += 1
            self._successes = 0
            self.allowed = max(1, self.allowed - 1)
