"""The interpreter settings a sync run uses, and that the process gets its own back."""

from __future__ import annotations

import gc
import sys
import threading

from syncadmin.services.concurrency import (
    RUN_GC_THRESHOLDS,
    RUN_SWITCH_INTERVAL,
    interpreter_tuned_for_calls,
)


def test_overlapping_runs_keep_the_tuning_until_the_last_one_ends_then_restore_it() -> None:
    saved = (sys.getswitchinterval(), gc.get_threshold())
    sys.setswitchinterval(0.004)
    gc.set_threshold(700, 10, 10)
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[tuple[float, tuple[int, int, int]]] = []

    def second_run() -> None:
        first_in.wait()
        with interpreter_tuned_for_calls():
            seen.append((sys.getswitchinterval(), gc.get_threshold()))
        second_done.set()

    try:
        worker = threading.Thread(target=second_run)
        worker.start()
        with interpreter_tuned_for_calls():
            first_in.set()
            second_done.wait(5)
            # The second run ended first: the first one still runs tuned.
            seen.append((sys.getswitchinterval(), gc.get_threshold()))
        worker.join(5)
        tuned = (RUN_SWITCH_INTERVAL, RUN_GC_THRESHOLDS)
        assert [(round(s, 6), t) for s, t in seen] == [tuned, tuned]
        assert round(sys.getswitchinterval(), 6) == 0.004
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        sys.setswitchinterval(saved[0])
        gc.set_threshold(*saved[1])
