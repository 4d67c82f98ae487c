"""Running cycles: once, or on a schedule, stopping cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

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


class CycleTotals:
    """What a run's summary needs of its cycles, added up as they end: constant memory
    however long the run (a long-running agent keeps no :class:`CycleState`)."""

    def __init__(self) -> None:
        self.cycles = 0
        self.intents = 0
        self.proposed = 0
        self.blocked = 0
        self.pending = 0
        self.approved = 0
        self.submitted = 0
        self.failed = 0
        self.fills = 0
        self.denials: dict[str, int] = {}
        self.last_account: CycleState | None = None
        """The last cycle that read the account (its ``account`` and ``positions``)."""

    def add(self, state: CycleState) -> None:
        """Count one ended cycle."""
        self.cycles += 1
        self.intents += len(state.intents)
        self.proposed += len(state.proposed)
        self.blocked += len(state.blocked)
        self.pending += len(state.pending)
        self.approved += len(state.approved)
        self.submitted += len(state.submitted)
        self.failed += len(state.failed)
        self.fills += state.fills
        for code, n in state.denials.items():
            self.denials[code] = self.denials.get(code, 0) + n
        if state.account is not None:
            self.last_account = state

    def unrealized(self) -> Decimal:
        last = self.last_account
        if last is None:
            return Decimal(0)
        return sum((p.unrealized_pnl for p in last.positions.values()), Decimal(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "intents": self.intents,
            "blocked": self.blocked,
            "pending": self.pending,
            "approved": self.approved,
            "submitted": self.submitted,
            "failed": self.failed,
            "fills": self.fills,
            "denials": dict(self.denials),
        }


def run_cycles(
    runtime: Runtime,
    *,
    every: float | None = None,
    cycles: int | None = 1,
    on_cycle: Callable[[CycleState], None] | None = None,
    keep: bool = True,
    totals: CycleTotals | None = None,
) -> list[CycleState]:
    """Run ``cycles`` cycles (``None``: until stopped or the data runs out), ``every``
    seconds apart (``None``: back to back). Returns every cycle's state; with
    ``keep=False`` none is kept (an empty list: memory stays flat however many cycles
    run) and ``totals`` (a :class:`CycleTotals`), when given, counts them instead."""
    done: list[CycleState] = []
    count = 0
    with stop_on_signals(runtime) as wake:
        runtime.start()
        while not runtime.stop_requested and (cycles is None or count < cycles):
            state = runtime.run_cycle()
            count += 1
            if keep:
                done.append(state)
            if totals is not None:
                totals.add(state)
            if on_cycle is not None:
                on_cycle(state)
            del state  # the next cycle must not keep this one alive
            if runtime.exhausted or runtime.feed_failure is not None:
                break
            if every and (cycles is None or count < cycles) and wake.wait(every):
                break
    return done
