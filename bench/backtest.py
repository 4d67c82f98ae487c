"""Backtest throughput (bars per second through the whole canonical graph, sma-cross, paper
broker, replay feed) and memory growth with the number of bars.

Each measurement runs in a fresh subprocess: a backtest over the first N bars of a
100,000-bar daily CSV, reporting bars/s and the Python heap peak during the run
(tracemalloc). The ``hold`` strategist shows memory against bars alone; ``sma-cross``
adds what each trade keeps. By default N is 2,000 and 20,000; ``TK_BENCH_BACKTEST_FULL=1``
runs 10,000 and the full 100,000 bars.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

TOTAL = 100_000
PEER = 15_000.0

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
guards = ["max_order_notional"]

[guard.max_order_notional]
limit = 1000000

[strategist.sma-cross]
fast = 10
slow = 30
"""

CHILD = r"""
import json, sys, tracemalloc
from loguru import logger
logger.remove()
from tradekernel.api import Settings
from tradekernel_backtest import BacktestSpec, run_backtest

config, data, end, strategist = sys.argv[1:5]
base = Settings.load(config, environ={})
warm = BacktestSpec(strategist=strategist, data=[data], end="1800-03-01", record=False)
run_backtest(base, warm)  # import and build everything once
spec = BacktestSpec(strategist=strategist, data=[data], end=end, record=False)
tracemalloc.start()
m = run_backtest(base, spec).metrics
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
timed = run_backtest(base, spec).metrics  # the rate without tracemalloc's overhead
print(json.dumps({"bars": m["bars"], "rate": timed["bars_per_second"], "trades": m["trades"],
                  "heap_kb": peak / 1024}))
"""


def _write_data(path: Path) -> None:
    rnd = random.Random(42)
    price = 100.0
    day = date(1800, 1, 1)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for _ in range(TOTAL):
        open_ = price
        price = max(1.0, price * (1 + rnd.gauss(0.0, 0.01) + 0.001 * (100.0 - price) / 100.0))
        hi, lo = max(open_, price) * 1.002, min(open_, price) * 0.998
        lines.append(f"{day.isoformat()},{open_:.2f},{hi:.2f},{lo:.2f},{price:.2f},1000000")
        day += timedelta(days=1)
    path.write_text("\n".join(lines) + "\n")


def _measure(tmp: Path, config: Path, data: Path, bars: int, strategist: str) -> dict:
    end = (date(1800, 1, 1) + timedelta(days=bars - 1)).isoformat()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(config), str(data), end, strategist],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    full = os.environ.get("TK_BENCH_BACKTEST_FULL") == "1"
    small, large = (10_000, TOTAL) if full else (2_000, 20_000)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "AAA.csv"
        _write_data(data)
        config = tmp / "plugins.toml"
        config.write_text(CONFIG.format(state=tmp / "operator"))
        hold_small = _measure(tmp, config, data, small, "hold")
        hold_large = _measure(tmp, config, data, large, "hold")
        b = _measure(tmp, config, data, large, "sma-cross")
    per_trade = (b["heap_kb"] - hold_large["heap_kb"]) / max(b["trades"], 1)
    return [
        {
            "figure": f"backtest bars/s (sma-cross, first {large:,} of a 100,000-bar file, "
            f"{b['trades']} trades)",
            "value": round(b["rate"], 1),
            "unit": "bars/s",
            "peer": "event-driven Python backtesters, typical 10-20k bars/s",
            "peer_value": PEER,
            "ratio": round(b["rate"] / PEER, 3),
        },
        {
            "figure": f"backtest heap peak, hold, {large:,} bars (vs {small:,}: 1 = flat)",
            "value": round(hold_large["heap_kb"] / 1024, 2),
            "unit": "MiB",
            "peer": f"heap peak at {small:,} bars",
            "peer_value": round(hold_small["heap_kb"] / 1024, 2),
            "ratio": round(hold_large["heap_kb"] / hold_small["heap_kb"], 3),
        },
        {
            "figure": "backtest heap per trade (365 trades; paper keeps 256 closed orders)",
            "value": round(per_trade, 2),
            "unit": "KiB/trade",
            "peer": "",
            "peer_value": None,
            "ratio": None,
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
