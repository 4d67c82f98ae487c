"""Fixtures for promotion tests: an operator config, its store, the plugin registry and an
in-process CLI runner."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from tradekernel.api import PluginRegistry, Settings
from tradekernel.testing import invoke as tk_invoke

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backtest"))

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"
{kernel_extra}

[components]
strategist = "sma-cross"
market_data = "synthetic"
guards = ["max_order_notional"]
metrics_sinks = []
notifiers = []

[guard.max_order_notional]
limit = 1000000

[strategist.sma-cross]
fast = 2
slow = 3

[promotion.shadow]
min_trades = 3

[promotion.paper]
min_trades = 3
min_sharpe = -100
max_drawdown = 0.5
max_cost_per_trade = 1.0

[promotion.live]
min_trades = 1
max_drawdown = 0.5
min_paper_days = 7
"""


@pytest.fixture
def make_config(tmp_path: Path):
    def make(kernel_extra: str = "") -> Path:
        cfg = tmp_path / "plugins.toml"
        cfg.write_text(
            textwrap.dedent(CONFIG).format(state=tmp_path / "operator", kernel_extra=kernel_extra)
        )
        return cfg

    return make


@pytest.fixture
def config(make_config) -> Path:
    return make_config()


@pytest.fixture
def settings(config: Path) -> Settings:
    return Settings.load(config, environ={})


@pytest.fixture
def registry(settings: Settings) -> PluginRegistry:
    return PluginRegistry(block=settings.plugins.block).load()


@pytest.fixture
def cli(config: Path, capsys):
    def invoke(*args: str, cfg: Path | None = None) -> tuple[int, str, str]:
        result = tk_invoke(["--config", str(cfg or config), *args])
        return result.exit_code, result.stdout, result.stderr

    return invoke
