"""The ``dask`` sweeper: each job a Dask task, on a ``LocalCluster`` or an existing cluster.

The workers run the job function the ``processes`` sweeper runs, so the rows do not
depend on the engine. A worker that dies mid-job (killed, out of memory) is the
scheduler's to handle: the job runs again on another worker, and after
``distributed.scheduler.allowed-failures`` deaths (3 by default) it is reported failed
(``KilledWorker``), never dropped."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tradekernel.api import ConfigError, SweepResult, TradekernelError

from .config import DaskConfig


class DaskSweeper:
    """Runs a sweep's jobs on Dask (the ``dask`` sweeper)."""

    def __init__(self, config: DaskConfig | None = None) -> None:
        self.config = config or DaskConfig()

    def sweep(
        self, fn: Callable[[Any], Any], jobs: Sequence[Any], *, workers: int | None = None
    ) -> Iterator[SweepResult]:
        """See :class:`tradekernel.api.Sweeper`. ``workers`` sizes a ``LocalCluster``
        (``[sweeper.dask] workers`` first); an existing cluster keeps its own size."""
        if not jobs:
            return
        with _quiet():
            yield from self._sweep(fn, jobs, workers)

    def _sweep(
        self, fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int | None
    ) -> Iterator[SweepResult]:
        client, cluster = self._connect(workers, len(jobs))
        futures: list[Any] = []
        try:
            token = uuid.uuid4().hex[:12]
            futures = client.map(
                fn, list(jobs), key=[f"tradekernel-sweep-{token}-{i}" for i in range(len(jobs))]
            )
            index = {future.key: i for i, future in enumerate(futures)}
            from distributed import as_completed

            for future in as_completed(futures, loop=client.loop):
                i = index[future.key]
                try:
                    value = future.result()
                except Exception as exc:  # KilledWorker past the retries, a lost scheduler
                    yield SweepResult(i, error=self._failure(exc))
                else:
                    yield SweepResult(i, value=value)
                future.release()
        finally:
            if futures:
                client.cancel(futures)
            client.close()
            if cluster is not None:
                cluster.close()

    def _connect(self, workers: int | None, jobs: int) -> tuple[Any, Any]:
        import dask
        from distributed import Client, LocalCluster

        address = self.config.scheduler
        if address is not None:
            try:
                return Client(address, timeout=self.config.timeout, set_as_default=False), None
            except (OSError, TimeoutError) as exc:
                raise TradekernelError(
                    f"[sweeper.dask] scheduler {address}: unreachable within "
                    f"{self.config.timeout:g} s ({_one_line(exc)}); is the scheduler running?"
                ) from None
            except (TypeError, ValueError) as exc:  # what the address needs is not given
                raise ConfigError(
                    f"[sweeper.dask] scheduler {address}: cannot connect ({_one_line(exc)})"
                ) from None
        size = self.config.workers or workers or os.cpu_count() or 1
        # one job per worker at a time: a worker that dies takes only its own job's
        # attempt with it (the scheduler counts every job the worker held)
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
            cluster = LocalCluster(
                n_workers=max(1, min(size, jobs)),
                threads_per_worker=1,  # a backtest holds the GIL: processes, not threads
                processes=True,
                dashboard_address=None,
                # the scheduler always serves HTTP (default port 8787, with a warning when
                # busy): an ephemeral loopback port, no dashboard pages
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.CRITICAL,
            )
        try:
            return Client(cluster, set_as_default=False), cluster
        except BaseException:
            cluster.close()
            raise

    def _failure(self, exc: BaseException) -> str:
        """One line for a job the engine could not run, the same for every job that
        failed the same way (its task's name left out)."""
        where = self.config.scheduler or "the local cluster"
        if "cancelled" in type(exc).__name__.lower():
            return f"the scheduler ({where}) cancelled it or the connection to it was lost"
        return f"{type(exc).__name__}: {_TASK.sub('its task', _one_line(exc))}"


_TASK = re.compile(r"'?tradekernel-sweep-[0-9a-f]+-[0-9]+'?")
_LOGGERS = ("distributed", "tornado", "asyncio")


@contextmanager
def _quiet() -> Iterator[None]:
    """Dask's own loggers say nothing while a sweep runs (the sweep reports failures, one
    line each): no "Compute Failed" blocks, no tracebacks of a lost connection."""
    import distributed  # noqa: F401  (its loggers exist from here on)

    names = [
        name
        for name in [*logging.root.manager.loggerDict, *_LOGGERS]
        if name.split(".")[0] in _LOGGERS  # children too: distributed sets their levels
    ]
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in dict.fromkeys(names)]
    for log, _ in saved:
        log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for log, level in saved:
            log.setLevel(level)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
