"""An idle cycle (no new intent, no open order) writes nothing to the state store, reads
it once, and builds no event that nothing consumes; a long run keeps no cycle's state."""

from __future__ import annotations

import gc
import sqlite3
import textwrap

from tradekernel.kernel import Kernel
from tradekernel.models import Decision
from tradekernel.plugins import PluginRegistry
from tradekernel.runtime import CycleState, CycleTotals, Runtime, run_cycles
from tradekernel.settings import Settings
from tradekernel.testing import Recorder

from .conftest import BASE, Scripted, buy

READS = ("SELECT", "PRAGMA", "WITH")


def _statements(runtime: Runtime, cycles: int) -> list[str]:
    seen: list[str] = []
    runtime.store.conn.set_trace_callback(seen.append)
    try:
        for _ in range(cycles):
            runtime.run_cycle()
    finally:
        runtime.store.conn.set_trace_callback(None)
    return seen


def test_an_idle_cycle_writes_nothing_and_reads_the_state_store_once(make_kernel):
    kernel, _ = make_kernel(strategist="hold", guards="[]")
    with Runtime(kernel) as runtime:
        runtime.start()
        for _ in range(3):
            runtime.run_cycle()
        seen = _statements(runtime, 20)
    writes = [s for s in seen if not s.lstrip().upper().startswith(READS)]
    assert writes == []
    assert len(seen) == 20  # one read per cycle
    assert all(s.strip().upper() == "PRAGMA DATA_VERSION" for s in seen)


def test_a_cycle_after_a_change_reads_again_and_trades(make_kernel):
    """The reads an idle cycle skips come back as soon as anything is written: an order
    placed after idle cycles goes through, is monitored and fills."""
    scripted = Scripted()
    kernel, rec = make_kernel(
        strategist="scripted", plugins=((scripted, "scripted"),), extra=NOTIONAL
    )
    with Runtime(kernel) as runtime:
        runtime.start()
        scripted.script = [Decision.hold("wait")] * 4 + [buy()]
        states = [runtime.run_cycle() for _ in range(8)]
    assert [len(s.submitted) for s in states[:5]] == [0, 0, 0, 0, 1]
    assert sum(s.fills for s in states) == 1
    assert rec.of("monitor", "fill")


def test_an_operators_approval_from_another_connection_is_executed(make_kernel):
    """An intent approved by another process while the agent idles is picked up."""
    scripted = Scripted()
    kernel, _ = make_kernel(
        approval="manual",
        strategist="scripted",
        plugins=((scripted, "scripted"),),
        extra=NOTIONAL,
    )
    from tradekernel.approval import ApprovalService
    from tradekernel.store import IntentState, Store

    with Runtime(kernel) as runtime:
        runtime.start()
        scripted.script = [buy()]
        first = runtime.run_cycle()
        assert first.pending
        for _ in range(3):
            runtime.run_cycle()
        other = Store.open(kernel.settings.state_dir)
        try:
            ApprovalService(other, kernel.settings).approve(first.pending[0], actor="op")
        finally:
            other.close()
        states = [runtime.run_cycle() for _ in range(2)]
        assert [i for s in states for i in s.submitted] == first.pending
        assert runtime.store.get(first.pending[0]).state is IntentState.SUBMITTED


NOTIONAL = """
[guard.max_order_notional]
limit = 5000
"""


def _bare_kernel(tmp_path, sinks: str = "[]") -> Kernel:
    """A kernel whose only ``on_event`` observers are the kernel's sink fan-out and the
    notification dispatcher (the example plugin of contrib/ counts every event)."""
    config = textwrap.dedent(BASE).format(approval="auto", strategist="hold", guards="[]")
    config = config.replace("metrics_sinks = []", f"metrics_sinks = {sinks}")
    config = config.replace("notifiers = []", 'notifiers = ["log"]')
    config = config.replace("{state_dir}", str(tmp_path / "state"))
    config += '\n[plugins]\nblock = ["tradekernel-contrib-symbol-blocklist"]\n'
    path = tmp_path / "plugins.toml"
    path.write_text(config)
    settings = Settings.load(path, environ={})
    return Kernel(settings, PluginRegistry(block=settings.plugins.block).load())


def test_events_nothing_consumes_are_not_built(tmp_path):
    with _bare_kernel(tmp_path) as kernel:
        assert kernel.emit("commander", "transition", node="hydrate") is None
        assert kernel.wants_event("commander", "transition", "info") is False
        # [notify] routes send critical events (and a few kinds) to the notifiers
        assert kernel.wants_event("control", "kill_switch", "critical") is True
        recorder = Recorder()
        kernel.add_observer(recorder, "test-recorder")
        event = kernel.emit("commander", "transition", node="hydrate")
        assert event is not None and recorder.events == [event]


def test_a_selected_metrics_sink_consumes_every_event(tmp_path):
    with _bare_kernel(tmp_path, '["jsonl"]') as kernel:
        assert kernel.emit("commander", "transition", node="hydrate") is not None


def test_the_flat_fast_path_scrubs_like_scrub(make_kernel):
    kernel, _ = make_kernel(environ={"TK_SECRET": "s3cr3t-token-value-42"})
    secret = kernel.settings.secret("TK_SECRET")
    bus = kernel.events
    fields = {
        "text": f"failed with {secret}",
        "api_key": "abc",
        "token_count": 5,
        "prompt_tokens": 7,
        "empty": "",
        "none": None,
        "price": 1.5,
        "nested": {"password": "x", "note": secret, "n": [secret, 1]},
        "items": [secret, None],
        "error": ValueError(secret),
        "flag": True,
    }
    assert bus._scrub_fields(fields) == bus.scrub(fields)
    assert secret not in repr(bus._scrub_fields(fields))


def test_a_long_run_keeps_no_cycle_state(make_kernel):
    kernel, _ = make_kernel(strategist="hold", guards="[]")
    totals = CycleTotals()
    with Runtime(kernel) as runtime:
        kept = run_cycles(runtime, cycles=200, keep=False, totals=totals)
        gc.collect()
        alive = sum(1 for o in gc.get_objects() if isinstance(o, CycleState))
    assert kept == [] and totals.cycles == 200
    assert alive <= 1
    assert totals.last_account is not None


def test_sqlite_trace_sees_every_statement(tmp_path):
    """The counting above relies on the trace callback seeing reads too."""
    conn = sqlite3.connect(tmp_path / "x.db")
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    conn.execute("PRAGMA data_version").fetchone()
    assert seen == ["PRAGMA data_version"]
