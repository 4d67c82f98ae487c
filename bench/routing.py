"""Several brokers: what routing costs per intent with three brokers configured, and what
a trading cycle costs with three paper broker instances instead of one."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

BARS = 2000
DECISIONS = 20000

SINGLE = """
[components]
broker = "paper"
"""

MULTI = """
[components]
brokers = ["a", "b", "c"]

[broker.a]
use = "paper"
db = "a.db"

[broker.b]
use = "paper"
db = "b.db"

[broker.c]
use = "paper"
db = "c.db"

[routing]
routes = [
  {symbols = ["*/USDT", "*/USDC"], broker = "b", secondary = "c"},
  {asset_class = "futures", broker = "c", secondary = "b"},
  {symbols = ["ZZ*"], broker = "c"},
]
default = "a"
secondary = "b"
asset_classes = {futures = ["*-PERP", "*-FUT"]}
"""


def _config(brokers: str, state: Path, bars: int) -> str:
    head = (
        f'[kernel]\nstate_dir = "{state}"\napproval_mode = "auto"\n\n'
        + brokers.strip()
        + '\nmarket_data = "synthetic"\nstrategist = "sma-cross"\nguards = []\n'
        "metrics_sinks = []\nnotifiers = []\n\n"
    )
    return head + (
        f'[runtime]\nwatchlist = ["AAA"]\nskill_timeout = "0s"\n\n'
        f'[market_data.synthetic]\nsymbols = ["AAA"]\nbars = {bars}\n'
    )


def _cycle_us(brokers: str, bars: int) -> tuple[float, int]:
    from tradekernel.kernel import Kernel
    from tradekernel.runtime import Runtime, run_cycles
    from tradekernel.settings import Settings

    components, _, rest = brokers.strip().partition("\n\n")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(_config(components, Path(tmp) / "state", bars) + "\n" + rest + "\n")
        with Kernel(Settings.load(cfg, environ={})) as kernel, Runtime(kernel) as runtime:
            runtime.start()
            started = time.perf_counter()
            states = run_cycles(runtime, cycles=bars)
            elapsed = time.perf_counter() - started
    return elapsed / len(states) * 1e6, sum(len(s.submitted) for s in states)


def _decision_us() -> float:
    """One new intent's routing: the route lookup (uncached: a new cycle each time), the
    choice and the health record of its outcome, with three brokers and three routes."""
    from tradekernel.kernel import Kernel
    from tradekernel.runtime import Runtime
    from tradekernel.settings import Settings

    symbols = ["AAA", "BTC/USDT", "ES-FUT", "ZZZ", "ETH/USDC", "MSFT"]
    components, _, rest = MULTI.strip().partition("\n\n")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(_config(components, Path(tmp) / "state", 10) + "\n" + rest + "\n")
        with Kernel(Settings.load(cfg, environ={})) as kernel, Runtime(kernel) as runtime:
            router = runtime.router
            assert router is not None
            started = time.perf_counter()
            for i in range(DECISIONS):
                router._chosen.clear()  # as at a new cycle: nothing decided yet
                name = router.choose(symbols[i % len(symbols)])
                router.health[name].record(True, 0.001)
            return (time.perf_counter() - started) / DECISIONS * 1e6


def run() -> list[dict]:
    decision = _decision_us()
    runs = [(_cycle_us(SINGLE, BARS), _cycle_us(MULTI, BARS)) for _ in range(3)]
    single, orders = min(r[0] for r in runs)  # the best of three, interleaved
    multi, multi_orders = min(r[1] for r in runs)
    return [
        {
            "figure": "routing per new intent, 3 brokers, 3 routes (route lookup uncached, "
            "choice, health record) vs a trading cycle with 1 broker",
            "value": round(decision, 2),
            "unit": "µs",
            "peer": "cycle µs (1 broker)",
            "peer_value": round(single, 1),
        },
        {
            "figure": f"trading cycle, 3 paper brokers vs 1 (sma-cross, {BARS} bars, "
            f"{multi_orders}/{orders} orders; every broker's account read each cycle)",
            "value": round(multi, 1),
            "unit": "µs",
            "peer": "1 broker",
            "peer_value": round(single, 1),
        },
    ]
