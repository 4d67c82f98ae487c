"""The running agent's observer: a real kernel, its jsonl sink, an injected clock."""

from __future__ import annotations

from datetime import timedelta

from tradekernel.api import Kernel, iter_records, read_events, validate_event
from tradekernel_ops.slo.observer import OBSERVER

from .conftest import T0


def _run(kernel: Kernel, minutes: int, bad_every: int, start) -> None:
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        kernel.events.clock = lambda at=at: at
        failed = 1 if bad_every and i % bad_every == bad_every - 1 else 0
        kernel.emit("report", "cycle", failed=failed, as_of=at.isoformat())


def test_the_agent_pages_once_and_recovers_and_reports_status(load):
    settings = load()
    kernel = Kernel(settings)
    try:
        assert kernel.observer(OBSERVER) is not None
        _run(kernel, 90, 0, T0)
        _run(kernel, 20, 2, T0 + timedelta(minutes=90))
        _run(kernel, 60, 0, T0 + timedelta(minutes=110))
    finally:
        kernel.close()
    events = list(read_events(settings, stage="slo"))
    alerts = [
        (e.kind, e.severity.value, e.fields["objective"], e.fields["alert"])
        for e in events
        if e.kind != "status"
    ]
    # the 6 h window crosses 6 first (slow), then the 1 h one crosses 14.4 (fast), once
    assert alerts == [
        ("burn_rate", "error", "cycles", "slow"),
        ("burn_rate", "critical", "cycles", "fast"),
        ("recovered", "info", "cycles", "fast"),
    ]
    statuses = [e for e in events if e.kind == "status"]
    assert len(statuses) == 170 * 5  # one per objective per cycle
    assert {e.fields["objective"] for e in statuses} == {
        "cycles",
        "decisions",
        "orders",
        "freshness",
        "notifications",
    }
    records = [r.data for r in iter_records(settings) if r.data and r.data["stage"] == "slo"]
    assert len(records) == len(events)
    assert all(validate_event(r) == [] for r in records)


def test_no_objectives_no_observer(load):
    kernel = Kernel(load(""))
    try:
        assert kernel.observer(OBSERVER) is None
    finally:
        kernel.close()


def test_a_restarted_agent_keeps_the_episode_and_does_not_page_again(load):
    settings = load()
    first = Kernel(settings)
    try:
        _run(first, 60, 0, T0)
        _run(first, 20, 2, T0 + timedelta(minutes=60))  # pages
    finally:
        first.close()
    pages = [e for e in read_events(settings, stage="slo", kind="burn_rate")]
    assert pages
    second = Kernel(settings)  # restarted five minutes later, still burning
    try:
        _run(second, 10, 2, T0 + timedelta(minutes=85))
        observer = second.observer(OBSERVER)
        cycles = next(t for t in observer.evaluator.trackers if t.name == "cycles")
        assert cycles.firing == "fast"
        # 70 good and 10 bad recorded by the first run, 5 and 5 since the restart
        assert cycles.budget_remaining()[1:] == (75, 15)
    finally:
        second.close()
    assert len(list(read_events(settings, stage="slo", kind="burn_rate"))) == len(pages)


def test_the_agent_pages_after_its_clock_stepped_back(load):
    settings = load()
    kernel = Kernel(settings)
    try:
        _run(kernel, 10, 0, T0 + timedelta(days=1))  # the clock a day ahead
        _run(kernel, 60, 1, T0)  # stepped back; every cycle fails
    finally:
        kernel.close()
    events = [e for e in read_events(settings, stage="slo") if e.kind != "status"]
    assert [(e.kind, e.fields["objective"]) for e in events if e.kind == "burn_rate"] == [
        ("burn_rate", "cycles")
    ]
    assert {e.fields["objective"] for e in events if e.kind == "clock_step"} == {
        "cycles",
        "freshness",
    }
    records = [r.data for r in iter_records(settings) if r.data and r.data["stage"] == "slo"]
    assert all(validate_event(r) == [] for r in records)


def test_a_huge_recorded_integer_does_not_lose_the_restart_seed(load):
    from tradekernel.api import Event

    settings = load()
    first = Kernel(settings)
    try:
        _run(first, 60, 0, T0)
        _run(first, 20, 2, T0 + timedelta(minutes=60))  # pages
        first.events.clock = lambda: T0 + timedelta(minutes=80)
        first.emit("strategist", "decision", latency_ms=10**400)
    finally:
        first.close()
    assert any(isinstance(e, Event) for e in read_events(settings, stage="strategist"))
    second = Kernel(settings)
    try:
        _run(second, 10, 2, T0 + timedelta(minutes=85))
        cycles = next(t for t in second.observer(OBSERVER).evaluator.trackers if t.name == "cycles")
        assert cycles.firing == "fast"  # the seed replayed past the huge integer
    finally:
        second.close()
