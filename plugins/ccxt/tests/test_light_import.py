"""ccxt (about 0.4 s of CPU to import) is loaded only when a ccxt component is built:
never by ``--help``, ``plugins list`` or importing the plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tradekernel.testing import modules_imported_by


@pytest.mark.parametrize("args", [("--help",), ("plugins", "list")])
def test_commands_do_not_import_ccxt(tmp_path, args):
    modules = modules_imported_by(args, tmp_path)
    assert "tradekernel.cli" in modules
    if args == ("plugins", "list"):
        assert "tradekernel_ccxt" in modules  # the plugin was loaded, ccxt was not
    assert not {m for m in modules if m == "ccxt" or m.startswith("ccxt.")}


def test_importing_the_plugin_does_not_import_ccxt():
    code = "import sys, tradekernel_ccxt; print('ccxt' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr


def test_building_the_broker_does(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nbroker = "ccxt"\nmetrics_sinks = []\n'
        '[broker.ccxt]\nexchange = "binance"\nsandbox = true\nsymbols = ["BTC/USDT"]\n'
        'api_key_env = "K"\nsecret_env = "S"\n'
    )
    code = (
        "import sys\nfrom tradekernel.api import Kernel, Settings\n"
        f"k = Kernel(Settings.load({str(config)!r}, environ={{'K': 'k1', 'S': 's1'}}))\n"
        "assert 'ccxt' not in sys.modules\nk.component('broker')\nprint('ccxt' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "True", result.stderr
