"""Runtime throughput: whole-graph cycles per second, in-process, on the paper broker;
the kernel's cost of an idle cycle; memory over a long run."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IDLE_TARGET_US = 60.0
"""Issue 13: an idle cycle costs at most this much kernel time."""
RSS_TARGET_MIB = 5.0
"""Issue 13: RSS after 50,000 cycles within this of RSS after 5,000."""

_RSS_SCRIPT = """
import json, sys
from loguru import logger
logger.remove()
from bench._idle import idle_runtime

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

out, n = [], 0
with idle_runtime() as runtime:
    for target in (5000, 50000):
        while n < target:
            runtime.run_cycle()
            n += 1
        out.append(rss())
print(json.dumps(out))
"""

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


def _rss_5k_50k() -> tuple[float, float]:
    """VmRSS (MiB) of a fresh process after 5,000 and after 50,000 idle cycles."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT], cwd=root, capture_output=True, text=True, check=True
    )
    first, last = json.loads(done.stdout.strip().splitlines()[-1])
    return first, last


def run() -> list[dict]:
    from ._idle import idle_cycle_us

    kernel_us, outside_us, whole_us = idle_cycle_us()
    rss_5k, rss_50k = _rss_5k_50k()
    hold, _ = _cycles_per_second("hold", 2000)
    sma, trades = _cycles_per_second("sma-cross", 10000)
    return [
        {
            "figure": f"idle-cycle µs, kernel only (whole cycle {whole_us:.0f} µs, of which "
            f"feed + hold strategist + paper broker {outside_us:.0f} µs; no sink)",
            "value": round(kernel_us, 1),
            "unit": "µs",
            "peer": "target",
            "peer_value": IDLE_TARGET_US,
            "ratio": None,
        },
        {
            "figure": f"RSS growth, 5,000 to 50,000 idle cycles ({rss_5k:.1f} to "
            f"{rss_50k:.1f} MiB)",
            "value": round(rss_50k - rss_5k, 2),
            "unit": "MiB",
            "peer": "target",
            "peer_value": RSS_TARGET_MIB,
            "ratio": None,
        },
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
