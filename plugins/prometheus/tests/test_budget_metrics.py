"""The budget metrics (docs/operations.md, "Budgets"): computed from the ``budget`` events,
scraped over HTTP; label values from events escaped and bounded."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from tradekernel.api import Event
from tradekernel_prometheus.metrics import LABEL_MAX_CHARS, LABEL_MAX_VALUES, OTHER, EventMetrics

from .conftest import free_port, parse_samples

B = "tradekernel_budget"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return parse_samples(response.text)


def _emit_budgets(kernel) -> None:
    """The budget events with the fields their emitters give them."""
    kernel.emit(
        "budget", "node_over", severity="warning", node="strategize", elapsed_ms=1500.0,
        budget_ms=1000.0,
    )  # fmt: skip
    kernel.emit(
        "budget",
        "nodes",
        severity="debug",
        timed=2,
        over=["strategize"],
        elapsed_ms={"hydrate": 50.0, "strategize": 1500.0},
        budget_ms={"hydrate": 200.0, "strategize": 1000.0},
    )
    kernel.emit("budget", "nodes", severity="debug", timed=1, over=[])  # before elapsed_ms
    for refused in (1, 7):
        kernel.emit(
            "budget", "broker_refused", severity="warning", broker="alpaca", method="orders",
            used=180, limit=180, refused=refused,
        )  # fmt: skip
    kernel.emit("budget", "broker_refused", severity="warning", broker="ccxt", method="fills")
    for node in ("monitor", "monitor", "report"):
        kernel.emit(
            "budget", "read_skipped", severity="warning", node=node, broker="alpaca",
            method="orders", reason="request budget spent",
        )  # fmt: skip
    kernel.emit(
        "budget", "broker_usage", severity="debug", broker="alpaca", limit=180, used=42,
        remaining=138, reserve=18, refused=8, calls={"orders": 40, "submit": 2},
    )  # fmt: skip
    trim = {"strategist": "llm", "tokens_before": 9000, "limit": 6000}
    kernel.emit("budget", "prompt_trimmed", tokens_after=5800, fits=True, **trim)
    kernel.emit("budget", "prompt_trimmed", severity="warning", fits=False, **trim)
    kernel.emit("budget", "prompt_trimmed", severity="warning", fits=True, **trim)  # no candidate
    kernel.emit("budget", "exhausted", severity="warning", scope="usd", used=5, limit=5)


def test_budget_events_become_metrics_served_over_http(make_kernel):
    port = free_port()
    kernel = make_kernel(["prometheus"], f"[metrics_sink.prometheus]\nport = {port}\n")
    _emit_budgets(kernel)
    samples = _scrape(port)

    def value(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    assert value(f"{B}_node_over_total", node="strategize") == 1
    assert (f"{B}_node_over_total", (("node", "hydrate"),)) not in samples
    assert value(f"{B}_node_seconds", node="strategize") == 1.5
    assert value(f"{B}_node_seconds", node="hydrate") == 0.05
    assert value(f"{B}_node_limit_seconds", node="strategize") == 1.0
    assert value(f"{B}_node_limit_seconds", node="hydrate") == 0.2
    assert value(f"{B}_broker_refused_total", broker="alpaca") == 8  # the calls, not the events
    assert value(f"{B}_broker_refused_total", broker="ccxt") == 1  # no count: at least one
    assert value(f"{B}_read_skipped_total", broker="alpaca", node="monitor") == 2
    assert value(f"{B}_read_skipped_total", broker="alpaca", node="report") == 1
    assert value(f"{B}_broker_requests_used", broker="alpaca") == 42
    assert value(f"{B}_broker_requests_limit", broker="alpaca") == 180
    assert value(f"{B}_prompt_trimmed_total", strategist="llm", outcome="trimmed") == 1
    assert value(f"{B}_prompt_trimmed_total", strategist="llm", outcome="hold") == 2
    assert value(f"{B}_exhausted_total", scope="usd") == 1
    kernel.close()


def test_the_latest_cycle_sets_the_node_gauges(make_kernel):
    kernel = make_kernel(["prometheus"])
    for ms in (1500.0, 20.0):
        kernel.emit(
            "budget", "nodes", severity="debug", timed=1, over=[],
            elapsed_ms={"hydrate": ms}, budget_ms={"hydrate": 200.0},
        )  # fmt: skip
    samples = parse_samples(kernel.component("metrics_sink", "prometheus").exposition())
    assert samples[(f"{B}_node_seconds", (("node", "hydrate"),))] == 0.02


def test_the_running_agent_s_node_budgets_reach_the_scrape(make_kernel):
    """The ops plugin's budget observer times the commander's events; its ``budget``
    events feed the sink like any other event."""
    port = free_port()
    kernel = make_kernel(
        ["prometheus"],
        f'[metrics_sink.prometheus]\nport = {port}\n[budgets.nodes]\nstrategize = "1s"\n',
    )
    assert kernel.observer("tradekernel-ops.budgets") is not None
    for n, seconds in enumerate((1.5, 0.25)):
        start = T0 + timedelta(minutes=n)
        cycle = f"c{n}"
        end = start + timedelta(seconds=seconds)
        for event in (
            Event(
                "commander", "route", {"node": "strategize", "action": "route"}, start, "", cycle
            ),
            Event("commander", "transition", {"node": "strategize", "next": "x"}, end, "", cycle),
            Event("commander", "end", {"node": "x", "action": "end"}, end, "", cycle),
        ):
            kernel.events.clock = lambda at=event.ts: at
            kernel.dispatch_event(event)
    samples = _scrape(port)
    assert samples[(f"{B}_node_over_total", (("node", "strategize"),))] == 1
    assert samples[(f"{B}_node_seconds", (("node", "strategize"),))] == 0.25
    assert samples[(f"{B}_node_limit_seconds", (("node", "strategize"),))] == 1.0
    kernel.close()


def test_bad_numbers_in_budget_events_are_skipped(make_kernel):
    kernel = make_kernel(["prometheus"])
    for bad in ("soon", float("nan"), float("inf"), -5, None, [1], {"a": 1}, True):
        kernel.emit("budget", "node_over", node="n", elapsed_ms=bad, budget_ms=bad)
        kernel.emit("budget", "nodes", timed=1, over=[], elapsed_ms={"n": bad}, budget_ms=bad)
        kernel.emit("budget", "broker_refused", broker="b", refused=bad)
        kernel.emit("budget", "broker_usage", broker="b", used=bad, limit=bad)
    kernel.emit("budget", "nodes", timed=1, over=[], elapsed_ms=["n"], budget_ms="x")
    samples = parse_samples(kernel.component("metrics_sink", "prometheus").exposition())
    assert samples[(f"{B}_node_over_total", (("node", "n"),))] == 8
    assert samples[(f"{B}_broker_refused_total", (("broker", "b"),))] == 8  # one each
    gauges = ("node_seconds", "node_limit_seconds", "broker_requests_used", "broker_requests_limit")
    assert not any(name in {f"{B}_{g}" for g in gauges} for name, _ in samples)


def test_label_values_are_bounded_per_label(make_kernel):
    kernel = make_kernel(["prometheus"])
    for n in range(LABEL_MAX_VALUES + 50):
        kernel.emit("budget", "node_over", node=f"node{n}", elapsed_ms=2, budget_ms=1)
        kernel.emit("budget", "read_skipped", node=f"node{n}", broker=f"broker{n}")
    kernel.emit("budget", "node_over", node="node0", elapsed_ms=2, budget_ms=1)  # seen: itself
    samples = parse_samples(kernel.component("metrics_sink", "prometheus").exposition())
    over = {
        dict(labels)["node"]: v
        for (name, labels), v in samples.items()
        if name == f"{B}_node_over_total"
    }
    assert len(over) == LABEL_MAX_VALUES + 1
    assert over[OTHER] == 50 and over["node0"] == 2
    skipped = [k for k in samples if k[0] == f"{B}_read_skipped_total"]
    assert len(skipped) <= LABEL_MAX_VALUES + 1
    kernel.emit("budget", "broker_refused", broker="fresh", refused=1)  # the broker label: full
    # the limit is per label name: the node and broker labels' overflow spends no other's
    kernel.emit("budget", "prompt_trimmed", strategist="llm", tokens_before=9, limit=1)
    text = kernel.component("metrics_sink", "prometheus").exposition()
    assert 'tradekernel_budget_broker_refused_total{broker="_other"} 1.0' in text
    assert 'strategist="llm"' in text


_HOSTILE = st.one_of(
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())),
    st.sampled_from(
        ['a"b\\c\nd', "\x1b[31mred\x1b[0m", "\ud800", "x" * 1000, "<script>", "\u2028", ""]
    ),
    st.integers(),
    st.floats(),
    st.lists(st.integers(), max_size=3),
    st.none(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=_HOSTILE, broker=_HOSTILE, strategist=_HOSTILE)
def test_hostile_label_values_keep_the_exposition_parseable(node, broker, strategist):
    metrics = EventMetrics()
    for event in (
        Event("budget", "node_over", {"node": node, "elapsed_ms": 2, "budget_ms": 1}, T0),
        Event("budget", "nodes", {"timed": 1, "elapsed_ms": {str(node): 3}}, T0),
        Event("budget", "read_skipped", {"node": node, "broker": broker}, T0),
        Event("budget", "broker_refused", {"broker": broker, "refused": 2}, T0),
        Event("budget", "broker_usage", {"broker": broker, "used": 1, "limit": 9}, T0),
        Event("budget", "prompt_trimmed", {"strategist": strategist, "fits": False}, T0),
        Event("notify", "delivered", {"notifier": node}, T0),
    ):
        metrics.observe(event)
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode("utf-8")  # encodable, always
    values = [
        value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for value in sample.labels.values()
    ]
    assert values
    for value in values:
        assert len(value) <= LABEL_MAX_CHARS
        assert value.isprintable()  # no terminal escape, newline or lone surrogate
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {f"{B}_node_over", f"{B}_read_skipped", f"{B}_prompt_trimmed"} <= families
    if isinstance(node, str) and node.isprintable() and len(node) <= LABEL_MAX_CHARS:
        assert node in values  # an ordinary name is left as it is
    assert not any(
        math.isnan(s.value) for f in text_string_to_metric_families(text) for s in f.samples
    )
