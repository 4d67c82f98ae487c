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

import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

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


def _row(figure: str, ours: list[float], unit: str, theirs: list[float]) -> dict:
    return {
        "figure": f"{figure}, median of {len(ours)} (min {min(ours):.0f})",
        "value": round(statistics.median(ours), 1),
        "unit": unit,
        "peer": f"the SQLite store (median; min {min(theirs):.0f})",
        "peer_value": round(statistics.median(theirs), 1),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 3),
    }


def _skipped(reason: str) -> list[dict]:
    figures = ("postgres backtests recorded/s", "postgres evidence lookups/s")
    return [
        {"figure": f, "value": None, "unit": "", "peer": f"skipped: {reason}", "peer_value": None}
        for f in figures
    ]


def run() -> list[dict]:
    try:
        import psycopg  # noqa: F401
        import tradekernel_backtest  # noqa: F401
        import tradekernel_postgres.testing  # noqa: F401
    except ImportError as exc:
        return _skipped(f"tradekernel-postgres or tradekernel-backtest is missing ({exc})")
    from .store_pg import _Server

    try:
        server = _Server()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        return _skipped(f"no PostgreSQL here: {str(detail).strip()[:120]}")
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
            records["sqlite"],
        ),
        _row(
            f"postgres evidence lookups/s ({CONFIGS} configurations, {RECORDS} rows)",
            lookups["pg"],
            "lookups/s",
            lookups["sqlite"],
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
