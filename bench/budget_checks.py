"""Budget checks: the per-node latency budget check's cost per cycle (the budget
observer's timer fed one cycle's ``commander`` events: eight nodes, each budgeted)
against the cost of emitting those events to the jsonl sink, and the shared broker
request budget's cost per call (a read through :class:`BudgetedBroker`, the sliding
minute counted and checked) against the call to the paper-like double it wraps."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradekernel.models import Event
from tradekernel.request_budget import BudgetedBroker, RequestBudget
from tradekernel.settings import Settings
from tradekernel_ops.budgets.timer import NodeTimer

T0 = datetime(2026, 3, 2, tzinfo=UTC)
NODES = ("hydrate", "scan", "strategize", "guard", "approve", "execute", "monitor", "report")
CYCLES = 5_000
CALLS = 200_000


def _cycle(n: int) -> list[Event]:
    start = T0 + timedelta(seconds=60 * n)
    cycle = f"c{n}"
    out = [Event("commander", "route", {"node": NODES[0], "action": "route"}, start, "", cycle)]
    for i, node in enumerate(NODES):
        nxt = NODES[i + 1] if i + 1 < len(NODES) else "__end__"
        at = start + timedelta(milliseconds=10 * (i + 1) + n % 7)
        out.append(Event("commander", "transition", {"node": node, "next": nxt}, at, "", cycle))
    out.append(Event("commander", "end", {"node": NODES[-1], "action": "end"}, at, "", cycle))
    return out


class _Double:
    live_capable = False

    def positions(self) -> list:
        return []


def run() -> list[dict]:
    from tradekernel.kernel import Kernel

    cycles = [_cycle(n) for n in range(CYCLES)]
    timer = NodeTimer({node: 0.05 for node in NODES})
    started = time.perf_counter()
    for events in cycles:
        for e in events:
            timer.observe(e)
    per_cycle = (time.perf_counter() - started) / CYCLES

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plugins.toml"
        path.write_text(
            f'[kernel]\nstate_dir = "{Path(tmp) / "state"}"\n[components]\n'
            'metrics_sinks = ["jsonl"]\nnotifiers = []\n',
            encoding="utf-8",
        )
        kernel = Kernel(Settings.load(config_path=path, environ={}))
        sample = cycles[:500]
        started = time.perf_counter()
        for events in sample:
            for e in events:
                kernel.emit(e.stage, e.kind, **e.fields)
        emit = (time.perf_counter() - started) / len(sample)
        kernel.close()

    double = _Double()
    clock = iter(range(10**9)).__next__  # one second per call: the window always has room
    budgeted = BudgetedBroker(double, RequestBudget("b", 10**6, clock=clock), lambda *a, **k: None)
    started = time.perf_counter()
    for _ in range(CALLS):
        budgeted.positions()
    per_call = (time.perf_counter() - started) / CALLS
    started = time.perf_counter()
    for _ in range(CALLS):
        double.positions()
    bare = (time.perf_counter() - started) / CALLS
    return [
        {
            "figure": "budgets: node latency check, per cycle (8 budgeted nodes)",
            "value": round(per_cycle * 1e6, 2),
            "unit": "µs",
            "peer": "emit the cycle's 10 commander events to the jsonl sink",
            "peer_value": round(emit * 1e6, 2),
        },
        {
            "figure": "budgets: shared broker request budget, per call",
            "value": round((per_call - bare) * 1e6, 3),
            "unit": "µs",
            "peer": "the wrapped broker call itself (an in-memory double)",
            "peer_value": round(bare * 1e6, 3),
        },
    ]
