"""Fixtures for promotion tests: an operator config, its store, the plugin registry and an
in-process CLI runner. ``store_kind`` selects the configured store (``sqlite`` here; a test
module overrides it with a parametrized fixture to run on PostgreSQL too)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from tradekernel.api import PluginRegistry, Settings, Store, open_store
from tradekernel.testing import invoke as tk_invoke

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backtest"))

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"
{kernel_extra}

[components]
{components_extra}
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
{store_section}
"""


@pytest.fixture
def store_kind() -> str:
    """The configured store: ``sqlite`` or ``postgres``."""
    return "sqlite"


@pytest.fixture
def make_config(tmp_path: Path, store_kind: str, request):
    store_lines = ("", "")
    if store_kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        store_lines = ('store = "postgres"', f'[store]\nurl = "{url}"')

    def make(kernel_extra: str = "") -> Path:
        cfg = tmp_path / "plugins.toml"
        cfg.write_text(
            textwrap.dedent(CONFIG).format(
                state=tmp_path / "operator",
                kernel_extra=kernel_extra,
                components_extra=store_lines[0],
                store_section=store_lines[1],
            )
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
def open_state(settings: Settings, registry: PluginRegistry):
    """Opens the configured store (a context manager, as ``Store.open``)."""

    def opener(at: Settings | None = None) -> Store:
        return open_store(at or settings, registry=registry)

    return opener


@pytest.fixture
def tamper():
    """``tamper(store, sql, args)`` runs ``sql`` behind the store's back (PostgreSQL: past
    the journal's append-only triggers, as someone able to drop them)."""

    def run(store: Store, sql: str, args: tuple = ()) -> None:
        pg = store.dialect.name == "postgres"
        if pg:
            store.conn.execute("ALTER TABLE journal DISABLE TRIGGER USER")
        store.conn.execute(sql, args)
        if pg:
            store.conn.execute("ALTER TABLE journal ENABLE TRIGGER USER")

    return run


@pytest.fixture
def cli(config: Path, capsys):
    def invoke(*args: str, cfg: Path | None = None) -> tuple[int, str, str]:
        result = tk_invoke(["--config", str(cfg or config), *args])
        return result.exit_code, result.stdout, result.stderr

    return invoke
