"""Benchmark: promotion evidence (the ``backtests`` table and its journal entries) on the
postgres store against the SQLite store.

* Backtests recorded per second (``record_into``: the row, then its digest journaled).
* Evidence lookups per second (``find_backtest`` of one configuration among ``CONFIGS``,
  each with ``RECORDS // CONFIGS`` journaled rows: the journal entries read, the newest
  candidate's row read back and checked against its digest).

Median of ``REPEATS`` runs, interleaved; the server and the SQLite store are set up as in
``bench/store_pg.py`` (fsync off, ``synchronous=OFF``). Without PostgreSQL the rows are
skipped with the reason.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from .store_pg import _row, start_server

REPEATS = 3
RECORDS = 200
CONFIGS = 20
LOOKUPS = 100


def _metrics(i: int) -> dict[str, Any]:
    return {
        "strategist": "sma-cross",
        "config_digest": f"config-{i % CONFIGS}",
        "trades": i,
        "sharpe": 1.0,
        "stopped": "data exhausted",
        "params": {"fast": i % CONFIGS},
        "data": ["prices/AAA.csv"],
    }


def _rates(state_dir: Path, url: str | None) -> tuple[float, float]:
    from tradekernel_backtest.record import find_backtest, record_into

    from .store_pg import _open

    with _open(state_dir, url) as store:
        started = time.perf_counter()
        for i in range(RECORDS):
            record_into(store, _metrics(i))
        records = RECORDS / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(LOOKUPS):
            found = find_backtest(store, "sma-cross", f"config-{i % CONFIGS}")
            if found.row is None:
                raise RuntimeError(f"no evidence found: {found.problem}")
        lookups = LOOKUPS / (time.perf_counter() - started)
    return records, lookups


def run() -> list[dict]:
    server = start_server(
        ("postgres backtests recorded/s", "postgres evidence lookups/s"),
        "tradekernel-postgres or tradekernel-backtest is missing",
        "tradekernel_backtest",
    )
    if isinstance(server, list):
        return server
    records: dict[str, list[float]] = {"sqlite": [], "pg": []}
    lookups: dict[str, list[float]] = {"sqlite": [], "pg": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for r in range(REPEATS):
                for kind, url in (("sqlite", None), ("pg", server.database())):
                    rec, look = _rates(root / f"{kind}{r}", url)
                    records[kind].append(rec)
                    lookups[kind].append(look)
    finally:
        server.stop()
    return [
        _row(
            f"postgres backtests recorded/s (row + journal entry, {RECORDS} rows)",
            records["pg"],
            "records/s",
            "the SQLite store",
            records["sqlite"],
        ),
        _row(
            f"postgres evidence lookups/s ({CONFIGS} configurations, {RECORDS} rows)",
            lookups["pg"],
            "lookups/s",
            "the SQLite store",
            lookups["sqlite"],
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
