"""Benchmark: a plugin's own tables in the store (``tradekernel.api.open_tables``).

* Read-modify-write transactions per second (``tables.write()``: read a counter, write
  it back) from ``WRITERS`` processes at once, on the postgres store against the SQLite
  store: what a dedup claim, a rate limit or a budget check costs under the store's
  single-writer lock. Every increment must land (the run fails otherwise).
* ``store migrate`` of a state whose plugin table holds ``ROWS`` rows (and an empty
  journal): plugin rows copied per second, SQLite to PostgreSQL against PostgreSQL back
  to SQLite.

Median and min of ``REPEATS`` runs, on the throwaway cluster of :mod:`bench.store_pg`
(fsync off, Unix socket). Without PostgreSQL the rows are skipped with the reason.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from .store_pg import _row, _settings, race, start_server

REPEATS = 3
WRITERS = 4
INCREMENTS = 100  # per writer
ROWS = 10_000


def _spec() -> Any:
    from tradekernel.store.tables import TableSpec

    return TableSpec("bench_counter", {"name": str, "n": int}, "name")


def _log_spec() -> Any:
    from tradekernel.store.tables import TableSpec

    return TableSpec("bench_log", {"id": int, "ts": float, "who": str, "body": str}, "id")


def _writer(state_dir: Path, url: str | None, go: Any, done: Any) -> None:
    from tradekernel.store.tables import open_tables

    with open_tables(_settings(state_dir, url)) as t:
        t.define(_spec())
        go.wait()
        for _ in range(INCREMENTS):
            with t.write() as conn:
                n = conn.execute("SELECT n FROM bench_counter WHERE name = 'c'").fetchone()[0]
                conn.execute("UPDATE bench_counter SET n = ? WHERE name = 'c'", (n + 1,))
    done.put(1)


def _rmw_rate(state_dir: Path, url: str | None) -> float:
    from tradekernel.store.tables import open_tables

    with open_tables(_settings(state_dir, url)) as t:
        t.define(_spec())
        with t.write() as conn:
            conn.execute("INSERT INTO bench_counter (name, n) VALUES ('c', 0)")
    elapsed = race(_writer, [(state_dir, url)] * WRITERS)
    with open_tables(_settings(state_dir, url)) as t, t.read() as conn:
        total = conn.execute("SELECT n FROM bench_counter").fetchone()[0]
    if total != WRITERS * INCREMENTS:
        raise RuntimeError(f"lost increments: {total} of {WRITERS * INCREMENTS}")
    return WRITERS * INCREMENTS / elapsed


def _migrate_rates(root: Path, url: str) -> tuple[float, float]:
    from tradekernel.store import Store
    from tradekernel.store.tables import open_tables
    from tradekernel_postgres.migrate import migrate

    source, back = root / "source", root / "back"
    Store.open(source).close()
    with open_tables(_settings(source, None)) as t:
        t.define(_log_spec())
        with t.write() as conn:
            conn.executemany(
                "INSERT INTO bench_log (ts, who, body) VALUES (?, ?, ?)",
                [(i * 0.5, f"w{i % 7}", "x" * 80) for i in range(ROWS)],
            )
    settings = _settings(root / "host", url)
    rates = []
    for src, dst in ((f"sqlite:{source}", url), (url, f"sqlite:{back}")):
        start = time.perf_counter()
        copied = migrate(src, dst, settings)
        rates.append(copied.rows["bench_log"] / (time.perf_counter() - start))
        if copied.rows["bench_log"] != ROWS:
            raise RuntimeError(f"copied {copied.rows['bench_log']} of {ROWS} rows")
    return rates[0], rates[1]


def run() -> list[dict]:
    server = start_server(
        (
            f"plugin table read-modify-write transactions/s, {WRITERS} processes, postgres",
            "store migrate plugin rows/s, SQLite to PostgreSQL",
        ),
        "tradekernel-postgres is not installed",
    )
    if isinstance(server, list):
        return server
    rmw: dict[str, list[float]] = {"sqlite": [], "pg": []}
    copy: dict[str, list[float]] = {"there": [], "back": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for r in range(REPEATS):  # interleaved, so drift hits every figure alike
                rmw["sqlite"].append(_rmw_rate(root / f"s{r}", None))
                rmw["pg"].append(_rmw_rate(root / f"p{r}", server.database()))
                there, back = _migrate_rates(root / f"m{r}", server.database())
                copy["there"].append(there)
                copy["back"].append(back)
    finally:
        server.stop()
    return [
        _row(
            f"plugin table read-modify-write transactions/s, {WRITERS} processes, postgres",
            rmw["pg"],
            "transactions/s",
            "the same on the SQLite store (state.db, synchronous=NORMAL)",
            rmw["sqlite"],
        ),
        _row(
            f"store migrate plugin rows/s, SQLite to PostgreSQL ({ROWS} rows)",
            copy["there"],
            "rows/s",
            "PostgreSQL back to SQLite",
            copy["back"],
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
