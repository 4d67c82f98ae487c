"""``slo calibrate`` and ``slo status`` stream the recorded events (memory does not grow
with their number), the p99 sketch's accuracy, and a restarted agent's error budget
counted over the objective's whole window, as ``slo status`` counts it."""

from __future__ import annotations

import math
import random
import tracemalloc
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.api import Kernel
from tradekernel_ops.slo import report
from tradekernel_ops.slo.observer import OBSERVER
from tradekernel_ops.slo.report import calibrate, in_order, slo_status
from tradekernel_ops.slo.sketch import ACCURACY, Quantiles

from .conftest import T0, cycle, ev

WEEK = """
[slo.objectives.cycles]
indicator = "cycle_success"
target = 0.99
window = "7d"

[slo.objectives.decisions]
indicator = "decision_latency"
target = 0.99
threshold = "2s"
"""


def _log(n: int):
    """A generator of ``n`` events, a cycle and a decision a minute (never a list)."""
    for i in range(n):
        at = T0 + timedelta(seconds=30 * i)
        if i % 2:
            yield cycle(at, failed=int(i % 97 == 1), cid=f"c{i}")
        else:
            yield ev("strategist", "decision", at, latency_ms=500.0 + (i % 1000))


def _peak(monkeypatch, settings, n: int) -> tuple[int, dict]:
    consumed = [0]

    def read_events(_settings, since=None, until=None, source=None):
        for event in _log(n):
            consumed[0] += 1
            yield event

    monkeypatch.setattr(report, "read_events", read_events)
    monkeypatch.setattr(report, "event_log_source", lambda _s: "jsonl")
    tracemalloc.start()
    try:
        result = calibrate(settings, T0 + timedelta(seconds=30 * n), 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert consumed[0] == 2 * n  # two passes, each consuming the generator lazily
    return peak, result


def test_calibrate_memory_does_not_grow_with_the_events(load, monkeypatch):
    settings = load(WEEK)
    small, _ = _peak(monkeypatch, settings, 8_000)
    large, result = _peak(monkeypatch, settings, 40_000)
    # five times the events: holding the 32,000 more (a list, a sort) would add over ten
    # MiB; the buffer, the sketch and the counters are the same size for both
    assert large < small + 1024 * 1024, (small, large)
    decisions = next(o for o in result["objectives"] if o["objective"] == "decisions")
    assert decisions["samples"] == 20_000
    exact = 500.0 + 2 * 494  # the p99 of 500, 502, ..., 1498 ms, each equally often
    assert decisions["p99"] == pytest.approx(exact / 1000, rel=ACCURACY)


def test_in_order_sorts_a_nearly_ordered_stream_with_a_bounded_buffer():
    events = list(_log(2_000))
    shuffled = events[:]
    rng = random.Random(7)
    for i in range(0, len(shuffled) - 8, 8):  # local disorder, as threads interleave
        block = shuffled[i : i + 8]
        rng.shuffle(block)
        shuffled[i : i + 8] = block
    assert [e.ts for e in in_order(iter(shuffled), depth=16)] == [e.ts for e in events]
    stream = in_order(iter(events), depth=4)
    assert next(stream) is events[0]  # yields before it has read everything


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=300))
def test_the_sketch_p99_is_within_its_accuracy(values):
    sketch = Quantiles()
    for v in values:
        sketch.add(v)
    ordered = sorted(values)
    exact = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    got = sketch.quantile(0.99)
    assert got == pytest.approx(exact, rel=ACCURACY * 1.01, abs=1e-6)


def _run(kernel: Kernel, start, minutes: int, bad_every: int) -> None:
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        kernel.events.clock = lambda at=at: at
        failed = 1 if bad_every and i % bad_every == 0 else 0
        kernel.emit("report", "cycle", failed=failed, as_of=at.isoformat())


def test_a_restarted_agent_counts_the_budget_of_the_whole_window(load):
    settings = load(WEEK)
    first = Kernel(settings)
    try:  # a bad morning two days ago, then quiet hours
        _run(first, T0, 120, 4)
        _run(first, T0 + timedelta(hours=2), 600, 0)
    finally:
        first.close()
    restart = T0 + timedelta(days=2)
    second = Kernel(settings)
    try:
        _run(second, restart, 30, 0)
        observer = second.observer(OBSERVER)
        cycles = next(t for t in observer.evaluator.trackers if t.name == "cycles")
        at = restart + timedelta(minutes=29, seconds=30)
        remaining, good, bad = cycles.budget_remaining(at.timestamp())
    finally:
        second.close()
    assert bad == 30 and good == 720, "the failures more than six hours back are counted"
    status = slo_status(settings, at)
    (from_log,) = [o for o in status["objectives"] if o["objective"] == "cycles"]
    assert (from_log["good"], from_log["bad"]) == (good, bad)
    assert from_log["budget_remaining"] == round(remaining, 6)
    assert remaining < 0  # 30 of 750 failed against a 1% budget: overspent
