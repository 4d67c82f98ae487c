"""Tests of the example plugin, written the way a third party would write them: against
the public API, with the plugin installed (``pip install -e contrib/symbol-blocklist``)."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest
import tradekernel_symbol_blocklist as plugin
from click.testing import CliRunner
from tradekernel.api import ConfigError, GuardContext, Intent, Kernel, PluginRegistry, Settings
from tradekernel.testing import cli

CONFIG = """
[components]
guards = ["symbol_blocklist"]
metrics_sinks = []

[guard.symbol_blocklist]
symbols = ["gme", "AMC"]
reason = "meme stock"
"""


@pytest.fixture
def kernel(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(CONFIG)
    # Only this plugin's installed entry point: the test does not depend on other plugins.
    eps = [ep for ep in entry_points(group="tradekernel") if ep.name == "symbol-blocklist"]
    with Kernel(Settings.load(path, environ={}), PluginRegistry(entry_points=eps)) as k:
        yield k


def _ctx() -> GuardContext:
    return GuardContext(as_of=None, quote=None, positions={}, account=None)


def test_guard_denies_listed_symbols(kernel) -> None:
    guard = kernel.component("guard", "symbol_blocklist")
    verdict = guard.check(Intent.create(symbol="GME", side="buy", quantity=1), _ctx())
    assert not verdict.allow
    assert verdict.code == "symbol_blocked"
    assert verdict.detail == "GME: meme stock"
    assert guard.check(Intent.create(symbol="MSFT", side="buy", quantity=1), _ctx()).allow


def test_config_is_validated(tmp_path) -> None:
    settings = Settings.load(
        environ={"TRADEKERNEL_GUARD__SYMBOL_BLOCKLIST__SYMBOLS": "GME"}, config_path=None
    )
    with pytest.raises(ConfigError, match=r"symbols: expected a list, got 'GME'"):
        settings.component_config("guard", "symbol_blocklist", plugin.SymbolBlocklistConfig)


def test_observers_count_events(kernel) -> None:
    plugin.stats.reset()
    kernel.emit("risk", "verdict", guard="symbol_blocklist", allow=False)
    assert plugin.stats.events["risk.verdict"] == 1


def test_cli_command(tmp_path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(CONFIG)
    result = CliRunner().invoke(cli, ["--config", str(path), "blocklist", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["symbols"] == ["GME", "AMC"]
