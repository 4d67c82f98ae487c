"""LangGraph's checkpoint database is an inspection aid: no secret in it, pruned from the
database across restarts, and a locked, corrupt or linked file never stops a cycle nor
writes into the kernel's store."""

from __future__ import annotations

import sqlite3

import pytest
from tradekernel import hookimpl
from tradekernel.api import ConfigError, Runtime, run_cycles

from .conftest import Scripted, buy

SECRET = "sk-SUPERSECRET-4242424242"


class Leaky:
    """A node whose error echoes the token it was built with (an HTTP client's message)."""

    before = "strategize"

    def __init__(self) -> None:
        self.token = ""

    def run(self, state):
        raise ValueError(f"upstream said: bad token {self.token}")

    @hookimpl
    def register_nodes(self, register):
        def build(config, ctx):
            self.token = ctx.secret("LEAKY_TOKEN")
            return self

        register("leaky", build)


def files(state_dir):
    return b"".join(p.read_bytes() for p in state_dir.iterdir() if p.is_file())


def test_a_failing_node_echoing_a_secret_leaves_it_out_of_the_checkpoint(make_kernel):
    kernel, rec = make_kernel(
        "langgraph",
        strategist="hold",
        plugins=((Leaky(), "leaky"),),
        environ={"TRADEKERNEL_COMPONENTS__NODES": '["leaky"]', "LEAKY_TOKEN": SECRET},
    )
    with Runtime(kernel) as rt:
        rt.start()
        rt.run_cycle()
    assert [e.fields["action"] for e in rec.of("commander", "end")] == ["cancel"]
    path = kernel.settings.state_dir / "langgraph.sqlite"
    with sqlite3.connect(path) as conn:
        errors = conn.execute("SELECT value FROM writes WHERE channel = '__error__'").fetchall()
    assert errors and b"bad token" in errors[0][0]  # the error is there, redacted
    assert SECRET.encode() not in files(kernel.settings.state_dir)
    assert all(SECRET not in repr(e.fields) for e in rec.events)


def threads(state_dir):
    with sqlite3.connect(state_dir / "langgraph.sqlite") as conn:
        return conn.execute("SELECT COUNT(DISTINCT thread_id) FROM checkpoints").fetchone()[0]


def test_retention_counts_the_database_across_restarts(make_kernel, monkeypatch):
    import tradekernel_langgraph.runtime as lg

    monkeypatch.setattr(lg, "KEEP_CYCLES", 3)
    for _ in range(4):  # a cron-style agent: one cycle per process
        kernel, _ = make_kernel("langgraph", bars=60)
        with Runtime(kernel) as rt:
            run_cycles(rt, cycles=2)
        kernel.close()
    assert threads(kernel.settings.state_dir) == 3


def test_a_locked_database_skips_the_checkpoint_with_a_warning(make_kernel, monkeypatch):
    import tradekernel_langgraph.runtime as lg

    monkeypatch.setattr(lg, "KEEP_CYCLES", 1)
    monkeypatch.setattr(lg, "BUSY_TIMEOUT", 0.01)
    kernel, rec = make_kernel("langgraph", bars=60)
    with Runtime(kernel) as rt:
        run_cycles(rt, cycles=1)
        other = sqlite3.connect(kernel.settings.state_dir / "langgraph.sqlite", timeout=0.01)
        other.execute("BEGIN EXCLUSIVE")  # an operator inspecting it
        try:
            run_cycles(rt, cycles=2)
        finally:
            other.rollback()
            other.close()
        run_cycles(rt, cycles=1)
    assert [e.fields["action"] for e in rec.of("commander", "end")] == ["end"] * 4
    warned = [e.fields["action"] for e in rec.of("commander", "checkpoint")]
    assert "prune_skipped" in warned and "skipped" in warned
    assert all(e.severity == "warning" for e in rec.of("commander", "checkpoint"))
    assert threads(kernel.settings.state_dir) == 1  # pruned again once free


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_database_is_moved_aside_and_recreated(make_kernel, damage):
    kernel, rec = make_kernel("langgraph", bars=60)
    with Runtime(kernel) as rt:
        run_cycles(rt, cycles=3)
    kernel.close()
    state_dir = kernel.settings.state_dir
    path = state_dir / "langgraph.sqlite"
    good = path.read_bytes()
    for leftover in state_dir.glob("langgraph.sqlite-*"):
        leftover.unlink()
    path.write_bytes(bytes(range(256)) * 20 if damage == "garbage" else good[: len(good) // 2])
    kernel, rec = make_kernel("langgraph", bars=60)
    with Runtime(kernel) as rt:
        rt.start()
        rt.run_cycle()
    [warning] = rec.of("commander", "checkpoint")
    assert warning.fields["action"] == "recreated" and warning.fields["path"] == str(path)
    assert [p.name.split("-")[0] for p in state_dir.glob("langgraph.sqlite.corrupt-*")]
    assert threads(state_dir) == 1


def test_a_linked_database_is_refused_and_the_store_untouched(make_kernel):
    kernel, _ = make_kernel("langgraph", bars=60)
    with Runtime(kernel) as rt:
        rt.start()
    state_dir = kernel.settings.state_dir
    (state_dir / "langgraph.sqlite").unlink(missing_ok=True)
    (state_dir / "langgraph.sqlite").symlink_to("state.db")
    kernel.close()
    kernel, _ = make_kernel("langgraph", bars=60)
    with (
        Runtime(kernel) as rt,
        pytest.raises(ConfigError, match=r"langgraph.sqlite: .*symbolic link"),
    ):
        rt.start()
    with sqlite3.connect(state_dir / "state.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "checkpoints" not in tables and "writes" not in tables


def test_interrupt_is_refused_by_the_checkpointed_graph_too(make_kernel):
    """The fallback: a node stopping the graph without an error is that node's failure."""
    kernel, rec = make_kernel(
        "langgraph", strategist="scripted", plugins=((Scripted([buy()]), "s"),)
    )
    with Runtime(kernel) as rt:
        rt.start()
        engine = kernel.component("runtime")
        step = engine._step

        def stopping(node, reducers):
            inner = step(node, reducers)
            if node.name != "scan":
                return inner

            def run(values):
                from langgraph.types import interrupt

                engine._node = node
                interrupt("stop here")  # past the node wrapper: LangGraph's own control flow

            run.__name__ = node.name
            return run

        engine._step = stopping
        engine._compiled.clear()
        rt.run_cycle()
    ends = rec.of("commander", "end")
    assert [e.fields["action"] for e in ends] == ["cancel"]
    assert rec.of("commander", "route")[-1].fields["node"] == "scan"
