"""Fixtures for backtest tests: an operator config in a tmp dir, a hand-made price file
on which ``sma-cross`` (fast 2, slow 3) trades exactly three round trips plus one trade
left open at the end, and an in-process CLI runner."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from tradekernel.testing import invoke as tk_invoke

sys.path.insert(0, str(Path(__file__).parent))
from bt_handdata import write_hand_csv
from tradekernel.api import Settings

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
        result = tk_invoke(["--config", str(config), *args])
        return result.exit_code, result.stdout, result.stderr

    return invoke


def load_json(text: str) -> object:
    return json.loads(text)
