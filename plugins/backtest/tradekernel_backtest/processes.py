"""The ``processes`` sweeper: a sweep's jobs in a pool of spawned processes on this machine.

At most ``workers`` processes (default: all cores), started once per sweep and reused: each
pays Python's start-up and the kernel's and plugins' imports once, not once per job.
Nothing a job changes in its process reaches the next job there: before every job the
worker puts back what it started with (:func:`_fresh`: the environment, the working
directory, ``sys.path``, the signal handlers, the warnings filters, the decimal context, the
random generator, loguru's configuration, its handlers removed). What stays is the imported
modules and what they memoise: a module keeping a per-run value in a global would carry it
over (a test checks that backtests change no module-level value of the kernel and the
installed plugins but the example plugin's per-process observer counts).

A process that dies mid-job (killed, out of memory) breaks the pool: the jobs it was running
are charged one attempt and run again, each alone in a new pool, so a job that kills its
worker every time is reported failed after :data:`ATTEMPTS` attempts and the others finish.
A worker whose sweep process is killed (SIGKILL) exits at once."""

from __future__ import annotations

import decimal
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import sys
import threading
import warnings
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
        initializer=_start_worker,
    )
    running: dict[Future[Any], int] = {}
    finished = False
    try:
        while batch or running:
            while batch and len(running) < size:
                i = batch.popleft()
                running[pool.submit(_run, fn, jobs[i])] = i
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


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_START: dict[str, Any] = {}
"""In a worker: what the process had when it started, put back before every job."""


def _start_worker() -> None:
    """In a worker, once: remember the fresh process's state, and exit as soon as the
    sweep's process is gone (SIGKILL) instead of waiting forever for work."""
    _START.update(
        environ=dict(os.environ),
        cwd=os.getcwd(),
        path=list(sys.path),
        decimal=decimal.getcontext().copy(),
        signals={sig: signal.getsignal(sig) for sig in _SIGNALS},
    )
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="tradekernel-sweep-parent", daemon=True).start()


def _run(fn: Callable[[Any], Any], job: Any) -> Any:
    """In a worker: run one job from the state the worker started with."""
    _fresh()
    with warnings.catch_warnings():  # the filters come back as they were
        return fn(job)


def _fresh() -> None:
    """Put back what a job may have changed in this process's global state."""
    if not _START:  # not a sweep's worker (nothing to put back)
        return
    if os.environ != _START["environ"]:
        os.environ.clear()
        os.environ.update(_START["environ"])
    try:
        moved = os.getcwd() != _START["cwd"]
    except OSError:  # removed by the job
        moved = True
    if moved:
        os.chdir(_START["cwd"])
    sys.path[:] = _START["path"]
    for sig, handler in _START["signals"].items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)
    decimal.setcontext(_START["decimal"].copy())
    random.seed()  # from the OS, as a fresh interpreter seeds it
    if "loguru" in sys.modules:
        _fresh_loguru()


def _fresh_loguru() -> None:
    """loguru as a fresh import leaves it, without its stderr handler (a worker says
    nothing on the terminal: the sweep reports): no extra, no patcher, every module
    enabled."""
    from loguru import logger

    logger.remove()
    logger.configure(extra={}, patcher=_unpatched, activation=[("", True)])


def _unpatched(record: Any) -> None:
    """loguru's patcher that changes nothing (``configure`` cannot set none back)."""


def processes_sweeper(config: Any, ctx: Any) -> ProcessSweeper:
    """The ``processes`` sweeper's factory (no configuration: ``--workers`` sizes it)."""
    return ProcessSweeper()
