"""``run`` follows the active release (kernel/tradekernel/cli/run_cmd.py): an activation
seen at a cycle boundary rebuilds the kernel from the settings the ``release_settings``
hook gives, under the same run lock, and the remaining cycles run on them; no plugin
loading the release refuses the run; each cycle leaves the heartbeat on ``run.lock``.
The release store itself is tradekernel-deploy's, tested there; here a plugin double
answers the hook."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner
from tradekernel.cli.context import AppContext
from tradekernel.cli.run_cmd import run
from tradekernel.files import RUN_LOCK
from tradekernel.hookspecs import hookimpl
from tradekernel.runtime.stage import RELEASE_KEY
from tradekernel.settings import Settings
from tradekernel.store import Store
from tradekernel.testing import KernelFactory

CONFIG = """[kernel]
state_dir = "{state_dir}"

[plugins]
block = ["tradekernel-deploy"]

[components]
strategist = "sma-cross"
metrics_sinks = ["jsonl"]

[runtime]
watchlist = [%s]
"""


class ReleaseDouble:
    """Activates release ``r1`` during the first cycle and loads it (watchlist BBB)."""

    def __init__(self, release_config, loads: bool = True) -> None:
        self.release_config = release_config
        self.loads = loads
        self.asked: list[str] = []
        self.state_dir = None

    @hookimpl
    def on_event(self, event):
        if event.stage == "hydrate" and not self.asked and self.state_dir is not None:
            self.asked.append("activate")
            with Store.open(self.state_dir) as store:
                store.set_control(RELEASE_KEY, {"id": "r1", "history": []}, actor="alice")

    @hookimpl
    def release_settings(self, settings, release):
        self.asked.append(release)
        return Settings.load(self.release_config) if self.loads else None


def _app(tmp_path, loads=True):
    factory = KernelFactory(tmp_path)
    release_config = factory.write_config(CONFIG % '"BBB"', name="release.toml")
    double = ReleaseDouble(release_config, loads)
    kernel, _ = factory.build(CONFIG % '"AAA"', plugins=[(double, "release-double")])
    double.state_dir = kernel.settings.state_dir
    app = AppContext(settings=kernel.settings, registry=kernel.registry, kernel=kernel)
    return app, double, kernel.settings.state_dir


def _symbols(state_dir) -> list[str]:
    """The scanned symbols, in order of first appearance."""
    lines = "".join(p.read_text() for p in sorted((state_dir / "events").glob("*.jsonl")))
    seen = []
    for line in lines.splitlines():
        event = json.loads(line)
        if (event["stage"], event["kind"]) == ("scan", "candidates"):
            seen += [s for s in event["fields"]["candidates"] if s not in seen]
    return seen


def test_an_activation_between_cycles_rebuilds_the_kernel_on_the_release(tmp_path):
    app, double, state_dir = _app(tmp_path)
    result = CliRunner().invoke(run, ["--cycles", "3", "--json"], obj=app)
    assert result.exit_code == 0, result.output
    assert double.asked == ["activate", "r1"]
    assert app.settings().runtime.watchlist == ["BBB"]  # the release's settings now
    assert _symbols(state_dir) == ["AAA", "BBB"]
    assert json.loads(result.output[result.output.index("{") :])["cycles"] == 3
    app.close()


def test_an_active_release_no_plugin_loads_refuses_the_run(tmp_path):
    app, double, state_dir = _app(tmp_path, loads=False)
    with Store.open(state_dir) as store:
        store.set_control(RELEASE_KEY, {"id": "r9", "history": []}, actor="alice")
    result = CliRunner().invoke(run, ["--once"], obj=app)
    assert result.exit_code != 0
    assert "release r9 is active but no installed plugin loads releases" in str(result.exception)
    assert double.asked == ["r9"]
    app.close()


def test_each_cycle_touches_the_run_lock(tmp_path):
    app, _, state_dir = _app(tmp_path)
    lock = state_dir / RUN_LOCK
    state_dir.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    os.utime(lock, (1, 1))
    result = CliRunner().invoke(run, ["--once", "-q"], obj=app)
    assert result.exit_code == 0, result.output
    assert lock.stat().st_mtime > 1_000_000
    app.close()
