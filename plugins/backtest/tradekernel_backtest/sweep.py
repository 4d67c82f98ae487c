"""Parameter sweeps: one backtest per combination of ``--param`` values, each run by the
selected sweeper (``processes`` on this machine, ``dask`` on a cluster) with its own state
dir; one result row per combination, kept as it finishes so a sweep resumes."""

from __future__ import annotations

import csv
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from tradekernel.api import Settings, Sweeper, TradekernelError

from .record import COMPLETE, Recorder
from .spec import BacktestSpec
from .sweep_results import SweepResults, resolve_path, row_key, sweep_digest, valid_row

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


class SweepFailed(TradekernelError):
    """The engine could not run some combinations (not cached: the same command runs them
    again); ``rows`` are every row, the failed ones with their error, ``failures`` one
    line per kind of failure."""

    def __init__(self, rows: list[dict[str, Any]], failures: list[str]) -> None:
        super().__init__("\n".join(failures))
        self.rows = rows
        self.failures = failures


def error_text(exc: BaseException) -> str:
    """One line naming ``exc`` (the same text whichever engine ran the job)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _run_one(job: tuple[str | None, dict[str, Any], BacktestSpec]) -> dict[str, Any]:
    """Worker: load the operator's settings in this process and run one combination (every
    sweeper runs this same function). ``job``: the configuration file's absolute path, the
    settings the operator's environment set (:meth:`Settings.environment_overrides`: no
    secret), the combination's spec."""
    from loguru import logger

    from .runner import run_backtest

    logger.remove()  # workers stay quiet; the parent reports
    config_path, overrides, spec = job
    try:
        base = Settings.load(config_path, overrides=overrides)
    except Exception as exc:  # this worker's files or environment, not the combination
        return {"ok": False, "error": error_text(exc), "started": False}
    try:
        return {"ok": True, "metrics": run_backtest(base, spec).metrics}
    except Exception as exc:
        return {"ok": False, "error": error_text(exc)}


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
    sweeper: Sweeper | str | None = None,
    scheduler: str | None = None,
    resume: bool = True,
    on_resume: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every combination of ``grid`` (``spec.params`` is the base) on ``sweeper`` (an
    object, a name, or ``None``: ``[components] sweeper``; ``scheduler``: the ``dask``
    sweeper's cluster), ``workers`` at a time; returns one row per combination, in grid
    order. ``on_row(i, row)`` is called as each combination finishes (``i``: its position
    in ``grid``; they finish in any order).

    Each finished row lands at once in the sweep's results file (:mod:`.sweep_results`);
    with ``resume`` the rows already there are not run again (``on_resume(count)`` says how
    many). Rows are recorded in the operator's store and, with ``spec.out_dir``, written to
    ``sweep.csv`` and ``sweep.json`` (each combination's outputs under ``runs/NNN``)."""
    spec = attrs.evolve(  # absolute: a worker may run in another directory or machine
        spec,
        data=[str(resolve_path(p)) for p in spec.data],
        out_dir=resolve_path(spec.out_dir) if spec.out_dir is not None else None,
    )
    out = Path(spec.out_dir) if spec.out_dir is not None else None
    config = str(resolve_path(base.config_path)) if base.config_path else None
    results = SweepResults(base.state_dir, sweep_digest(base, spec))
    keys = [row_key(results.path.stem, i, combo) for i, combo in enumerate(grid)]
    cached = results.load() if resume else {}
    rows: list[dict[str, Any] | None] = [
        _cached(cached.get(k), _plain(grid[i]), results.path) for i, k in enumerate(keys)
    ]
    todo = [i for i, row in enumerate(rows) if row is None]
    if on_resume is not None and len(todo) < len(grid):
        on_resume(len(grid) - len(todo))
    jobs = []
    for i in todo:
        one = attrs.evolve(
            spec,
            params={**spec.params, **grid[i]},
            out_dir=out / "runs" / f"{i:03d}" if out else None,
            state_dir=None,
            record=False,
        )
        jobs.append((config, base.environment_overrides(), one))
    failures: dict[str, list[int]] = {}
    if jobs:
        engine = (
            sweeper if isinstance(sweeper, Sweeper) else build_sweeper(base, sweeper, scheduler)
        )
        recorder = Recorder(base)
        try:
            if spec.record:
                recorder.open()  # an unreachable store fails before any combination runs
            finished = engine.sweep(_run_one, jobs, workers=workers)
        except BaseException:
            recorder.close()
            raise
        with _closing(finished), _sigterm_stops(), recorder as record:
            for result in finished:
                i = todo[result.index]
                outcome = result.value if result.error is None else {"error": result.error}
                complete = outcome.get("ok") and outcome["metrics"].get("stopped") == COMPLETE
                if complete and spec.record:
                    record(outcome["metrics"])
                row = _plain(sweep_row(grid[i], outcome))
                if outcome.get("ok"):  # only a success is kept: a failure runs again
                    results.append(keys[i], row)
                elif result.error is not None or outcome.get("started") is False:
                    kind = "could not start" if result.error is None else "engine failure"
                    failures.setdefault(f"{kind}: {row['error']}", []).append(i)
                rows[i] = row
                if on_row is not None:
                    on_row(i, row)
    final = [row for row in rows if row is not None]
    if len(final) != len(grid):  # a sweeper that drops a job breaks its contract
        raise TradekernelError(
            f"sweep: the sweeper returned no result for {len(grid) - len(final)} combinations"
            " (the finished ones are kept: run the sweep again)"
        )
    if out is not None:
        write_sweep(out, final)
    if failures:
        raise SweepFailed(
            final,
            [
                f"sweep: {len(failed)} combination(s) not run, {why} (not kept: run the "
                "same command again to run them)"
                for why, failed in failures.items()
            ],
        )
    return final


def _cached(row: dict[str, Any] | None, params: dict[str, Any], path: Path) -> Any:
    """A row read back, if it has the shape this combination's row has (else: run it)."""
    if row is None or valid_row(row, params, ROW_METRICS):
        return row
    from loguru import logger

    logger.warning("{}: a line with an invalid row ignored; that combination runs again", path)
    return None


def build_sweeper(base: Settings, name: str | None, scheduler: str | None) -> Sweeper:
    """The sweeper ``name`` (default ``[components] sweeper``; ``scheduler`` selects and
    configures ``dask``), built from the operator's configuration."""
    from tradekernel.api import ConfigError, Kernel

    overrides: dict[str, Any] = {}
    if scheduler is not None:
        if name not in (None, "dask"):
            raise ConfigError(f"option --scheduler: only the dask sweeper has one, not {name!r}")
        name = "dask"
        overrides["sweeper.dask.scheduler"] = (scheduler, "--scheduler")
    if name is not None:
        overrides["components.sweeper"] = (name, "--sweeper")
    settings = (
        Settings.load(base.config_path, overrides={**base.environment_overrides(), **overrides})
        if overrides
        else base
    )
    with Kernel(settings) as kernel:
        return kernel.component("sweeper")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as JSON would give it back: a row read from the results file equals it."""
    return json.loads(json.dumps(row, default=str))


@contextmanager
def _closing(finished: Iterator[Any]) -> Iterator[None]:
    """Close the sweeper's iterator when the sweep ends, however it ends: that cancels the
    jobs not finished (a plain iterator has nothing to close)."""
    try:
        yield
    finally:
        close = getattr(finished, "close", None)
        if callable(close):
            close()


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """While inside, SIGTERM stops the sweep as Ctrl-C does (the finished rows are kept)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_sweep(out: Path, rows: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with (out / "sweep.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
