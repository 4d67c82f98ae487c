"""The cycle graph as data: what each node writes, plugin nodes, and ``runtime-plan``."""

from __future__ import annotations

import copy
import json

import attrs
import pytest
from tradekernel import hookimpl
from tradekernel.errors import ConfigError
from tradekernel.models import SkillResult
from tradekernel.runtime import GRAPH, Runtime, run_cycles
from tradekernel.runtime.graph import INSERTION_POINTS, NodeSpec
from tradekernel.runtime.state import CycleState
from tradekernel.testing import invoke

from .conftest import Scripted

NOTIONAL = """
[guard.max_order_notional]
limit = 5000
"""
FIELDS = [f.name for f in attrs.fields(CycleState)]


class Analyst:
    """A plugin's node before strategize: a skill result the strategist reads."""

    def __init__(self, before: str = "strategize") -> None:
        self.before = before
        self.role = "Analyst"
        self.seen: list[list[str]] = []

    def run(self, state):
        self.seen.append(list(state.candidates))
        return {"analyst.trend": SkillResult(name="analyst.trend", ok=True, data={"up": 1})}

    @hookimpl
    def register_nodes(self, register):
        register("trend-analyst", lambda config, ctx: self, description="Reads the trend.")


def _checked(graph, log):
    """``graph`` with every node checking that it writes only the keys it declares."""

    def wrap(node: NodeSpec) -> NodeSpec:
        def run(runtime, state):
            before = {f: copy.copy(getattr(state, f)) for f in FIELDS}
            node.run(runtime, state)
            changed = {f for f in FIELDS if getattr(state, f) != before[f]}
            log.append((node.name, changed))
            assert changed <= set(node.writes), f"{node.name} wrote {changed - set(node.writes)}"

        return attrs.evolve(node, run=run)

    return attrs.evolve(graph, nodes=tuple(wrap(n) for n in graph.nodes))


def test_each_node_writes_only_what_the_spec_says(make_kernel):
    kernel, _ = make_kernel(approval="auto", extra=NOTIONAL)
    log: list[tuple[str, set[str]]] = []
    with Runtime(kernel) as runtime:
        runtime._graph = _checked(runtime.graph(), log)
        states = run_cycles(runtime, cycles=120)
    assert any(s.submitted for s in states) and any(s.fills for s in states)
    written = {name for name, changed in log if changed}
    # report re-reads the account hydrate read: equal, so unchanged here
    assert {"hydrate", "scan", "strategize", "guard", "execute", "monitor"} <= written


def test_the_reads_and_writes_name_state_keys():
    keys = set(FIELDS)
    for node in GRAPH.nodes:
        assert set(node.writes) <= keys, node.name
        assert set(node.reads) - {"*"} <= keys, node.name
    assert set(GRAPH.reducers) <= keys


def test_a_plugin_node_runs_before_strategize_and_the_strategist_reads_it(make_kernel):
    analyst, scripted = Analyst(), Scripted()
    seen = []
    scripted.script = [lambda inputs: seen.append(dict(inputs.skill_results)) or _hold()]
    kernel, rec = make_kernel(
        strategist="scripted",
        extra=NOTIONAL,
        plugins=((analyst, "analyst"), (scripted, "scripted")),
        environ={"TRADEKERNEL_COMPONENTS__NODES": '["trend-analyst"]'},
    )
    with Runtime(kernel) as runtime:
        names = [n.name for n in runtime.graph().nodes]
        assert names.index("trend-analyst") == names.index("strategize") - 1
        runtime.start()
        runtime.run_cycle()
    assert analyst.seen == [["AAA", "BBB"]]
    assert seen[0]["analyst.trend"].data == {"up": 1}
    edges = [(e.fields["node"], e.fields["next"]) for e in rec.of("commander", "transition")]
    assert ("scan", "trend-analyst") in edges and ("trend-analyst", "strategize") in edges


def _hold():
    from tradekernel.models import Decision

    return Decision.hold("seen")


def test_a_plugin_node_returning_garbage_cancels_the_cycle(make_kernel):
    analyst = Analyst()
    analyst.run = lambda state: {"x": "not a skill result"}
    kernel, rec = make_kernel(
        extra=NOTIONAL,
        plugins=((analyst, "analyst"),),
        environ={"TRADEKERNEL_COMPONENTS__NODES": '["trend-analyst"]'},
    )
    with Runtime(kernel) as runtime:
        runtime.start()
        runtime.run_cycle()
    cancel = rec.of("commander", "route")[-1]
    assert cancel.fields["action"] == "cancel" and cancel.fields["node"] == "trend-analyst"
    assert "SkillResult" in cancel.fields["reason"]


@pytest.mark.parametrize("before", ["execute", "", "nowhere"])
def test_a_plugin_node_elsewhere_than_an_insertion_point_is_refused(make_kernel, before):
    kernel, _ = make_kernel(
        extra=NOTIONAL,
        plugins=((Analyst(before), "analyst"),),
        environ={"TRADEKERNEL_COMPONENTS__NODES": '["trend-analyst"]'},
    )
    with Runtime(kernel) as runtime, pytest.raises(ConfigError) as err:
        runtime.start()
    assert "[components] nodes" in str(err.value) and str(INSERTION_POINTS[0]) in str(err.value)


def test_a_plugin_node_named_like_a_kernel_node_is_refused(make_kernel):
    class Scan(Analyst):
        @hookimpl
        def register_nodes(self, register):
            register("scan", lambda config, ctx: self)

    kernel, _ = make_kernel(
        extra=NOTIONAL,
        plugins=((Scan(), "scan-node"),),
        environ={"TRADEKERNEL_COMPONENTS__NODES": '["scan"]'},
    )
    with Runtime(kernel) as runtime, pytest.raises(ConfigError, match="already has a node"):
        runtime.start()


def test_runtime_plan_json_has_nodes_edges_and_reducers():
    result = invoke(["runtime-plan", "--json"])
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [n["node"] for n in plan["nodes"]] == [n.name for n in GRAPH.nodes]
    hydrate = plan["nodes"][0]
    assert hydrate["retry_on"] == ["Exception"]
    assert hydrate["except_on"] == ["ConfigError", "RefusedError"]
    assert {"from": "report", "to": "end", "when": "always"} in plan["edges"]
    assert plan["reducers"]["notes"] == "append"


def test_runtime_plan_with_a_runtime_that_draws_nothing_prints_the_spec(kernel_factory):
    path = kernel_factory.write_config("")
    result = invoke(["--config", str(path), "runtime-plan", "--runtime", "native"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == invoke(["--config", str(path), "runtime-plan"]).stdout
    result = invoke(["--config", str(path), "runtime-plan", "--runtime", "native", "--json"])
    assert [n["node"] for n in json.loads(result.stdout)["nodes"]] == [n.name for n in GRAPH.nodes]


@pytest.mark.parametrize("name", ["", " "])
def test_runtime_plan_refuses_an_empty_runtime_name(kernel_factory, name):
    path = kernel_factory.write_config("")
    result = invoke(["--config", str(path), "runtime-plan", "--runtime", name])
    assert result.exit_code == 2 and "option --runtime: an empty runtime name" in result.stderr
