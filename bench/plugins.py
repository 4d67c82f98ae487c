"""Lazy plugin loading: ``run --once`` and ``intents list`` with 10 extra installed
plugins whose modules sleep 0.2 s at import and are not selected, against the same
commands without them (goal: at most 5% more).

The 10 plugins are real distributions built and installed at bench time with
``pip install --target`` into a temporary directory put on ``PYTHONPATH``; nothing is
committed. Each side runs in its own working directory, so each keeps its own warm
plugin manifest (the first run of a side builds it by importing everything once).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PLUGINS = 10
SLEEP = 0.2
RUNS = 7
WARMUP = 2
COMMANDS = {"run --once": ["run", "--once"], "intents list": ["intents", "list"]}

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "tk-bench-slow-{i}"
version = "1.0"
dependencies = ["tradekernel"]

[project.entry-points.tradekernel]
bench-slow-{i} = "tk_bench_slow_{i}"

[tool.setuptools]
packages = ["tk_bench_slow_{i}"]
"""

MODULE = """
import time

time.sleep({sleep})

from tradekernel import hookimpl


@hookimpl
def register_guards(register):
    register("bench_slow_{i}", lambda config, ctx: None)
"""


def _build(root: Path) -> Path:
    """Write the 10 slow plugins and install them into ``root/target``."""
    sources = []
    for i in range(PLUGINS):
        src = root / "src" / f"tk_bench_slow_{i}"
        (src / f"tk_bench_slow_{i}").mkdir(parents=True)
        (src / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT.format(i=i)))
        module = textwrap.dedent(MODULE.format(i=i, sleep=SLEEP))
        (src / f"tk_bench_slow_{i}" / "__init__.py").write_text(module)
        sources.append(str(src))
    target = root / "target"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    subprocess.run(
        [*pip, "--no-build-isolation", "--target", str(target), *sources],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return target


def _time(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def run() -> list[dict]:
    tk = str(Path(sys.executable).with_name("tradekernel"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_")}
    base.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = _build(root)
        sides = {
            "without": (root / "without", base),
            "with": (root / "with", {**base, "PYTHONPATH": str(target)}),
        }
        for cwd, _env in sides.values():
            cwd.mkdir()
        samples = {(c, s): [] for c in COMMANDS for s in sides}
        for _ in range(WARMUP):  # the first run of a side builds its manifest
            for args in COMMANDS.values():
                for cwd, env in sides.values():
                    _time([tk, *args], cwd, env)
        for _ in range(RUNS):  # interleaved, so drift affects both sides alike
            for command, args in COMMANDS.items():
                for side, (cwd, env) in sides.items():
                    samples[(command, side)].append(_time([tk, *args], cwd, env))
    rows = []
    for command in COMMANDS:
        for stat in ("median", "min"):
            pick = statistics.median if stat == "median" else min
            value = pick(samples[(command, "with")])
            floor = pick(samples[(command, "without")])
            rows.append(
                {
                    "figure": (
                        f"`{command}` with {PLUGINS} unselected plugins sleeping "
                        f"{SLEEP:g} s at import ({stat} of {RUNS})"
                    ),
                    "value": round(value, 1),
                    "unit": "ms",
                    "peer": f"the same without them ({stat} of {RUNS})",
                    "peer_value": round(floor, 1),
                    "ratio": round(value / floor, 3),
                }
            )
    return rows
