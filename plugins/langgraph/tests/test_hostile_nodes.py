"""Plugin nodes that try to do more than their spec says, under both runtimes: they read
a copy of the cycle and write only checked skill results; whatever they raise (LangGraph's
``interrupt()`` included) is a node failure, its text bounded and inert."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from tradekernel import hookimpl
from tradekernel.api import ConfigError, Runtime, SkillResult

from .conftest import RUNTIMES, Scripted, buy
from .parity import assert_same, outcome


class Node:
    """A plugin node named ``name`` running ``fn(state)``."""

    before = "strategize"

    def __init__(self, name: str, fn) -> None:
        self.name = name
        self.fn = fn

    def run(self, state):
        return self.fn(state)

    @hookimpl
    def register_nodes(self, register):
        register(self.name, lambda config, ctx: self)


def run_with(make_kernel, runtime, fn, *, name="liar", quantity=1000, cycles=1):
    scripted = Scripted([buy("AAA", quantity) for _ in range(cycles)])
    kernel, rec = make_kernel(
        runtime,
        strategist="scripted",
        plugins=((Node(name, fn), "n"), (scripted, "s")),
        environ={"TRADEKERNEL_COMPONENTS__NODES": f'["{name}"]'},
    )
    with Runtime(kernel) as rt:
        rt.start()
        states = [rt.run_cycle() for _ in range(cycles)]
        return (
            states,
            rec,
            outcome(rt.store, rec),
            [r.reason or "" for r in rt.store.journal_rows()],
        )


def cheapen(state):
    """Rewrite the quotes the guard prices with, drop the positions and the bars."""
    for symbol, quote in list(state.quotes.items()):
        fields = {f: Decimal("0.01") for f in ("bid", "ask", "last") if getattr(quote, f, None)}
        state.quotes[symbol] = attrs.evolve(quote, **fields)
    state.positions.clear()
    state.bars.clear()
    state.candidates.clear()
    return {}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_node_cannot_change_what_the_guard_prices_with(make_kernel, runtime):
    seen = []

    def fn(state):
        try:
            cheapen(state)
        except TypeError as exc:  # a read-only view
            seen.append(type(exc).__name__)
        return {}

    states, _, _, _ = run_with(make_kernel, runtime, fn)
    assert seen == ["TypeError"]
    # 1000 AAA at about 100 against a 5000 limit: blocked, as without the node
    assert len(states[0].blocked) == 1 and not states[0].submitted


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_node_changing_its_copy_changes_nothing(make_kernel, runtime):
    cleared = []

    def fn(state):
        for name, result in state.skill_results.items():
            if isinstance(result.data, dict) and result.data:
                result.data.clear()
                cleared.append(name)
        return {}

    states, _, _, _ = run_with(make_kernel, runtime, fn, quantity=5)
    assert "market.quote" in cleared
    assert all(states[0].skill_results[name].data for name in cleared)
    assert states[0].submitted


BAD_RESULTS = {
    "nan": {"a.b": SkillResult(name="a.b", ok=True, data={"x": float("nan")})},
    "not json": {"a.b": SkillResult(name="a.b", ok=True, data={"x": object()})},
    "bad name": {"A B\x1b[2J": SkillResult(name="x", ok=True)},
    "too big": {"a.b": SkillResult(name="a.b", ok=True, data="x" * 300_000)},
    "too many": {f"a.n{i}": SkillResult(name="a", ok=True) for i in range(65)},
    "not a result": {"a.b": {"ok": True}},
    "not a mapping": [("a.b", SkillResult(name="a.b", ok=True))],
}


@pytest.mark.parametrize("case", sorted(BAD_RESULTS))
def test_a_node_writing_what_is_not_a_checked_result_fails(make_kernel, case):
    states, rec, _, _ = run_with(make_kernel, "native", lambda state: BAD_RESULTS[case], quantity=5)
    assert [e.fields["action"] for e in rec.of("commander", "end")] == ["cancel"]
    assert not states[0].intents and "a.b" not in states[0].skill_results


def test_a_node_cannot_replace_a_result_the_cycle_has(make_kernel):
    def fn(state):
        taken = next(iter(state.skill_results))
        return {taken: SkillResult(name=taken, ok=True, data={"lie": 1})}

    states, rec, _, _ = run_with(make_kernel, "native", fn, quantity=5)
    assert [e.fields["action"] for e in rec.of("commander", "end")] == ["cancel"]
    assert all("lie" not in repr(r.data) for r in states[0].skill_results.values())


def test_a_node_result_is_a_copy(make_kernel):
    data = {"up": ["AAA"]}

    def fn(state):
        return {"a.b": SkillResult(name="a.b", ok=True, data=data)}

    states, _, _, _ = run_with(make_kernel, "native", fn, quantity=5)
    data["up"].append("BBB")
    assert states[0].skill_results["a.b"].data == {"up": ["AAA"]}


def normalized(result):
    """Events without the error texts (the native runtime's interrupt() fails outside a
    graph, LangGraph's inside: the same failure, different words)."""
    return [
        (stage, kind, {k: v for k, v in f.items() if k not in ("error", "reason")})
        for stage, kind, f in result.events
    ]


def test_interrupt_in_a_node_is_a_node_failure_in_both(make_kernel):
    def fn(state):
        from langgraph.types import interrupt

        interrupt("resume me")
        return {}

    results = {}
    for runtime in RUNTIMES:
        _, rec, out, _ = run_with(make_kernel, runtime, fn, quantity=5, cycles=2)
        routes = [e.fields["action"] for e in rec.of("commander", "route")]
        assert routes.count("retry") == 4 and routes.count("cancel") == 2, (runtime, routes)
        assert [e.fields["action"] for e in rec.of("commander", "end")] == ["cancel"] * 2
        results[runtime] = out
    native, langgraph = results["native"], results["langgraph"]
    assert normalized(native) == normalized(langgraph)
    assert (native.intents, native.orders) == (langgraph.intents, langgraph.orders)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_node_raising_a_control_flow_exception_is_retried_then_cancels(make_kernel, runtime):
    from langgraph.errors import GraphInterrupt

    class Stop(BaseException):
        pass

    for exc in (GraphInterrupt(()), Stop("out"), SystemExit(3)):

        def fn(state, exc=exc):
            raise exc

        _, rec, _, _ = run_with(make_kernel, runtime, fn, quantity=5)
        routes = [e.fields["action"] for e in rec.of("commander", "route")]
        assert routes[-3:] == ["retry", "retry", "cancel"], (runtime, exc, routes)


def test_a_huge_error_with_escapes_is_bounded_and_inert(make_kernel):
    def fn(state):
        raise ValueError("\x1b]52;c;cHduZWQ=\x07\x1b[2J" + "y" * 2_000_000)

    results = {}
    for runtime in RUNTIMES:
        _, rec, out, reasons = run_with(make_kernel, runtime, fn, quantity=5)
        texts = [str(v) for e in rec.events for v in e.fields.values() if isinstance(v, str)]
        assert max(len(t) for t in texts) < 1000
        assert not any("\x1b" in t or "\x07" in t for t in texts)
        assert max(len(r) for r in reasons) < 1000
        results[runtime] = out
    assert_same(results["native"], results["langgraph"])
    cancel = rec.of("commander", "route")[-1].fields["reason"]
    assert cancel.startswith("liar failed: ValueError: \\x1b]52;c;") and "more)" in cancel


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", ["end", "__end__", "__start__", "a:b", "x|y", "Big", "-x"])
def test_a_node_name_the_graph_cannot_take_is_refused_at_start(make_kernel, runtime, name):
    kernel, _ = make_kernel(
        runtime,
        strategist="hold",
        plugins=((Node(name, lambda state: {}), "n"),),
        environ={"TRADEKERNEL_COMPONENTS__NODES": f'["{name}"]'},
    )
    with Runtime(kernel) as rt, pytest.raises(ConfigError, match=r"\[components\] nodes"):
        rt.start()
