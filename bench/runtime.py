"""Runtime throughput: whole-graph cycles per second, in-process, on the paper broker."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "{strategist}"
guards = ["max_order_notional", "max_position"]
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA"]
skill_timeout = "0s"

[market_data.synthetic]
symbols = ["AAA"]
bars = {bars}

[guard.max_order_notional]
limit = 100000

[guard.max_position]
max_quantity = 1000
"""


def _cycles_per_second(strategist: str, bars: int) -> tuple[float, int]:
    from tradekernel.kernel import Kernel
    from tradekernel.runtime import Runtime, run_cycles
    from tradekernel.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(CONFIG.format(state=Path(tmp) / "state", strategist=strategist, bars=bars))
        with Kernel(Settings.load(cfg, environ={})) as kernel, Runtime(kernel) as runtime:
            runtime.start()
            started = time.perf_counter()
            states = run_cycles(runtime, cycles=bars)
            elapsed = time.perf_counter() - started
    trades = sum(len(s.submitted) for s in states)
    return len(states) / elapsed, trades


def run() -> list[dict]:
    hold, _ = _cycles_per_second("hold", 2000)
    sma, trades = _cycles_per_second("sma-cross", 10000)
    return [
        {
            "figure": "runtime cycles/s (hold, paper, jsonl sink)",
            "value": round(hold, 1),
            "unit": "cycles/s",
            "peer": "",
            "peer_value": None,
            "ratio": None,
        },
        {
            "figure": f"runtime cycles/s (sma-cross, 10,000 bars, {trades} orders)",
            "value": round(sma, 1),
            "unit": "cycles/s",
            "peer": "",
            "peer_value": None,
            "ratio": None,
        },
    ]
