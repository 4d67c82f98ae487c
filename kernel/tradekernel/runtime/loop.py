"""Running cycles: once, or on a schedule, stopping cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .runtime import Runtime
from .state import CycleState


@contextmanager
def stop_on_signals(runtime: Runtime) -> Iterator[threading.Event]:
    """While inside, SIGINT and SIGTERM ask the runtime to stop after the current node."""
    wake = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        runtime.request_stop()
        wake.set()

    if threading.current_thread() is not threading.main_thread():
        yield wake
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield wake
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_cycles(
    runtime: Runtime,
    *,
    every: float | None = None,
    cycles: int | None = 1,
    on_cycle: Callable[[CycleState], None] | None = None,
) -> list[CycleState]:
    """Run ``cycles`` cycles (``None``: until stopped or the data runs out), ``every``
    seconds apart (``None``: back to back). Returns every cycle's state."""
    done: list[CycleState] = []
    with stop_on_signals(runtime) as wake:
        runtime.start()
        while not runtime.stop_requested and (cycles is None or len(done) < cycles):
            state = runtime.run_cycle()
            done.append(state)
            if on_cycle is not None:
                on_cycle(state)
            if runtime.exhausted or runtime.feed_failure is not None:
                break
            if every and (cycles is None or len(done) < cycles) and wake.wait(every):
                break
    return done
