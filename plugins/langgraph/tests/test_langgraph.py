"""The LangGraph runtime itself: light import, the drawing, retries with explicit
classes, checkpoints per cycle, the backtest, and the harness naming a difference."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from tradekernel.api import Runtime, run_cycles
from tradekernel.testing import invoke, modules_imported_by

from .conftest import Flaky, write_replay
from .parity import Outcome, assert_same


@pytest.mark.parametrize("args", [("--help",), ("plugins", "list"), ("runtime-plan",)])
def test_commands_do_not_import_langgraph(tmp_path, args):
    modules = modules_imported_by(args, tmp_path)
    assert "tradekernel.cli" in modules
    if args == ("plugins", "list"):
        assert "tradekernel_langgraph" in modules  # the plugin was loaded, langgraph was not
    assert not {m for m in modules if m == "langgraph" or m.startswith("langgraph.")}


def test_importing_the_plugin_does_not_import_langgraph_building_the_runtime_does(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nruntime = "langgraph"\nmetrics_sinks = []\n'
    )
    code = (
        "import sys, tradekernel_langgraph\nfrom tradekernel.api import Kernel, Settings\n"
        f"k = Kernel(Settings.load({str(config)!r}))\n"
        "assert 'langgraph' not in sys.modules\nk.component('runtime')\n"
        "print('langgraph' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "True", result.stderr


def test_runtime_plan_draws_the_compiled_graph(kernel_factory):
    path = kernel_factory.write_config('[kernel]\nstate_dir = "{state_dir}"\n')
    result = invoke(["--config", str(path), "runtime-plan", "--runtime", "langgraph"])
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("---") or "graph TD" in text
    for node in ("hydrate", "scan", "strategize", "guard", "approve", "execute", "report"):
        assert node in text
    assert "__start__" in text and "__end__" in text
    assert "-.->" in text  # the routers: conditional edges
    assert not (kernel_factory.directory / "state" / "langgraph.sqlite").exists()


def test_an_unknown_runtime_is_a_configuration_error(make_kernel):
    kernel, _ = make_kernel("langgrpah")
    with Runtime(kernel) as rt, pytest.raises(Exception) as err:
        rt.start()
    assert "[components] runtime" in str(err.value) and "langgrpah" in str(err.value)


@pytest.mark.parametrize(("error", "retried"), [(ValueError, True), (KeyError, True)])
def test_value_errors_are_retried_as_the_spec_says(make_kernel, error, retried):
    """LangGraph's own default skips ValueError and friends; the spec retries them."""

    class Failing(Flaky):
        def advance(self):
            if self.failures:
                self.failures -= 1
                raise error("bad bar")  # a fresh one: a parameter would keep its traceback
            return self.feed.advance()

    flaky = Failing(1)
    kernel, rec = make_kernel(
        "langgraph",
        strategist="hold",
        plugins=((flaky, "flaky"),),
        environ={"TRADEKERNEL_COMPONENTS__MARKET_DATA": "flaky"},
    )
    with Runtime(kernel) as rt:
        rt.start()
        rt.run_cycle()
    actions = [e.fields["action"] for e in rec.of("commander", "route")]
    assert ("retry" in actions) is retried
    assert rec.of("commander", "end")[-1].fields["action"] == "end"


def test_a_configuration_error_is_not_retried(make_kernel):
    from tradekernel import hookimpl
    from tradekernel.api import ConfigError

    class Misconfigured:
        before = "strategize"

        def run(self, state):
            raise ConfigError("[node.misconfigured] url: not a URL")

        @hookimpl
        def register_nodes(self, register):
            register("misconfigured", lambda config, ctx: self)

    kernel, rec = make_kernel(
        "langgraph",
        strategist="hold",
        plugins=((Misconfigured(), "misconfigured"),),
        environ={"TRADEKERNEL_COMPONENTS__NODES": '["misconfigured"]'},
    )
    with Runtime(kernel) as rt:
        rt.start()
        rt.run_cycle()
    routes = rec.of("commander", "route")
    assert [e.fields["action"] for e in routes] == ["route", "cancel"]
    assert routes[-1].fields["node"] == "misconfigured"


def test_each_cycle_is_checkpointed_as_its_own_thread(make_kernel, monkeypatch):
    import tradekernel_langgraph.runtime as lg

    monkeypatch.setattr(lg, "KEEP_CYCLES", 3)
    kernel, _ = make_kernel("langgraph", bars=60)
    with Runtime(kernel) as rt:
        states = run_cycles(rt, cycles=5)
        engine = kernel.component("runtime")
        last = states[-1]
        saved = engine._saver.get_tuple({"configurable": {"thread_id": last.cycle_id}})
        values = saved.checkpoint["channel_values"]
        assert values["cycle_id"] == last.cycle_id
        assert values["candidates"] == last.candidates
        account = values["account"]
        assert account["__type__"] == "Account" and account["equity"] == last.account.equity
    path = kernel.settings.state_dir / lg.CHECKPOINTS
    with sqlite3.connect(path) as conn:
        threads = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert threads == {s.cycle_id for s in states[-3:]}


def test_a_checkpoint_that_cannot_be_written_does_not_stop_the_cycle(make_kernel, monkeypatch):
    from langgraph.checkpoint.sqlite import SqliteSaver

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(SqliteSaver, "put", broken)
    kernel, rec = make_kernel("langgraph", bars=60)
    with Runtime(kernel) as rt:
        states = run_cycles(rt, cycles=3)
    assert len(states) == 3
    ends = rec.of("commander", "end")
    assert [e.fields["action"] for e in ends] == ["end"] * 3
    assert calls, "the checkpoint was never written"


def test_backtest_with_the_langgraph_runtime_gives_the_same_numbers(kernel_factory, tmp_path):
    data = write_replay(tmp_path / "data")
    path = kernel_factory.write_config(
        '[kernel]\nstate_dir = "{state_dir}"\n[components]\nmetrics_sinks = []\n'
    )
    base = ["--config", str(path), "backtest", "--strategist", "sma-cross", "--data", str(data)]
    runs = {}
    for runtime in ("native", "langgraph"):
        result = invoke([*base, "--json", "--no-record", "--runtime", runtime])
        assert result.exit_code == 0, result.stderr
        runs[runtime] = json.loads(result.stdout)
    timing = {"elapsed_s", "bars_per_second"}
    native, langgraph = ({k: v for k, v in r.items() if k not in timing} for r in runs.values())
    assert native == langgraph
    assert native["bars"] == 120 and native["trades"]


def test_the_harness_names_the_first_differing_event():
    a = Outcome([], [], [], [], [("hydrate", "skill", {}), ("commander", "end", {"x": 1})])
    b = Outcome([], [], [], [], [("hydrate", "skill", {}), ("commander", "end", {"x": 2})])
    with pytest.raises(AssertionError, match=r"event 1 differs: native commander\.end"):
        assert_same(a, b)
    c = Outcome([], [], [], [], [("hydrate", "skill", {})])
    with pytest.raises(AssertionError, match="event 1 differs: native has 2 events"):
        assert_same(a, c)
    d = Outcome([], [{"to": "proposed"}], [], [], [])
    with pytest.raises(AssertionError, match="journal row 0 differs"):
        assert_same(Outcome([], [{"to": "approved"}], [], [], []), d)


RUN_CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]
notifiers = []
runtime = "langgraph"

[runtime]
watchlist = ["AAA", "BBB"]

[market_data.synthetic]
symbols = ["AAA", "BBB"]
bars = 100000

[strategist.sma-cross]
fast = 3
slow = 8

[guard.max_order_notional]
limit = 50000
"""


def test_sigterm_mid_run_under_langgraph_leaves_a_consistent_store(tmp_path):
    import signal
    import time

    cfg = tmp_path / "plugins.toml"
    cfg.write_text(RUN_CONFIG.format(state=tmp_path / "state"))
    tk = [sys.executable, "-m", "tradekernel", "--config", str(cfg)]
    proc = subprocess.Popen(
        [*tk, "run", "--every", "0.01s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it has traded at least once
        line = proc.stdout.readline()
        if "submitted=1" in line or "submitted=2" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped: signal" in out
    verify = subprocess.run([*tk, "journal", "verify"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    stuck = subprocess.run(
        [*tk, "intents", "list", "--state", "executing", "--json"], capture_output=True, text=True
    )
    assert json.loads(stuck.stdout)["intents"] == []
    assert (tmp_path / "state" / "langgraph.sqlite").exists()


def test_backtest_refuses_an_empty_runtime_name(kernel_factory, tmp_path):
    data = write_replay(tmp_path / "data", days=30)
    path = kernel_factory.write_config('[kernel]\nstate_dir = "{state_dir}"\n')
    base = ["--config", str(path), "backtest", "--strategist", "sma-cross", "--data", str(data)]
    result = invoke([*base, "--no-record", "--runtime", ""])
    assert result.exit_code == 2 and "[components] runtime" in result.stderr
