"""Selecting the CCXT broker: ``config check`` (which builds the selected components, as
``run`` does before its first cycle) with ``broker = "ccxt"`` against the same command
with the paper broker. The difference is ccxt's import and the exchange object's
construction, paid only by an agent that selects it (``--help`` and ``plugins list``
never import ccxt). No network: markets are loaded on first use, not at build."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

RUNS = 7
WARMUP = 2
CONFIGS = {
    "paper": '[components]\nbroker = "paper"\n',
    "ccxt": (
        '[components]\nbroker = "ccxt"\n[broker.ccxt]\nexchange = "binance"\nsandbox = true\n'
        'symbols = ["BTC/USDT"]\napi_key_env = "BENCH_KEY"\nsecret_env = "BENCH_SECRET"\n'
    ),
}


def run() -> list[dict]:
    if find_spec("tradekernel_ccxt") is None:
        return []
    tk = str(Path(sys.executable).with_name("tradekernel"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_")}
    env.update(BENCH_KEY="bench-key", BENCH_SECRET="bench-secret")
    samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as cwd:
        commands = {}
        for name, text in CONFIGS.items():
            path = Path(cwd) / f"{name}.toml"
            path.write_text(text, encoding="utf-8")
            commands[name] = [tk, "--config", str(path), "config", "check"]
        for i in range(WARMUP + RUNS):
            for name, cmd in commands.items():  # interleaved: drift affects both alike
                started = time.perf_counter()
                subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
                if i >= WARMUP:
                    samples[name].append((time.perf_counter() - started) * 1000)
    paper = statistics.median(samples["paper"])
    return [
        {
            "figure": "tradekernel config check wall time, broker ccxt (binance)",
            "value": round(statistics.median(samples["ccxt"]), 1),
            "unit": "ms",
            "peer": f"the same with broker paper (median of {RUNS})",
            "peer_value": round(paper, 1),
        }
    ]
