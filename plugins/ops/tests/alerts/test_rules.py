"""Each alert rule, firing and ok, over hand-made event days and a real SQLite store."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tradekernel.api import GuardVerdict, Intent, IntentState, Store
from tradekernel_notify.store import NotifyStore
from tradekernel_ops.alerts import collect, evaluate, load_policy


def results(settings, h, *, day=None, now=None, validate=True):
    policy = load_policy(settings)
    obs = collect(settings, day or h.DAY, now or h.NOW, validate=validate)
    return {r.name: r for r in evaluate(policy, obs)}


def status(settings, h, name, **kw):
    r = results(settings, h, **kw)[name]
    return r.status, r.value


# -- strategist ----------------------------------------------------------------------


def test_success_rate_over_the_last_n_llm_calls(load, state_dir, h):
    # 5 early failures fall outside a window of 10; the last 10 have 9 successes
    h.write_events(state_dir, [h.llm(False)] * 5 + [h.llm(True)] * 9 + [h.llm(False)])
    settings = load("[alerts]\nstrategist_window = 10\n")
    assert status(settings, h, "strategist_success_rate") == ("ok", 0.9)
    settings = load("[alerts]\nstrategist_window = 15\n")
    r = results(settings, h)["strategist_success_rate"]
    assert (r.status, r.value, r.threshold, r.comparison) == ("firing", 0.6, 0.8, "<")
    assert "9 of the last 15 strategist_llm.decision calls" in r.detail


def test_success_rate_of_a_non_llm_strategist_counts_error_types(load, state_dir, h):
    decisions = [
        h.event("strategist", "decision", strategist="rules", intents=0, error_type=err)
        for err in [None, "timeout", "timeout", None, None, "bad_answer"]
    ]
    h.write_events(state_dir, decisions)
    r = results(load(), h)["strategist_success_rate"]
    assert (r.status, r.value) == ("firing", 0.5)
    assert "strategist.decision" in r.detail


def test_too_few_calls_is_no_data_and_never_fires(load, state_dir, h):
    h.write_events(state_dir, [h.llm(False)] * 4)
    assert status(load(), h, "strategist_success_rate") == ("no_data", None)
    assert status(load('[alerts]\nprofile = "strict"\n'), h, "strategist_success_rate") == (
        "firing",
        0.0,
    )


def test_latency_p95(load, state_dir, h):
    h.write_events(state_dir, [h.llm(True, 1000.0)] * 19 + [h.llm(True, 45000.0)])
    r = results(load(), h)["strategist_latency_p95"]
    assert (r.status, r.value, r.unit) == ("ok", 1000.0, "ms")  # nearest rank: 19th of 20
    h.write_events(state_dir, [h.llm(True, 45000.0)])
    assert status(load(), h, "strategist_latency_p95") == ("firing", 45000.0)
    assert status(
        load("[alerts]\nstrategist_latency_p95_ms = 50000\n"), h, "strategist_latency_p95"
    ) == ("ok", 45000.0)


# -- breaker and stuck intents -------------------------------------------------------


def test_breaker_from_the_store_control_state(load, state_dir, h):
    with Store.open(state_dir) as store:
        store.set_control(
            "breaker",
            {"state": "open", "failures": 3, "opened_at": "2030-01-02T11:00:00+00:00"},
            actor="breaker",
        )
    r = results(load(), h)["breaker_open"]
    assert (r.status, r.value, r.severity) == ("firing", 1, "error")
    assert "store control state" in r.detail
    with Store.open(state_dir) as store:
        store.set_control(
            "breaker", {"state": "half_open", "failures": 3, "opened_at": None}, actor="breaker"
        )
    assert status(load(), h, "breaker_open") == ("ok", 0)
    assert "breaker_open" not in results(load("[alerts]\nbreaker_open = false\n"), h)


def test_each_strategy_breaker_counts(load, state_dir, h):
    with Store.open(state_dir) as store:
        closed = {"state": "closed", "failures": 0, "opened_at": None}
        store.set_control("breaker:rule", closed, actor="breaker")
        store.set_control(
            "breaker:llm",
            {"state": "open", "failures": 3, "opened_at": "2030-01-02T11:00:00+00:00"},
            actor="breaker",
        )
    r = results(load(), h)["breaker_open"]
    assert (r.status, r.value) == ("firing", 1)
    assert "llm open" in r.detail and "rule closed" in r.detail
    with Store.open(state_dir) as store:
        store.set_control("breaker:llm", closed, actor="breaker")
    assert status(load(), h, "breaker_open") == ("ok", 0)


def test_breaker_from_the_last_resilience_event(load, state_dir, h):
    h.write_events(state_dir, [h.event("resilience", "breaker_opened", state="open")])
    assert status(load(), h, "breaker_open") == ("firing", 1)
    h.write_events(
        state_dir,
        [h.event("resilience", "breaker_half_open"), h.event("resilience", "breaker_closed")],
    )
    assert status(load(), h, "breaker_open") == ("ok", 0)


def _executing(state_dir: Path, h, minutes_ago: float, n: int = 0) -> str:
    clock = lambda: h.NOW - timedelta(minutes=minutes_ago)  # noqa: E731
    intent = Intent.create(
        symbol="AAA",
        side="buy",
        quantity=10,
        rationale=f"t{n}",
        as_of=h.NOW + timedelta(minutes=n),
        strategist="rules",
    )
    with Store.open(state_dir, clock=clock) as store:
        store.add_intent(intent, cycle_id="c1", broker="paper", ref_price=Decimal("100"))
        store.transition(
            intent.id,
            IntentState.PENDING_APPROVAL,
            actor="guards",
            verdicts=[GuardVerdict.allowed("g")],
        )
        store.transition(intent.id, IntentState.APPROVED, actor="tester")
        store.transition(intent.id, IntentState.EXECUTING, actor="executor")
    return intent.id


def test_stuck_intents_from_the_store(load, state_dir, h):
    _executing(state_dir, h, minutes_ago=1, n=0)
    r = results(load(), h)["stuck_intents"]
    assert (r.status, r.value, r.threshold) == ("ok", 60.0, 300.0)
    stuck = _executing(state_dir, h, minutes_ago=10, n=1)
    r = results(load(), h)["stuck_intents"]
    assert (r.status, r.value) == ("firing", 600.0)
    assert stuck in r.detail and "1 intent(s) executing longer than 5m" in r.detail
    assert status(load('[alerts]\nstuck_after = "15m"\n'), h, "stuck_intents")[0] == "ok"
    # a past day is not about the store's current state
    assert status(load(), h, "stuck_intents", day=date(2030, 1, 1))[0] == "no_data"


def test_no_state_database_means_nothing_is_stuck(load, h):
    assert status(load(), h, "stuck_intents") == ("ok", 0)


# -- counts --------------------------------------------------------------------------


def _denials(n: int, h) -> list[dict]:
    return [
        h.event(
            "risk", "verdict", intent_id=f"i{i}", guard="max_notional", allow=False, code="too_big"
        )
        for i in range(n)
    ] + [h.event("risk", "verdict", intent_id="ok", guard="g", allow=True)]


def test_guard_denials_default_strict_and_env(load, state_dir, h):
    h.write_events(state_dir, _denials(6, h))
    r = results(load(), h)["guard_denials"]
    assert (r.status, r.value, r.threshold) == ("ok", 6, 20)
    assert "max_notional:too_big 6" in r.detail
    assert status(load('[alerts]\nprofile = "strict"\n'), h, "guard_denials") == ("firing", 6)
    env = {"TRADEKERNEL_ALERTS__GUARD_DENIALS_MAX": "5"}
    assert status(load(environ=env), h, "guard_denials") == ("firing", 6)
    env = {"TRADEKERNEL_ALERTS__PROFILE": "strict", "TRADEKERNEL_ALERTS__GUARD_DENIALS_MAX": "6"}
    assert status(load(environ=env), h, "guard_denials") == ("ok", 6)


def test_notify_failures_from_events_then_from_the_log(load, state_dir, h):
    fails = [h.event("notify", "failed", severity="warning", notifier="slack")] * 6
    h.write_events(state_dir, fails)
    r = results(load(), h)["notify_failures"]
    assert (r.status, r.value) == ("firing", 6) and "notify.failed" in r.detail
    # with a state database, the delivery log is authoritative
    Store.open(state_dir).close()
    log = NotifyStore(load())
    claim = log.claim(
        notifier="slack",
        dedup_key="k",
        event_kind="x.y",
        now=h.NOW,
        dedup_window=0,
        rate_count=100,
        rate_per=3600,
        force=True,
    )
    log.finish(
        claim.record_id,
        status="failed",
        http_status=500,
        attempts=3,
        latency_ms=1.0,
        error="http 500",
    )
    log.close()
    r = results(load(), h)["notify_failures"]
    assert (r.status, r.value) == ("ok", 1) and "notification log" in r.detail
    assert status(load('[alerts]\nprofile = "strict"\n'), h, "notify_failures") == ("firing", 1)


def test_notify_failures_from_the_log_in_the_postgres_store(load, h, postgres_url):
    settings = load(sinks='["jsonl"]\nstore = "postgres"', environ={"TK_STORE_URL": postgres_url})
    with NotifyStore(settings) as log:  # the log lives in the server's database
        for key in ("k1", "k2"):
            claim = log.claim(
                notifier="slack",
                dedup_key=key,
                event_kind="x.y",
                now=h.NOW,
                dedup_window=0,
                rate_count=100,
                rate_per=3600,
            )
            log.finish(
                claim.record_id, status="failed", http_status=500, attempts=3, latency_ms=1.0,
                error="http 500",
            )  # fmt: skip
    r = results(settings, h)["notify_failures"]
    assert (r.status, r.value) == ("ok", 2) and "notification log" in r.detail


def test_required_skill_fallbacks_only(load, state_dir, h):
    skills = [
        h.event("hydrate", "skill", skill="market.quote", ok=False, fallback_reason="timeout")
    ] * 4 + [h.event("hydrate", "skill", skill="market.bars", ok=False)] * 20
    h.write_events(state_dir, skills)
    r = results(load(), h)["skill_fallbacks"]
    assert (r.status, r.value) == ("ok", 4) and "market.quote 4" in r.detail
    assert status(load('[alerts]\nprofile = "strict"\n'), h, "skill_fallbacks") == ("firing", 4)


def test_invalid_events(load, state_dir, h):
    h.write_events(state_dir, [h.llm(True), h.event("risk", "verdict", intent_id="i")])
    strict = load('[alerts]\nprofile = "strict"\n')
    r = results(strict, h)["invalid_events"]
    assert (r.status, r.value) == ("firing", 1)
    assert status(load("[alerts]\ninvalid_events_max = 1\n"), h, "invalid_events") == ("ok", 1)


# -- the account ---------------------------------------------------------------------


def _cycles(h, *equity: str, **extra) -> list[dict]:
    return [h.event("report", "cycle", equity=e, **extra) for e in equity]


def test_daily_loss_ratio_first_versus_last_equity(load, state_dir, h):
    h.write_events(state_dir, _cycles(h, "10000", "10400", "9700"))
    r = results(load(), h)["daily_loss"]
    assert (r.status, r.value, r.threshold) == ("ok", 0.03, 0.05)
    assert status(load('[alerts]\nprofile = "strict"\n'), h, "daily_loss") == ("firing", 0.03)
    h.write_events(state_dir, _cycles(h, "9400"))
    assert status(load(), h, "daily_loss") == ("firing", 0.06)


def test_daily_loss_amount_falls_back_to_pnl(load, state_dir, h):
    cycles = [
        h.event("report", "cycle", realized_pnl="10", unrealized_pnl="-5"),
        h.event("report", "cycle", realized_pnl="-100", unrealized_pnl="-60"),
    ]
    h.write_events(state_dir, cycles)
    settings = load("[alerts]\ndaily_loss_amount = 100\n")
    r = results(settings, h)
    assert (r["daily_loss_amount"].status, r["daily_loss_amount"].value) == ("firing", 165.0)
    assert r["daily_loss"].status == "no_data"  # a ratio needs equity
    assert status(load("[alerts]\ndaily_loss_amount = 200\n"), h, "daily_loss_amount")[0] == "ok"


# -- missing data --------------------------------------------------------------------


def test_an_empty_day_fires_nothing(load, h):
    got = results(load(), h)
    assert not [r for r in got.values() if r.status == "firing"]
    assert got["strategist_success_rate"].status == "no_data"
    assert got["daily_loss"].status == "no_data"
    assert got["guard_denials"].status == "ok"


def test_no_event_log_is_no_data_for_event_rules(load, h):
    got = results(load(sinks="[]"), h)
    assert got["guard_denials"].status == "no_data"
    assert "neither 'jsonl' nor 'sqlite'" in got["guard_denials"].detail


@pytest.mark.parametrize("sinks", ['["sqlite"]', '["jsonl"]'])
def test_events_recorded_through_the_kernel_are_read_from_either_sink(tmp_path, h, sinks):
    from tradekernel.api import Kernel, Settings, utcnow

    settings = Settings.load(h.write_config(tmp_path, "", sinks), environ={})
    with Kernel(settings) as kernel:
        for i in range(21):
            kernel.emit("risk", "verdict", intent_id=f"i{i}", guard="g", allow=False)
    now = utcnow()
    assert status(settings, h, "guard_denials", day=now.date(), now=now) == ("firing", 21)


def test_data_quality_rejections_count_by_code(load, state_dir, h):
    rejected = [
        h.event("hydrate", "data_quality", symbol="AAA", code="non_positive_price", item="bar")
    ] * 4 + [h.event("hydrate", "data_quality", symbol="BBB", code="price_outlier")] * 2
    h.write_events(state_dir, rejected)
    r = results(load(), h)["data_quality_rejections"]
    assert (r.status, r.value, r.threshold) == ("firing", 6, 5)
    assert "non_positive_price 4, price_outlier 2" in r.detail
    assert status(load("[alerts]\ndata_quality_rejections_max = 6\n"), h, r.name) == ("ok", 6)


def test_broker_failovers_fire_on_any_failover_or_hold(load, state_dir, h):
    moved = [
        h.event("routing", "failover", route="*/USDT", primary="binance", broker="kraken"),
        h.event("routing", "held", intent_id="i1", broker="binance", reason="broker_unavailable"),
        h.event("routing", "healthy", broker="binance"),
    ]
    h.write_events(state_dir, moved)
    r = results(load(), h)["broker_failovers"]
    assert (r.status, r.value, r.threshold, r.severity) == ("firing", 2, 0, "error")
    assert "failover:binance 1, held:intent 1" in r.detail
    assert status(load("[alerts]\nbroker_failovers_max = 2\n"), h, r.name) == ("ok", 2)
