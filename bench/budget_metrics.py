"""Budget metrics: what the Prometheus sink adds per ``budget`` event (the metrics it
computes from it: counters, gauges, label values escaped and bounded) over what it did
with such an event before (``tradekernel_events_total`` only), one row per kind; and
what escaping and bounding costs per label value taken from an event."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tradekernel.models import Event
from tradekernel_prometheus.metrics import EventMetrics

T0 = datetime(2026, 3, 2, tzinfo=UTC)
NODES = ("hydrate", "scan", "strategize", "guard", "approve", "execute", "monitor", "report")
ROUNDS = 20_000

EVENTS: dict[str, dict[str, Any]] = {
    "node_over": {"node": "strategize", "elapsed_ms": 1500.0, "budget_ms": 1000.0},
    "nodes (8 nodes)": {
        "timed": 8,
        "over": [],
        "elapsed_ms": {n: 10.0 + i for i, n in enumerate(NODES)},
        "budget_ms": dict.fromkeys(NODES, 50.0),
    },
    "broker_refused": {"broker": "alpaca", "method": "orders", "used": 180, "limit": 180,
                       "refused": 3},
    "read_skipped": {"node": "monitor", "broker": "alpaca", "method": "orders"},
    "broker_usage": {"broker": "alpaca", "limit": 180, "used": 42, "remaining": 138,
                     "reserve": 18, "refused": 8, "calls": {"orders": 40}},
    "prompt_trimmed": {"strategist": "llm", "tokens_before": 9000, "tokens_after": 5800,
                       "limit": 6000, "fits": True},
}  # fmt: skip


def _per_event(observe, event: Event) -> float:
    observe(event)  # the series exists: steady state, as in a running agent
    started = time.perf_counter()
    for _ in range(ROUNDS):
        observe(event)
    return (time.perf_counter() - started) / ROUNDS


def run() -> list[dict]:
    rows = []
    for label, fields in EVENTS.items():
        event = Event("budget", label.split()[0], fields, T0)
        metrics = EventMetrics()
        full = _per_event(metrics.observe, event)
        before = EventMetrics()

        def events_only(e: Event, m: EventMetrics = before) -> None:
            m.events.labels(e.stage, e.kind, str(e.severity.value)).inc()

        base = _per_event(events_only, event)
        rows.append(
            {
                "figure": f"budget metrics: added per budget.{label} event",
                "value": round((full - base) * 1e6, 2),
                "unit": "µs",
                "peer": "the sink's cost of the event before (events_total only)",
                "peer_value": round(base * 1e6, 2),
            }
        )
    metrics = EventMetrics()
    started = time.perf_counter()
    for _ in range(ROUNDS):
        metrics.label("node", "strategize")
    bounded = (time.perf_counter() - started) / ROUNDS
    started = time.perf_counter()
    for _ in range(ROUNDS):
        "strategize".__str__()
    rows.append(
        {
            "figure": "metrics: one label value escaped and bounded",
            "value": round(bounded * 1e6, 3),
            "unit": "µs",
            "peer": "str() of it, as labels were taken before",
            "peer_value": round((time.perf_counter() - started) / ROUNDS * 1e6, 3),
        }
    )
    return rows
