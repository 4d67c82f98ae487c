"""CLI start-up: ``tradekernel --version``, ``--help`` and ``run --once`` (one whole cycle
with the default configuration: no ``plugins.toml``) wall time against the floor of any
click program, ``python -c "import click"``, measured in the same run."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 21
WARMUP = 3


def _time(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def run() -> list[dict]:
    tk = str(Path(sys.executable).with_name("tradekernel"))
    commands = {
        "version": [tk, "--version"],
        "help": [tk, "--help"],
        "run --once": [tk, "run", "--once", "--quiet"],
        "click": [sys.executable, "-c", "import click"],
    }
    # Without PYTHONDONTWRITEBYTECODE: an installed package has its bytecode cached (pip
    # compiles it at install), so the warm-up runs write it for the editable install too.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRADEKERNEL_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(WARMUP):
            for cmd in commands.values():
                _time(cmd, cwd, env)
        for _ in range(RUNS):  # interleaved, so drift affects all alike
            for name, cmd in commands.items():
                samples[name].append(_time(cmd, cwd, env))
    floor = statistics.median(samples["click"])
    peer = f'python -c "import click" (median of {RUNS})'
    rows = []
    labels = {
        "version": "tradekernel --version wall time",
        "help": "tradekernel --help wall time",
        "run --once": "tradekernel run --once wall time (default configuration: paper, "
        "synthetic, hold, jsonl sink)",
    }
    for name, label in labels.items():
        value = statistics.median(samples[name])
        rows.append(
            {
                "figure": label,
                "value": round(value, 1),
                "unit": "ms",
                "peer": peer,
                "peer_value": round(floor, 1),
                "ratio": round(value / floor, 2),
            }
        )
    return rows
