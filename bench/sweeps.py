"""Sweeps on the two sweepers: the same 64-combination backtest sweep (sma-cross, fast x
slow, 120 daily bars) on ``processes`` (spawned worker processes, started per sweep and
reused from one combination to the next) and on ``dask`` (a LocalCluster of as many
worker processes, started per sweep), wall time min and median over interleaved repeats;
the LocalCluster's own start and stop; and what importing ``dask.distributed`` costs
(CPU, wall, resident memory, installed size). Both sweepers must give the same rows: a
difference fails the module."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPEATS = int(os.environ.get("TK_BENCH_SWEEP_REPEATS", "3"))
FAST = [2, 3, 4, 5, 6, 7, 8, 9]
SLOW = [10, 12, 14, 16, 18, 20, 22, 24]  # 8 x 8 = 64 combinations, every one valid
BARS = 120

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
guards = ["max_order_notional"]
metrics_sinks = []

[guard.max_order_notional]
limit = 1000000

[strategist.sma-cross]
fast = 2
slow = 10
"""


def _prices(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Open,High,Low,Close,Volume"]
    close = 20.0
    for i in range(BARS):
        o = close
        close = round(20 + 5 * math.sin(i / 6) + (i % 5) * 0.3, 2)
        day = date(2024, 1, 1) + timedelta(days=i)
        lines.append(f"{day.isoformat()},{o},{max(o, close)},{min(o, close)},{close},100000")
    path.write_text("\n".join(lines) + "\n")
    return path


def _sweep(tmp: Path, sweeper: Any, workers: int) -> tuple[float, list[dict[str, Any]]]:
    from tradekernel.api import Settings
    from tradekernel_backtest import BacktestSpec, param_grid, run_sweep

    cfg = tmp / "plugins.toml"
    cfg.write_text(CONFIG.format(state=tmp / "state"))
    base = Settings.load(cfg, environ={})
    spec = BacktestSpec(
        strategist="sma-cross",
        data=[str(_prices(tmp / "data" / "AAA.csv"))],
        cash=Decimal(10000),
        record=False,
    )
    grid = param_grid([("fast", FAST), ("slow", SLOW)])
    started = time.perf_counter()
    rows = run_sweep(base, spec, grid, workers=workers, sweeper=sweeper, resume=False)
    return time.perf_counter() - started, rows


def _cluster_start_stop(workers: int) -> float:
    import logging

    from distributed import Client, LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster, set_as_default=False)
    client.close()
    cluster.close()
    return time.perf_counter() - started


IMPORT = """
import json, resource, time
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()
before, cpu, wall = rss(), time.process_time(), time.perf_counter()
import distributed
print(json.dumps([time.process_time() - cpu, time.perf_counter() - wall, rss() - before]))
"""


def _import_cost() -> tuple[float, float, float]:
    """Best CPU and wall seconds and resident MiB of ``import distributed``, fresh processes."""
    import json

    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT], capture_output=True, text=True, timeout=120
        )
        runs.append(json.loads(out.stdout))
    return (
        min(r[0] for r in runs),
        min(r[1] for r in runs),
        min(r[2] for r in runs) / 2**20,
    )


def _installed_mib() -> float:
    """Installed size of dask, distributed and the packages only they need."""
    from importlib.metadata import distribution

    total = 0
    for name in (
        "dask",
        "distributed",
        "cloudpickle",
        "importlib_metadata",
        "fsspec",
        "locket",
        "msgpack",
        "partd",
        "sortedcontainers",
        "tblib",
        "toolz",
        "tornado",
        "zict",
        "zipp",
    ):
        try:
            dist = distribution(name)
        except Exception:
            continue
        for f in dist.files or ():
            path = Path(dist.locate_file(f))
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def run() -> list[dict[str, Any]]:
    from tradekernel_backtest.processes import ProcessSweeper
    from tradekernel_dask.config import DaskConfig
    from tradekernel_dask.sweeper import DaskSweeper

    workers = os.cpu_count() or 1
    times: dict[str, list[float]] = {"processes": [], "dask": []}
    rows: dict[str, list[dict[str, Any]]] = {}
    for _ in range(REPEATS):  # interleaved: a busy moment hurts both alike
        for name, sweeper in (
            ("processes", ProcessSweeper()),
            ("dask", DaskSweeper(DaskConfig())),
        ):
            with tempfile.TemporaryDirectory() as tmp:
                elapsed, got = _sweep(Path(tmp), sweeper, workers)
            times[name].append(elapsed)
            rows[name] = got
    if rows["processes"] != rows["dask"]:
        raise AssertionError("the dask sweeper's rows differ from the processes sweeper's")
    startup = min(_cluster_start_stop(workers) for _ in range(REPEATS))
    cpu, wall, rss = _import_cost()
    p_min, d_min = min(times["processes"]), min(times["dask"])
    note = f"{workers} workers, {REPEATS} repeats, 64 combinations of {BARS} bars"
    return [
        {
            "figure": "64-combination sweep on processes: wall (min)",
            "value": round(p_min, 2),
            "unit": "s",
            "median": round(statistics.median(times["processes"]), 2),
            "note": note,
        },
        {
            "figure": "64-combination sweep on dask LocalCluster: wall (min)",
            "value": round(d_min, 2),
            "unit": "s",
            "peer": "processes",
            "peer_value": round(p_min, 2),
            "ratio": round(d_min / p_min, 2),
            "median": round(statistics.median(times["dask"]), 2),
            "note": f"{note}; includes the cluster's start and stop; ratio = dask / processes",
        },
        {
            "figure": "dask LocalCluster start + stop (no jobs)",
            "value": round(startup, 2),
            "unit": "s",
            "note": f"{workers} worker processes",
        },
        {"figure": "import distributed (CPU)", "value": round(cpu, 2), "unit": "s"},
        {"figure": "import distributed (wall)", "value": round(wall, 2), "unit": "s"},
        {"figure": "import distributed (resident memory)", "value": round(rss, 1), "unit": "MiB"},
        {
            "figure": "dask + distributed and their own dependencies, installed",
            "value": round(_installed_mib(), 1),
            "unit": "MiB",
        },
    ]
