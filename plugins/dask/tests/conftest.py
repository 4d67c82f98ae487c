"""Fixtures for the dask sweeper's tests: an operator configuration and a seeded price
file on which ``sma-cross`` trades for most (fast, slow) pairs."""

from __future__ import annotations

import math
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
from tradekernel.api import Settings

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
guards = ["max_order_notional"]
metrics_sinks = []

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
def prices(tmp_path: Path) -> Path:
    """60 daily bars of a wave: crossings for every small (fast, slow) pair."""
    path = tmp_path / "data" / "AAA.csv"
    path.parent.mkdir(parents=True)
    lines = ["Date,Open,High,Low,Close,Volume"]
    close = 20.0
    for i in range(60):
        o = close
        close = round(20 + 5 * math.sin(i / 4) + (i % 3) * 0.5, 2)
        day = date(2024, 1, 1) + timedelta(days=i)
        lines.append(f"{day.isoformat()},{o},{max(o, close)},{min(o, close)},{close},100000")
    path.write_text("\n".join(lines) + "\n")
    return path
