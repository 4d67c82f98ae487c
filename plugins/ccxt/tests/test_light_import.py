"""ccxt (about 0.4 s of CPU to import) is loaded only when a ccxt component is built:
never by ``--help``, ``plugins list`` or importing the plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, runpy, sys
out, sys.argv = sys.argv[1], ["tradekernel", *sys.argv[2:]]
try:
    runpy.run_module("tradekernel", run_name="__main__")  # as `python -m tradekernel`
except SystemExit as exc:
    pass
with open(out, "w") as f:
    json.dump(sorted(sys.modules), f)
"""


def modules_after(tmp_path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.exists(), result.stderr
    return set(json.loads(out.read_text()))


@pytest.mark.parametrize("args", [("--help",), ("plugins", "list")])
def test_commands_do_not_import_ccxt(tmp_path, args):
    modules = modules_after(tmp_path, *args)
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
