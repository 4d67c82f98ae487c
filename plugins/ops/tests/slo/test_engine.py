"""Burn rates, budgets and the alert episodes, over events with explicit times."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel_ops.slo import Evaluator, Tracker
from tradekernel_ops.slo.engine import MINUTES, Ring, Windows

from .conftest import T0, cycle, ev


def _tracker(**kw) -> Tracker:
    return Tracker(name="c", indicator="cycle_success", target=0.99, window=30 * 86400.0, **kw)


def test_ring_sums_only_its_live_periods():
    ring = Ring(10)
    ring.add(5, True, 5)
    ring.add(5, False, 5)
    ring.add(14, False, 14)  # reuses bucket 4 and 14 - 10 = 4 is gone
    assert ring.totals(14, [1, 10]) == [(0, 1), (1, 2)]
    ring.add(3, True, 14)  # older than the ring: ignored
    ring.add(99, True, 14)  # in the future: ignored
    assert ring.totals(14, [10]) == [(1, 2)]
    assert ring.totals(30, [10]) == [(0, 0)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 900), st.integers(-400, 3), st.booleans()), max_size=80))
def test_running_window_sums_equal_a_full_recount(steps):
    """Time advancing by any step (jumps past every window included), samples late,
    on time or early: the running sums always equal a recount of the ring."""
    windows, ring = Windows([5, 30, 60, 360]), Ring(360)
    now = 1000
    for step, offset, good in steps:
        now += step
        windows.advance(now)
        period = now + offset
        windows.add(period, good)
        ring.add(period, good, now)
        assert windows.totals(now) == ring.totals(now, [5, 30, 60, 360])


def test_burn_rate_is_the_bad_share_over_the_budget():
    t = _tracker()
    for i in range(100):
        t.add(T0 + timedelta(seconds=30 * i), good=i % 10 != 0)  # 10% bad over 50 min
    rates = t.burn_rates()
    assert rates["1h"] == pytest.approx(10.0)
    remaining, good, bad = t.budget_remaining()
    assert (good, bad) == (90, 10)
    assert remaining == pytest.approx(1 - 10.0)


def test_too_few_samples_never_fire():
    t = _tracker(min_samples=10)
    for i in range(9):
        t.add(T0 + timedelta(seconds=i), good=False)
    assert t.evaluate(T0.timestamp() + 9, force=True) == []
    t.add(T0 + timedelta(seconds=9), good=False)
    assert [k for k, _s, _f in t.evaluate(T0.timestamp() + 9, force=True)] == ["burn_rate"]


def test_empty_windows_burn_nothing_and_keep_the_whole_budget():
    t = _tracker()
    assert t.budget_remaining() == (1.0, 0, 0) and set(t.burn_rates().values()) == {0.0}
    assert t.burn_rates(T0.timestamp()) == {"5m": 0.0, "30m": 0.0, "1h": 0.0, "6h": 0.0}
    assert t.budget_remaining(T0.timestamp()) == (1.0, 0, 0)


def _feed(e: Evaluator, minutes: int, bad_every: int, start=T0, cid_prefix="c"):
    """One cycle a minute for ``minutes``, every ``bad_every``-th failed (0: none)."""
    out = []
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        failed = 1 if bad_every and i % bad_every == bad_every - 1 else 0
        for t in e.observe(cycle(at, failed=failed, cid=f"{cid_prefix}{i}")):
            out.append((at, *t))
    return out


def test_fast_burn_pages_once_per_episode_then_recovers_after_clear_after(load):
    e = Evaluator(load().slo)
    _feed(e, 120, 0)  # two good hours
    out = _feed(e, 30, 2, start=T0 + timedelta(hours=2))  # half the cycles fail
    fired = [o for o in out if o[1] == "burn_rate" and o[3]["objective"] == "cycles"]
    assert len(fired) == 1, fired
    _at, _kind, severity, fields = fired[0]
    assert (severity, fields["alert"], fields["threshold"]) == ("critical", "fast", 14.4)
    assert fields["burn_rate"] >= 14.4 and fields["burn_rate_short"] >= 14.4
    assert fields["budget_remaining"] < 1
    # good again: the 5 min window clears quickly, the episode ends clear_after later
    out = _feed(e, 60, 0, start=T0 + timedelta(hours=2, minutes=30))
    recovered = [o for o in out if o[1] == "recovered"]
    fired = [o for o in out if o[1] == "burn_rate"]
    assert not fired and len(recovered) == 1
    assert recovered[0][3]["alert"] == "fast" and recovered[0][2] == "info"
    first_clean = T0 + timedelta(hours=2, minutes=35)
    assert recovered[0][0] >= first_clean + timedelta(minutes=15)


def test_a_short_flap_inside_clear_after_does_not_fire_again(load):
    e = Evaluator(load().slo)
    _feed(e, 60, 0)
    start = T0 + timedelta(hours=1)
    out = _feed(e, 20, 2, start=start)
    out += _feed(e, 8, 0, start=start + timedelta(minutes=20))
    out += _feed(e, 6, 2, start=start + timedelta(minutes=28))  # burns again within 15 min
    alerts = [(o[1], o[3]["alert"]) for o in out if o[3]["objective"] == "cycles"]
    # slow may fire first and escalate to fast once; no recovery, no second page
    assert alerts in ([("burn_rate", "fast")], [("burn_rate", "slow"), ("burn_rate", "fast")])


def test_slow_burn_alerts_as_error_and_escalates_once_to_fast(load):
    e = Evaluator(load().slo)
    # 8% failures: burn 8 >= 6 (slow), < 14.4 (fast)
    out = _feed(e, 6 * 60, 12)
    fired = [o for o in out if o[1] == "burn_rate" and o[3]["objective"] == "cycles"]
    assert [(o[2], o[3]["alert"]) for o in fired] == [("error", "slow")]
    out = _feed(e, 20, 2, start=T0 + timedelta(hours=6))
    fired = [o for o in out if o[1] == "burn_rate" and o[3]["objective"] == "cycles"]
    assert [(o[2], o[3]["alert"]) for o in fired] == [("critical", "fast")]


def test_a_low_error_rate_never_fires(load):
    e = Evaluator(load().slo)
    out = _feed(e, 12 * 60, 200)  # 0.5% failures: burn 0.5
    assert not [o for o in out if o[3]["objective"] == "cycles"]


def test_error_events_of_a_cycle_fail_it_and_slo_events_are_ignored(load):
    e = Evaluator(load().slo)
    e.observe(ev("executor", "failed", T0, cycle="x", severity="error", intent_id="i"))
    e.observe(ev("slo", "burn_rate", T0, cycle="y", severity="critical", objective="o"))
    e.observe(cycle(T0, cid="x"))
    e.observe(cycle(T0, cid="y"))
    tracker = next(t for t in e.trackers if t.name == "cycles")
    assert tracker.budget_remaining()[1:] == (1, 1)


def test_indicators_from_their_events(load):
    e = Evaluator(load().slo)
    later = T0 + timedelta(seconds=90)
    for event in [
        ev("strategist", "decision", T0, strategist="s", intents=0, latency_ms=1500),
        ev("strategist", "decision", T0, strategist="s", intents=0, latency_ms=2500),
        ev("strategist", "decision", T0, strategist="s", intents=0, latency_ms="fast"),
        ev("strategist", "decision", T0, strategist="s", intents=0, latency_ms=float("nan")),
        ev("approval", "approved", T0, intent_id="a"),
        ev("approval", "auto_approved", T0, intent_id="b"),
        ev("executor", "submitted", T0 + timedelta(seconds=30), intent_id="a"),
        ev("executor", "submitted", later, intent_id="b"),
        ev("executor", "submitted", later, intent_id="never-approved"),
        ev("executor", "unknown_outcome", later, intent_id="c"),
        cycle(later, age=60),
        cycle(later, age=3600),
        ev("notify", "delivered", later, notifier="n"),
        ev("notify", "failed", later, notifier="n"),
        ev("notify", "rate_limited", later, notifier="n"),
    ]:
        e.observe(event)
    counts = {t.name: t.budget_remaining()[1:] for t in e.trackers}
    assert counts == {
        "cycles": (2, 0),
        "decisions": (1, 1),
        "orders": (1, 2),
        "freshness": (1, 1),
        "notifications": (1, 1),
    }


def test_memory_is_bounded_by_the_rings(load):
    e = Evaluator(load().slo)
    for i in range(5000):
        e.observe(ev("approval", "approved", T0 + timedelta(seconds=i), intent_id=f"i{i}"))
        e.observe(cycle(T0 + timedelta(seconds=i), cid=f"c{i}"))
    for classifier, tracker in e.objectives:
        assert len(classifier._approved) <= 10_000
        assert len(tracker.minutes.ring.good) == MINUTES
        assert len(tracker.hours.good) == 720


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**308, max_value=10**400),  # beyond a float
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)
_kinds = st.sampled_from(
    [
        ("report", "cycle"),
        ("strategist", "decision"),
        ("approval", "approved"),
        ("executor", "submitted"),
        ("executor", "failed"),
        ("notify", "delivered"),
        ("x_other", "thing"),
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            _kinds,
            st.integers(-(10**6), 10**6),
            st.dictionaries(
                st.sampled_from(["failed", "as_of", "latency_ms", "intent_id", "x"]),
                _values,
                max_size=4,
            ),
            st.sampled_from(["info", "error", "critical"]),
            st.sampled_from(["", "c1", "c2"]),
        ),
        max_size=40,
    )
)
def test_any_recorded_fields_are_counted_or_skipped_never_raise(steps):
    from tradekernel.api import SLO_INDICATORS, SloObjective

    class Slo:
        objectives = {i: SloObjective(indicator=i) for i in SLO_INDICATORS}
        fast_burn, slow_burn, clear_after, min_samples = 14.4, 6.0, 900.0, 1

    e = Evaluator(Slo())
    for (stage, kind), offset, fields, severity, cid in steps:
        at = T0 + timedelta(seconds=offset)
        for kind_, severity_, out in e.observe(
            ev(stage, kind, at, cycle=cid, severity=severity, **fields)
        ):
            assert (kind_, severity_) in {
                ("burn_rate", "critical"),
                ("burn_rate", "error"),
                ("recovered", "info"),
                ("clock_step", "warning"),
            }
            assert all(isinstance(v, float) and v == v for v in out["burn_rates"].values())
    for t in e.trackers:
        good, bad = t.budget_remaining()[1:]
        assert good >= 0 and bad >= 0


def _outage(tracker: Tracker, start, minutes: int = 60) -> list:
    fired = []
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        tracker.add(at, False)
        fired += tracker.evaluate(at.timestamp(), force=True)
    return fired


def test_one_sample_stamped_in_the_future_does_not_blind_the_alerts():
    """The clock ran a day ahead, then NTP stepped it back: an hour of failed cycles at
    the real time still pages."""
    tracker = _tracker()
    tracker.add(T0 + timedelta(days=1), True)
    fired = _outage(tracker, T0)
    assert [(kind, severity) for kind, severity, _f in fired] == [("burn_rate", "critical")]
    assert tracker.burn_rates()["1h"] > 14.4


def test_a_short_step_back_keeps_the_short_windows_seeing():
    tracker = _tracker()
    for minute in range(60):  # a healthy hour
        tracker.add(T0 + timedelta(minutes=minute), True)
    # The clock steps back 20 minutes and cycles fail for 10: without a restart of the
    # minute windows the 5-minute window (at the old, later time) would see none of it.
    fired = _outage(tracker, T0 + timedelta(minutes=40), 10)
    assert [(kind, severity) for kind, severity, _f in fired] == [("burn_rate", "critical")]


def test_late_samples_within_the_tolerance_are_counted_in_place():
    tracker = _tracker()
    tracker.add(T0 + timedelta(minutes=10), True)
    tracker.add(T0 + timedelta(minutes=9), False)  # a minute late: no clock step
    assert tracker.stepped_back == 0.0
    assert tracker.minutes.totals(int((T0 + timedelta(minutes=10)).timestamp()) // 60)[0] == (
        1,
        1,
    )


def test_the_evaluator_reports_a_clock_step_once_per_objective(load):
    e = Evaluator(load().slo)
    e.observe(cycle(T0 + timedelta(hours=2)))
    out = e.observe(cycle(T0, failed=1))
    steps = [(kind, severity, f) for kind, severity, f in out if kind == "clock_step"]
    assert [(f["objective"], f["clock_back"]) for _k, _s, f in steps] == [
        ("cycles", 7200.0),
        ("freshness", 7200.0),
    ]
    assert all(severity == "warning" for _k, severity, _f in steps)
    assert not [k for k, _s, _f in e.observe(cycle(T0 + timedelta(minutes=1))) if k == "clock_step"]


def test_an_integer_too_large_for_a_float_is_skipped():
    from tradekernel_ops.slo.indicators import Classifier

    decision = ev("strategist", "decision", T0, latency_ms=10**400)
    assert Classifier().samples(decision) == []
