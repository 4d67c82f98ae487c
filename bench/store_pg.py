"""Benchmark: the postgres store against the SQLite store.

* CAS transitions per second (approved -> executing -> submitted, one transaction and one
  journal row each), PostgreSQL (``READ COMMITTED`` under the store's advisory lock, the
  chosen isolation) against SQLite; and the same on PostgreSQL with ``SERIALIZABLE``.
* Journal appends per second with 8 concurrent writer processes (each sets its own
  control, one journal row per transaction), PostgreSQL against SQLite.

Median and min of ``REPEATS`` runs. The server is a throwaway cluster started the way the
test fixture starts it (``tradekernel_postgres.testing.start_server``: fsync off), on one
machine, over a Unix socket; the SQLite store is opened with ``durable=False``
(``synchronous=OFF``). Neither flushes to disk: on a shared machine the disk's flush time
swings by 10x from one minute to the next and would drown what differs between the
stores (their statements, round trips and locks). Without PostgreSQL the rows are
skipped with the reason.
"""

from __future__ import annotations

import importlib
import multiprocessing
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .store import cas_rate

REPEATS = 5
N = 200  # intents per CAS run: 400 transitions
WRITERS = 8
APPENDS = 60  # per writer
CTX = multiprocessing.get_context("fork")


def _settings(state_dir: Path, url: str | None) -> Any:
    from tradekernel.settings import ComponentSelection, KernelSettings, Settings, StoreSettings

    return Settings(
        kernel=KernelSettings(state_dir=state_dir),
        components=ComponentSelection(store="postgres" if url else "sqlite"),
        store=StoreSettings(url=url),
    )


def _open(state_dir: Path, url: str | None, isolation: str = "read committed") -> Any:
    if url is None:
        from tradekernel.store import Store

        return Store.open(state_dir, durable=False)
    from tradekernel_postgres.store import open_postgres

    return open_postgres(_settings(state_dir, url), isolation=isolation)


def _cas_rate(state_dir: Path, url: str | None, isolation: str = "read committed") -> float:
    with _open(state_dir, url, isolation) as store:
        return cas_rate(store, N)


def _writer(state_dir: Path, url: str | None, k: int, go: Any, done: Any) -> None:
    with _open(state_dir, url) as store:
        go.wait()
        for i in range(APPENDS):
            store.set_control(f"bench_w{k}", i, actor="bench")
    done.put(k)


def race(writer: Callable[..., None], args: list[tuple]) -> float:
    """Seconds until every process ``writer(*a, go, done)``, one per ``a`` in ``args``, has
    put to ``done``, timed from ``go``: set once all are started and waiting."""
    go, done = CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=writer, args=(*a, go, done)) for a in args]
    for p in procs:
        p.start()
    time.sleep(0.5)  # every writer connected and waiting
    start = time.perf_counter()
    go.set()
    for _ in procs:
        done.get(timeout=600)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join(timeout=60)
    return elapsed


def _append_rate(state_dir: Path, url: str | None) -> float:
    with _open(state_dir, url):
        pass  # create the tables before the writers race
    elapsed = race(_writer, [(state_dir, url, k) for k in range(WRITERS)])
    with _open(state_dir, url) as store:
        result = store.verify_journal()
        if not result.ok or result.rows_checked != WRITERS * APPENDS:
            raise RuntimeError(f"the journal after the writers: {result}")
    return WRITERS * APPENDS / elapsed


class _Server:
    """A throwaway cluster (fsync off) and a fresh database per run."""

    def __init__(self) -> None:
        from tradekernel_postgres.testing import start_server

        self.base = Path(tempfile.mkdtemp(prefix="tk-bench-pg-"))
        try:
            self.server, self.prefix, self.pg_ctl = start_server(self.base)
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        self.count = 0

    def database(self) -> str:
        import psycopg

        self.count += 1
        name = f"bench_{self.count}"
        with psycopg.connect(self.server.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.server.url(name)

    def stop(self) -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.base / "data"), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def _row(figure: str, ours: list[float], unit: str, peer: str, theirs: list[float]) -> dict:
    return {
        "figure": f"{figure}, median of {len(ours)} (min {min(ours):.0f})",
        "value": round(statistics.median(ours), 1),
        "unit": unit,
        "peer": f"{peer} (median; min {min(theirs):.0f})",
        "peer_value": round(statistics.median(theirs), 1),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 3),
    }


def skipped(figures: Iterable[str], reason: str) -> list[dict]:
    """A row per figure left unmeasured, with ``reason`` as its peer."""
    return [
        {"figure": f, "value": None, "unit": "", "peer": f"skipped: {reason}", "peer_value": None}
        for f in figures
    ]


def start_server(figures: Iterable[str], missing: str, *modules: str) -> _Server | list[dict]:
    """A throwaway cluster, or the skipped rows of ``figures`` saying why there is none.

    psycopg, tradekernel_postgres.testing and ``modules`` are imported first; ``missing``
    says what is not installed when one of them fails.
    """
    try:
        for name in ("psycopg", "tradekernel_postgres.testing", *modules):
            importlib.import_module(name)
    except ImportError as exc:
        return skipped(figures, f"{missing} ({exc})")
    try:
        return _Server()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        return skipped(figures, f"no PostgreSQL here: {str(detail).strip()[:120]}")


def run() -> list[dict]:
    server = start_server(
        (
            "postgres store CAS transitions/s",
            "postgres store CAS transitions/s, SERIALIZABLE",
            f"postgres journal appends/s, {WRITERS} writers",
        ),
        "tradekernel-postgres is not installed",
    )
    if isinstance(server, list):
        return server
    cas: dict[str, list[float]] = {"sqlite": [], "pg": [], "pg_ser": []}
    appends: dict[str, list[float]] = {"sqlite": [], "pg": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for r in range(REPEATS):  # interleaved, so drift hits every figure alike
                cas["sqlite"].append(_cas_rate(root / f"s{r}", None))
                cas["pg"].append(_cas_rate(root / f"p{r}", server.database()))
                cas["pg_ser"].append(_cas_rate(root / f"q{r}", server.database(), "serializable"))
                appends["sqlite"].append(_append_rate(root / f"as{r}", None))
                appends["pg"].append(_append_rate(root / f"ap{r}", server.database()))
    finally:
        server.stop()
    sqlite_peer = "the SQLite store (WAL, synchronous=OFF)"
    return [
        _row(
            "postgres store CAS transitions/s (READ COMMITTED + advisory lock)",
            cas["pg"],
            "transitions/s",
            sqlite_peer,
            cas["sqlite"],
        ),
        _row(
            "postgres store CAS transitions/s, SERIALIZABLE",
            cas["pg_ser"],
            "transitions/s",
            "the same, READ COMMITTED + advisory lock",
            cas["pg"],
        ),
        _row(
            f"postgres journal appends/s, {WRITERS} writer processes",
            appends["pg"],
            "appends/s",
            f"the SQLite store, {WRITERS} writer processes",
            appends["sqlite"],
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
