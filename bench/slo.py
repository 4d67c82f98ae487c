"""SLOs: the agent's per-event cost of evaluating five objectives as events arrive
(:class:`~tradekernel_ops.slo.engine.Evaluator`, bucketed counters, no file read) against
the cost of emitting one event to the jsonl sink, and the evaluator's memory after 20,000
and 200,000 events (bounded: the same)."""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradekernel.models import Event
from tradekernel.settings import Settings
from tradekernel_ops.slo import Evaluator

T0 = datetime(2026, 3, 2, tzinfo=UTC)
OBJECTIVES = """
[slo.objectives.cycles]
indicator = "cycle_success"
[slo.objectives.decisions]
indicator = "decision_latency"
[slo.objectives.orders]
indicator = "order_ack_latency"
[slo.objectives.freshness]
indicator = "data_freshness"
[slo.objectives.notifications]
indicator = "notification_delivery"
"""


def _events(n: int) -> list[Event]:
    """A cycle's worth of events every 10 s (one bad cycle in 50)."""
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=2 * i)
        step, c = i % 5, f"c{i // 5}"
        if step == 0:
            out.append(Event("strategist", "decision", {"latency_ms": 900 + i % 300}, at, "", c))
        elif step == 1:
            out.append(Event("approval", "auto_approved", {"intent_id": f"i{i}"}, at, "", c))
        elif step == 2:
            out.append(Event("executor", "submitted", {"intent_id": f"i{i - 1}"}, at, "", c))
        elif step == 3:
            out.append(Event("notify", "delivered", {"notifier": "log"}, at, "", c))
        else:
            failed = int(i % 250 == 4)
            fields = {"failed": failed, "as_of": at.isoformat()}
            out.append(Event("report", "cycle", fields, at, "", c))
    return out


def _settings(tmp: Path, extra: str) -> Settings:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp / "state"}"\n[components]\nmetrics_sinks = ["jsonl"]\n'
        f"notifiers = []\n{extra}",
        encoding="utf-8",
    )
    return Settings.load(config_path=path, environ={})


def _memory(settings: Settings, events: list[Event]) -> int:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    evaluator = Evaluator(settings.slo)
    for e in events:
        evaluator.observe(e)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del evaluator
    return used


def run() -> list[dict]:
    from tradekernel.kernel import Kernel

    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp), OBJECTIVES)
        events = _events(200_000)
        evaluator = Evaluator(settings.slo)
        started = time.perf_counter()
        for e in events:
            evaluator.observe(e)
        per_event = (time.perf_counter() - started) / len(events)

        kernel = Kernel(_settings(Path(tmp) / "plain", ""))
        sample = events[:20_000]
        started = time.perf_counter()
        for e in sample:
            kernel.emit(e.stage, e.kind, **e.fields)
        emit = (time.perf_counter() - started) / len(sample)
        kernel.close()
        small = _memory(settings, events[:20_000])
        large = _memory(settings, events)
    return [
        {
            "figure": "slo: evaluate 5 objectives, per event",
            "value": round(per_event * 1e6, 2),
            "unit": "µs",
            "peer": "emit one event to the jsonl sink",
            "peer_value": round(emit * 1e6, 2),
        },
        {
            "figure": "slo: evaluator memory after 200,000 events",
            "value": round(large / 1024),
            "unit": "KiB",
            "peer": "after 20,000 events",
            "peer_value": round(small / 1024),
        },
    ]
