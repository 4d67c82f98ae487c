"""Deployment commands: ``tradekernel health`` (what a container HEALTHCHECK runs every
30 s), ``release create`` and ``readiness --for paper`` wall time on a paper agent's
state, against ``tradekernel --version`` measured in the same run."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 9
KEY_ENV = "TK_BENCH_AUDIT_KEY"


def _time(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def run() -> list[dict]:
    from tradekernel.api import RUN_LOCK, exclusive

    tk = str(Path(sys.executable).with_name("tradekernel"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_")}
    env[KEY_ENV] = "bench-key-0123456789abcdef"
    with tempfile.TemporaryDirectory() as cwd:
        Path(cwd, "plugins.toml").write_text(
            '[kernel]\nstate_dir = "state"\n[components]\nstrategist = "sma-cross"\n'
            f'[audit]\nhmac_key_env = "{KEY_ENV}"\n'
        )
        subprocess.run(
            [tk, "run", "--cycles", "3", "-q"],
            cwd=cwd,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        commands = {
            "version": [tk, "--version"],
            "health": [tk, "health", "--max-age", "5m"],
            "release": [tk, "release", "create"],
            "readiness": [tk, "readiness", "--for", "paper"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        with exclusive(Path(cwd, "state", RUN_LOCK), "bench"):  # an agent holds its lock
            for _ in range(RUNS):
                for name, cmd in commands.items():
                    samples[name].append(_time(cmd, cwd, env))
    floor = statistics.median(samples["version"])
    peer = f"tradekernel --version (median of {RUNS})"
    labels = {
        "health": "tradekernel health wall time (agent holding its lock)",
        "release": "tradekernel release create wall time (unchanged: verify the stored one)",
        "readiness": "tradekernel readiness --for paper wall time (paper broker, 14 items)",
    }
    return [
        {
            "figure": label,
            "value": round(statistics.median(samples[name]), 1),
            "unit": "ms",
            "peer": peer,
            "peer_value": round(floor, 1),
        }
        for name, label in labels.items()
    ]
