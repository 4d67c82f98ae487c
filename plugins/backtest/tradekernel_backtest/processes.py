"""The ``processes`` sweeper: a sweep's jobs in a pool of spawned processes on this machine.

Each job runs in a fresh process (``max_tasks_per_child=1``: no state leaks from one
combination to the next); at most ``workers`` at once (default: all cores). A process that
dies mid-job (killed, out of memory) breaks the pool: the jobs it was running are charged
one attempt and run again, each alone, so a job that kills its worker every time is
reported failed after :data:`ATTEMPTS` attempts and the others finish. A worker whose
sweep process is killed (SIGKILL) exits at once."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tradekernel.api import SweepResult

ATTEMPTS = 3
"""Attempts of a job whose worker process dies before the job is reported failed."""


class ProcessSweeper:
    """Runs a sweep's jobs in spawned processes (the ``processes`` sweeper)."""

    def sweep(
        self, fn: Callable[[Any], Any], jobs: Sequence[Any], *, workers: int | None = None
    ) -> Iterator[SweepResult]:
        """See :class:`tradekernel.api.Sweeper`."""
        width = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
        fresh: deque[int] = deque(range(len(jobs)))
        suspects: deque[int] = deque()
        attempts: Counter[int] = Counter()
        while fresh or suspects:
            if suspects:  # alone, so a job that kills its worker takes no other job down
                batch, size = deque([suspects.popleft()]), 1
            else:
                batch, size = fresh, width
            broken: list[int] = []
            yield from _round(fn, jobs, batch, size, broken)
            for i in broken:
                attempts[i] += 1
                if attempts[i] >= ATTEMPTS:
                    yield SweepResult(
                        i, error=f"its worker process died {attempts[i]} times (killed?)"
                    )
                else:
                    suspects.append(i)


def _round(
    fn: Callable[[Any], Any], jobs: Sequence[Any], batch: deque[int], size: int, broken: list[int]
) -> Iterator[SweepResult]:
    """Run jobs of ``batch`` (taken from its left) on one pool of ``size`` processes, at
    most ``size`` at once, until it is empty or the pool breaks; the jobs the broken pool
    held go to ``broken``."""
    pool = ProcessPoolExecutor(
        max_workers=size,
        # spawn: no forked threads or open SQLite handles in the workers
        mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=1,
        initializer=_exit_with_parent,
    )
    running: dict[Future[Any], int] = {}
    finished = False
    try:
        while batch or running:
            while batch and len(running) < size:
                i = batch.popleft()
                running[pool.submit(fn, jobs[i])] = i
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                done, _ = wait(running)  # the pool is gone: every job it held ends now
            for future in done:
                i = running.pop(future)
                exc = future.exception()
                if isinstance(exc, BrokenProcessPool):
                    broken.append(i)
                elif exc is not None:
                    text = " ".join(str(exc).split())  # one line, as the other sweepers
                    yield SweepResult(i, error=f"{type(exc).__name__}: {text}")
                else:
                    yield SweepResult(i, value=future.result())
            if broken:
                break
        finished = True
    finally:
        if not finished:  # interrupted: stop the jobs still running, now
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _exit_with_parent() -> None:
    """In a worker: exit as soon as the sweep's process is gone (SIGKILL), instead of
    waiting forever for work that will never come."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="tradekernel-sweep-parent", daemon=True).start()


def processes_sweeper(config: Any, ctx: Any) -> ProcessSweeper:
    """The ``processes`` sweeper's factory (no configuration: ``--workers`` sizes it)."""
    return ProcessSweeper()
