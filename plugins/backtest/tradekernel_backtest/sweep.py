"""Parameter sweeps: one backtest per combination of ``--param`` values, each in its own
process (all cores) with its own state dir; one result row per combination."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from tradekernel.api import Settings, TradekernelError

from .record import COMPLETE, record_result
from .spec import BacktestSpec

ROW_METRICS = (
    "final_equity",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration_bars",
    "exposure",
    "trades",
    "win_rate",
    "average_trade",
    "profit_factor",
    "commissions",
    "open_trades",
    "intents_blocked",
    "llm_calls",
    "llm_tokens",
    "llm_cost_usd",
    "cost_per_trade",
    "bars",
    "config_digest",
)


def _run_one(job: tuple[str | None, dict[str, str], BacktestSpec]) -> dict[str, Any]:
    """Worker: load the operator's settings in this process and run one combination."""
    from loguru import logger

    from .runner import run_backtest

    logger.remove()  # workers stay quiet; the parent reports
    config_path, environ, spec = job
    try:
        base = Settings.load(config_path, environ=environ)
        return {"ok": True, "metrics": run_backtest(base, spec).metrics}
    except TradekernelError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def sweep_row(params: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict(params)
    metrics = outcome.get("metrics") or {}
    for key in ROW_METRICS:
        row[key] = metrics.get(key)
    row["error"] = outcome.get("error")
    return row


def run_sweep(
    base: Settings,
    spec: BacktestSpec,
    grid: list[dict[str, Any]],
    *,
    workers: int | None = None,
    on_row: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every combination of ``grid`` (``spec.params`` is the base), ``workers``
    processes at a time (default: all cores); returns one row per combination, in grid
    order. Rows are recorded in the operator's store and, with ``spec.out_dir``, written
    to ``sweep.csv`` and ``sweep.json`` (each combination's outputs under ``runs/NNN``)."""
    out = Path(spec.out_dir) if spec.out_dir is not None else None
    jobs = []
    for i, combo in enumerate(grid):
        one = attrs.evolve(
            spec,
            params={**spec.params, **combo},
            out_dir=out / "runs" / f"{i:03d}" if out else None,
            state_dir=None,
            record=False,
        )
        jobs.append((str(base.config_path) if base.config_path else None, dict(base._environ), one))
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    ctx = multiprocessing.get_context("spawn")  # no forked threads or open SQLite handles
    rows: list[dict[str, Any]] = []
    with ctx.Pool(processes=workers, maxtasksperchild=1) as pool:
        for i, outcome in enumerate(pool.imap(_run_one, jobs)):
            complete = outcome["ok"] and outcome["metrics"].get("stopped") == COMPLETE
            if complete and spec.record:
                record_result(base.state_dir, outcome["metrics"])
            row = sweep_row(grid[i], outcome)
            rows.append(row)
            if on_row is not None:
                on_row(i, row)
    if out is not None:
        write_sweep(out, rows)
    return rows


def write_sweep(out: Path, rows: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with (out / "sweep.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
