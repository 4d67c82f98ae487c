"""Node latency budgets: timed from the commander's events (no runtime timer), over
budget as ``budget.node_over``, one ``budget.nodes`` per cycle feeding the
``node_latency`` SLO, in a real kernel with an injected clock."""

from __future__ import annotations

from datetime import timedelta

from tradekernel.api import Event, Kernel, iter_records, read_events, validate_event
from tradekernel_ops.budgets import OBSERVER
from tradekernel_ops.budgets.timer import NodeTimer
from tradekernel_ops.slo import Classifier

from .conftest import T0

NODES = [("hydrate", 0.05), ("scan", 0.01), ("strategize", 1.5), ("report", 0.02)]


def events(start, cycle, timings):
    out = [
        Event("commander", "route", {"node": timings[0][0], "action": "route"}, start, "", cycle)
    ]
    at = start
    for i, (node, seconds) in enumerate(timings):
        if node == "retry":
            out.append(
                Event(
                    "commander",
                    "route",
                    {"node": timings[i - 1][0], "action": "retry"},
                    at,
                    "",
                    cycle,
                )
            )
            continue
        at = at + timedelta(seconds=seconds)
        nxt = timings[i + 1][0] if i + 1 < len(timings) else "__end__"
        out.append(Event("commander", "transition", {"node": node, "next": nxt}, at, "", cycle))
    out.append(Event("commander", "end", {"node": "report", "action": "end"}, at, "", cycle))
    return out


def test_the_timer_flags_only_the_node_over_its_budget():
    timer = NodeTimer({"hydrate": 0.2, "strategize": 1.0})
    out = [t for e in events(T0, "c1", NODES) for t in timer.observe(e)]
    assert out == [
        ("node_over", "warning", {"node": "strategize", "elapsed_ms": 1500.0, "budget_ms": 1000.0}),
        (
            "nodes",
            "debug",
            {
                "timed": 2,
                "over": ["strategize"],
                "elapsed_ms": {"hydrate": 50.0, "strategize": 1500.0},
                "budget_ms": {"hydrate": 200.0, "strategize": 1000.0},
            },
        ),
    ]
    fast = [("hydrate", 0.2), ("strategize", 0.999)]
    assert [t for e in events(T0, "c2", fast) for t in timer.observe(e)] == [
        (
            "nodes",
            "debug",
            {
                "timed": 2,
                "over": [],
                "elapsed_ms": {"hydrate": 200.0, "strategize": 999.0},
                "budget_ms": {"hydrate": 200.0, "strategize": 1000.0},
            },
        )
    ]


def test_retries_count_in_the_node_and_other_cycles_or_stages_are_ignored():
    timer = NodeTimer({"hydrate": 0.2})
    timings = [("hydrate", 0.15), ("retry", 0), ("hydrate", 0.1)]
    # a retry route is not a new node: the second transition out of hydrate is timed
    # from the first one's end (0.1 s), and the first stays under budget
    out = [t for e in events(T0, "c", timings[:1]) for t in timer.observe(e)]
    assert out == [
        (
            "nodes",
            "debug",
            {
                "timed": 1,
                "over": [],
                "elapsed_ms": {"hydrate": 150.0},
                "budget_ms": {"hydrate": 200.0},
            },
        )
    ]
    stray = Event("commander", "transition", {"node": "hydrate", "next": "scan"}, T0, "", "other")
    assert timer.observe(stray) == []
    assert timer.observe(Event("report", "cycle", {}, T0, "", "c")) == []


def test_a_clock_stepping_back_or_hostile_fields_give_no_sample():
    timer = NodeTimer({"hydrate": 0.2})
    back = [("hydrate", -5.0)]
    assert [t for e in events(T0, "c", back) for t in timer.observe(e)] == []
    timer.observe(Event("commander", "route", {"node": ["x"], "action": "route"}, T0, "", "c"))
    assert (
        timer.observe(Event("commander", "transition", {"node": None, "next": 3}, T0, "", "c"))
        == []
    )
    assert timer.observe(Event("commander", "end", "not a dict", T0, "", "c")) == []


def test_the_running_agent_emits_budget_events_that_feed_the_slo(load):
    settings = load(
        '[budgets.nodes]\nstrategize = "1s"\n'
        '[slo.objectives.nodes]\nindicator = "node_latency"\ntarget = 0.9\n'
    )
    kernel = Kernel(settings)
    try:
        assert kernel.observer(OBSERVER) is not None
        for n in range(3):
            start = T0 + timedelta(minutes=n)
            timings = NODES if n == 1 else [("hydrate", 0.05), ("strategize", 0.5)]
            for e in events(start, f"c{n}", timings):
                kernel.events.clock = lambda at=e.ts: at
                kernel.dispatch_event(e)  # as the runtime's bus hands them out
    finally:
        kernel.close()
    budget = list(read_events(settings, stage="budget"))
    assert [(e.kind, e.fields.get("node")) for e in budget] == [
        ("nodes", None),
        ("node_over", "strategize"),
        ("nodes", None),
        ("nodes", None),
    ]
    assert budget[1].fields == {"node": "strategize", "elapsed_ms": 1500.0, "budget_ms": 1000.0}
    records = [r.data for r in iter_records(settings) if r.data and r.data["stage"] == "budget"]
    assert all(validate_event(r) == [] for r in records)
    classifier = Classifier()
    samples = [s for e in budget for s in classifier.samples(e)]
    assert [(s.indicator, s.good) for s in samples] == [
        ("node_latency", True),
        ("node_latency", False),
        ("node_latency", True),
    ]


def test_no_budgets_no_observer(load):
    kernel = Kernel(load(""))
    try:
        assert kernel.observer(OBSERVER) is None
    finally:
        kernel.close()
