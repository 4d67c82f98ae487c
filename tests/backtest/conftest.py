"""Fixtures for backtest tests: an operator config in a tmp dir, a hand-made price file
on which ``sma-cross`` (fast 2, slow 3) trades exactly three round trips plus one trade
left open at the end, and an in-process CLI runner."""

from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from tradekernel.cli import main
from tradekernel.settings import Settings

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]

[guard.max_order_notional]
limit = 1000000

[strategist.sma-cross]
fast = 2
slow = 3
"""

# close of each bar; opens are the previous close + 0.25 unless given in OPENS
CLOSES = [10, 10, 10, 10, 12, 12, 12, 9, 9, 9, 11, 11, 11, 8, 8, 8, 13, 13, 13, 10, 10, 10,
          10, 14, 14, 15]
OPENS = {14: 12.0}
START = date(2024, 1, 1)


def opens() -> list[float]:
    return [OPENS.get(i, CLOSES[i - 1] + 0.25 if i else CLOSES[0]) for i in range(len(CLOSES))]


def write_hand_csv(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i, (o, c) in enumerate(zip(opens(), CLOSES, strict=True)):
        day = START + timedelta(days=i)
        lines.append(f"{day.isoformat()},{o},{max(o, c)},{min(o, c)},{c},1000000")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(textwrap.dedent(CONFIG).format(state=tmp_path / "operator"))
    return cfg


@pytest.fixture
def base(config: Path) -> Settings:
    return Settings.load(config, environ={})


@pytest.fixture
def hand_csv(tmp_path: Path) -> Path:
    return write_hand_csv(tmp_path / "data" / "AAA.csv")


@pytest.fixture
def cli(config: Path, capsys):
    """Run ``tradekernel --config <tmp config> ARGS``; returns (exit code, stdout, stderr)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["--config", str(config), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def load_json(text: str) -> object:
    return json.loads(text)
