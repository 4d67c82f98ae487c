"""The two runtimes on the same work: cycles per second of the native commander and of
the LangGraph runtime (tradekernel-langgraph) over the same seeded paper run, the cost
of LangGraph's checkpoint per cycle by durability mode, and langgraph's import cost.
Each figure is the best of a few interleaved runs (the machine may be shared)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CYCLES = 200
REPEATS = 3

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = []
notifiers = []
runtime = "{runtime}"

[runtime]
watchlist = ["AAA", "BBB"]
skill_timeout = "0s"

[market_data.synthetic]
symbols = ["AAA", "BBB"]
seed = 7
bars = {bars}

[guard.max_order_notional]
limit = 100000
"""


def _rate(runtime: str, *, durable: bool = True, durability: str = "exit") -> float:
    """Cycles per second of one fresh run (``durable=False``: a backtest's throwaway
    state, no journal anchor per cycle and no LangGraph checkpoint)."""
    from tradekernel.api import Kernel, Runtime, Settings, run_cycles

    if runtime == "langgraph":
        import tradekernel_langgraph.runtime as lg

        lg.DURABILITY = durability
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(CONFIG.format(state=Path(tmp) / "state", runtime=runtime, bars=CYCLES))
        with (
            Kernel(Settings.load(cfg, environ={})) as kernel,
            Runtime(kernel, anchor_each_cycle=durable) as rt,
        ):
            rt.start()
            started = time.perf_counter()
            states = run_cycles(rt, cycles=CYCLES, keep=False)
            elapsed = time.perf_counter() - started
            del states
    return CYCLES / elapsed


def _import_cpu() -> float:
    code = (
        "import resource, time\nt = time.process_time()\n"
        "import langgraph.graph, langgraph.checkpoint.sqlite\n"
        "print(time.process_time() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return float(out.stdout.strip())


def run() -> list[dict[str, Any]]:
    variants = {
        "native": ("native", True, "exit"),
        "native-throwaway": ("native", False, "exit"),
        "exit": ("langgraph", True, "exit"),
        "sync": ("langgraph", True, "sync"),
        "none": ("langgraph", False, "exit"),
    }
    best = dict.fromkeys(variants, 0.0)
    for _ in range(REPEATS):  # interleaved: a busy moment hurts every variant alike
        for name, (runtime, durable, durability) in variants.items():
            best[name] = max(best[name], _rate(runtime, durable=durable, durability=durability))
    native, exit_, sync, none = best["native"], best["exit"], best["sync"], best["none"]
    per_cycle = {k: 1000 / v for k, v in best.items()}
    peer = f"native commander ({native:,.0f}/s)"
    return [
        {
            "figure": "native commander: cycles/s (paper, sma-cross, 2 symbols)",
            "value": round(native, 1),
            "unit": "cycles/s",
        },
        {
            "figure": "langgraph runtime, checkpoint durability=exit: cycles/s",
            "value": round(exit_, 1),
            "unit": "cycles/s",
            "peer": peer,
            "peer_value": round(native, 1),
            "ratio": round(native / exit_, 2),
            "note": "ratio = native / langgraph",
        },
        {
            "figure": "langgraph runtime, no checkpoint (backtest): cycles/s",
            "value": round(none, 1),
            "unit": "cycles/s",
            "peer": f"native, no anchor per cycle ({best['native-throwaway']:,.0f}/s)",
            "peer_value": round(best["native-throwaway"], 1),
            "ratio": round(best["native-throwaway"] / none, 2),
            "note": "ratio = native / langgraph",
        },
        {
            "figure": "langgraph checkpoint cost per cycle, durability=exit",
            "value": round(per_cycle["exit"] - per_cycle["none"], 2),
            "unit": "ms",
        },
        {
            "figure": "langgraph checkpoint cost per cycle, durability=sync",
            "value": round(per_cycle["sync"] - per_cycle["none"], 2),
            "unit": "ms",
            "peer": "durability=exit",
            "peer_value": round(per_cycle["exit"] - per_cycle["none"], 2),
            "ratio": round(
                sync
                and (per_cycle["sync"] - per_cycle["none"])
                / max(per_cycle["exit"] - per_cycle["none"], 1e-9),
                2,
            ),
        },
        {
            "figure": "import langgraph + langgraph-checkpoint-sqlite (CPU)",
            "value": round(_import_cpu(), 2),
            "unit": "s",
        },
    ]
