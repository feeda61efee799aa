"""The NetSuite slots: who gets the next free one."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from syncadmin.services.concurrency import AdaptiveLimiter


def _priority(limiter: AdaptiveLimiter, *, urgent: bool) -> contextlib.AbstractContextManager:
    """A parent's call (urgent: served first) or a leaf's."""
    return limiter.urgent() if urgent else contextlib.nullcontext()


def _call(limiter: AdaptiveLimiter, name: str, order: list[str], *, urgent: bool) -> None:
    with _priority(limiter, urgent=urgent), limiter:
        order.append(name)


def _start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def _until(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the waiters never queued"
        time.sleep(0.005)


def test_a_parent_takes_the_next_free_slot_before_leaves_that_waited_longer() -> None:
    limiter = AdaptiveLimiter(1)
    order: list[str] = []
    limiter.__enter__()  # the only slot is on the wire
    leaves = [
        _start(lambda n=n: _call(limiter, f"leaf {n}", order, urgent=False)) for n in range(3)
    ]
    _until(lambda: len(limiter._cond._waiters) == 3)  # type: ignore[attr-defined]
    parent = _start(lambda: _call(limiter, "parent", order, urgent=True))
    _until(lambda: limiter._urgent_waiting == 1)

    limiter.__exit__(None, None, None)
    for thread in [parent, *leaves]:
        thread.join(5)

    assert order[0] == "parent"
    assert sorted(order[1:]) == ["leaf 0", "leaf 1", "leaf 2"]


def test_a_parent_woken_but_not_yet_running_never_keeps_a_second_free_slot_from_a_leaf() -> None:
    limiter = AdaptiveLimiter(3)
    inside: list[str] = []
    leave = threading.Event()

    def hold(name: str, *, urgent: bool) -> None:
        with _priority(limiter, urgent=urgent), limiter:
            inside.append(name)
            leave.wait(30)

    for _ in range(3):
        limiter.__enter__()  # every slot on the wire
    parent = _start(lambda: hold("parent", urgent=True))
    _until(lambda: limiter._urgent_waiting == 1)
    leaf = _start(lambda: hold("leaf", urgent=False))
    _until(lambda: len(limiter._cond._waiters) == 1)  # type: ignore[attr-defined]

    with limiter._cond:  # two slots free before the woken parent can run
        limiter.__exit__(None, None, None)
        limiter.__exit__(None, None, None)
    try:
        _until(lambda: len(inside) == 2, seconds=2)
        assert sorted(inside) == ["leaf", "parent"]
    finally:
        leave.set()
        parent.join(5)
        leaf.join(5)
