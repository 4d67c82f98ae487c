"""Breaker, degrade, pause/resume, kill switch, skill fallback and mode resolution."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from tradekernel import hookimpl
from tradekernel.errors import ConfigError
from tradekernel.events import current_cycle_id
from tradekernel.models import Decision, Intent
from tradekernel.runtime import Control, Runtime

from .conftest import Scripted, buy

NOTIONAL = """
[guard.max_order_notional]
limit = 5000
"""
FAIL = Decision.hold("provider failed", error_type="provider_timeout")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_breaker_opens_persists_half_opens_and_closes(make_kernel):
    scripted = Scripted()
    scripted.script = [FAIL, FAIL, buy("AAA", 5)]
    kernel, rec = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()
        assert runtime.breaker.state == "open"
        held = runtime.run_cycle()
        assert scripted.calls == 2, "an open breaker must not call the strategist"
        assert held.decision.hold_reason == "breaker_open"
        assert runtime.control.degrade is not None
    assert rec.of("resilience", "breaker_opened")
    assert rec.of("resilience", "degrade_entered")
    # A new runtime (a restart) sees the persisted open breaker.
    with Runtime(kernel, clock=clock) as runtime:
        assert runtime.breaker.state == "open"
        runtime.run_cycle()
        assert scripted.calls == 2
        clock.now += timedelta(minutes=6)  # past breaker_cooldown: half-open, one call
        runtime.run_cycle()
        assert scripted.calls == 3
        assert runtime.breaker.state == "closed"
    assert rec.of("resilience", "breaker_half_open") and rec.of("resilience", "breaker_closed")


@pytest.mark.parametrize(
    "error_type", ["budget_exhausted", "prompt_over_budget", "prompt_no_candidates"]
)
def test_holds_decided_by_a_budget_never_open_the_breaker(make_kernel, error_type):
    scripted = Scripted()
    scripted.script = [Decision.hold("budget", error_type=error_type) for _ in range(4)]
    kernel, rec = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    with Runtime(kernel, clock=Clock()) as runtime:
        for _ in range(4):
            runtime.run_cycle()
        assert runtime.breaker.state == "closed" and scripted.calls == 4
        assert runtime.control.degrade is None
    assert not rec.of("resilience", "breaker_opened")


def test_degrade_requires_manual_approval_allowlist_and_scales(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 10), buy("BBB", 10)]
    kernel, _ = make_kernel(
        approval="auto",
        strategist="scripted",
        guards='["allowlist", "max_order_notional"]',
        extra=NOTIONAL + '\n[guard.allowlist]\nsymbols = ["AAA"]\n',
        plugins=((scripted, "s"),),
    )
    with Runtime(kernel) as runtime:
        runtime.control.enter_degrade(reason="test")
        first = runtime.run_cycle()
        assert first.degraded
        assert first.pending and not first.submitted, "degrade forces manual approval"
        record = runtime.store.get(first.pending[0])
        assert record.intent.quantity == 5  # 10 x degrade_notional_ratio 0.5
        runtime.control.resume(actor="op")
        assert runtime.control.degrade is None


def test_degrade_without_allowlist_guard_blocks(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 10)]
    kernel, _ = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    with Runtime(kernel) as runtime:
        runtime.control.enter_degrade(reason="test")
        state = runtime.run_cycle()
        assert state.blocked and state.denials.get("degrade_allowlist_required") == 1


def test_pause_skips_cycles_until_resume(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5)]
    kernel, rec = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    with Runtime(kernel) as runtime:
        runtime.control.pause(actor="alice", reason="lunch")
        paused = runtime.run_cycle()
        assert paused.as_of is None and scripted.calls == 0
        assert rec.of("commander", "end")[-1].fields["action"] == "pause"
        runtime.control.resume(actor="alice")
        assert runtime.run_cycle().submitted
        rows = runtime.store.journal_rows("control:paused")
    assert [r.actor for r in rows] == ["alice", "alice"]


def test_kill_switch_stops_execution(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5)]
    kernel, rec = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    with Runtime(kernel) as runtime:
        runtime.control.set_kill_switch(True, actor="bob")
        state = runtime.run_cycle()
        assert not state.submitted
        assert rec.of("executor", "skipped")


def test_halted_and_reducing_states(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5)]
    kernel, _ = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    with Runtime(kernel) as runtime:
        runtime.control.set_trading_state("reducing", actor="op")
        state = runtime.run_cycle()
        assert state.denials == {"reducing_only": 1}


class SlowQuotes:
    """A market.quote replacement that never answers in time."""

    @hookimpl
    def register_skills(self, register):
        class Slow:
            def fetch(self, request):
                time.sleep(1)
                return {}

        register("slow.quote", lambda config, ctx: Slow())


def test_skill_timeout_falls_back_and_no_quote_means_no_intent(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5)]
    kernel, rec = make_kernel(
        strategist="scripted",
        extra=NOTIONAL,
        plugins=((scripted, "s"), (SlowQuotes(), "slow")),
        environ={
            "TRADEKERNEL_COMPONENTS__SKILLS": '["slow.quote", "account.positions"]',
            "TRADEKERNEL_COMPONENTS__REQUIRED_SKILLS": '["slow.quote"]',
            "TRADEKERNEL_RUNTIME__SKILL_TIMEOUT": "0.2s",
        },
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
    result = state.skill_results["slow.quote"]
    assert not result.ok and result.error == "timeout" and result.fallback_reason
    assert state.candidates == [] and not state.intents
    assert scripted.calls == 0
    events = rec.of("hydrate", "skill")
    assert any(e.fields["skill"] == "slow.quote" and not e.fields["ok"] for e in events)
    assert rec.of("resilience", "incident")  # the required slow.quote fell back


class CycleSeer:
    """A skill that records the cycle it believes it runs in, and emits an event there."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def register_skills(self, register):
        seer = self

        class Seer:
            def __init__(self, ctx):
                self.ctx = ctx

            def fetch(self, request):
                seer.seen.append(current_cycle_id())
                self.ctx.emit("broker", "rate_limit", broker="seer", remaining=1, limit=2)
                return {}

        register("seer.cycle", lambda config, ctx: Seer(ctx))


def test_skills_run_in_the_cycles_context_on_the_pool(make_kernel):
    seer = CycleSeer()
    kernel, rec = make_kernel(
        plugins=((seer, "seer"),),
        environ={
            "TRADEKERNEL_COMPONENTS__SKILLS": '["seer.cycle", "market.quote"]',
            "TRADEKERNEL_RUNTIME__SKILL_TIMEOUT": "5s",
        },
    )
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(2)]
    assert seer.seen == [s.cycle_id for s in states] and all(seer.seen)
    assert [e.cycle_id for e in rec.of("broker", "rate_limit")] == seer.seen


def test_mode_resolution_order(make_kernel):
    kernel, _ = make_kernel(environ={"TRADEKERNEL_KERNEL__MODE": "shadow"})
    with Runtime(kernel) as runtime:
        assert (runtime.mode, runtime.resolved.source) == ("shadow", "env:TRADEKERNEL_KERNEL__MODE")
        Control(runtime.store, kernel.settings.runtime).set_mode("paper", actor="op")
    with Runtime(kernel) as runtime:
        assert (runtime.mode, runtime.resolved.source) == ("paper", "operator")
    with Runtime(kernel, mode="shadow") as runtime:
        assert (runtime.mode, runtime.resolved.source) == ("shadow", "cli")
    with pytest.raises(ConfigError, match="live_acknowledged"):
        Runtime(kernel, mode="live")


class FlakyFeed:
    """Synthetic data whose clock fails on the first advance (a transient outage)."""

    def __init__(self) -> None:
        from tradekernel_marketdata.synthetic import SyntheticConfig, SyntheticFeed

        self.feed = SyntheticFeed(SyntheticConfig(symbols=["AAA", "BBB"]))
        self.failures = 1

    def advance(self):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("feed unavailable")
        return self.feed.advance()

    def __getattr__(self, name):
        return getattr(self.feed, name)

    @hookimpl
    def register_market_data(self, register):
        register("flaky", lambda config, ctx: self)


def test_a_failing_retryable_node_is_retried_with_backoff(make_kernel):
    flaky = FlakyFeed()
    kernel, rec = make_kernel(
        strategist="hold",
        extra=NOTIONAL,
        plugins=((flaky, "flaky"),),
        environ={"TRADEKERNEL_COMPONENTS__MARKET_DATA": "flaky"},
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
    assert state.as_of is not None and state.skill_results["market.quote"].ok
    retries = [e for e in rec.of("commander", "route") if e.fields.get("action") == "retry"]
    assert len(retries) == 1 and "feed unavailable" in retries[0].fields["error"]
    assert rec.of("commander", "end")[-1].fields["action"] == "end"


def test_a_node_failing_for_good_cancels_the_cycle(make_kernel):
    flaky = FlakyFeed()
    flaky.failures = 99
    kernel, rec = make_kernel(
        strategist="hold",
        extra=NOTIONAL,
        plugins=((flaky, "flaky"),),
        environ={"TRADEKERNEL_COMPONENTS__MARKET_DATA": "flaky"},
    )
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        assert int(runtime.store.get_control("incidents", 0)) == 1
    assert len([e for e in rec.of("commander", "route") if e.fields["action"] == "retry"]) == 2
    assert rec.of("commander", "end")[-1].fields["action"] == "cancel"


def test_live_mode_needs_a_live_capable_broker(make_kernel):
    from tradekernel.runtime.stage import stage_key
    from tradekernel.store import Store

    kernel, _ = make_kernel(
        extra=NOTIONAL, environ={"TRADEKERNEL_KERNEL__LIVE_ACKNOWLEDGED": "true"}
    )
    with Store.open(kernel.settings.state_dir) as store:  # promoted, so only the broker fails
        store.set_control(stage_key("sma-cross"), "live", actor="op")
    with Runtime(kernel, mode="live") as runtime, pytest.raises(ConfigError, match="live-capable"):
        runtime.start()


def test_the_executor_checks_the_runtime_mode_not_only_the_file(make_kernel):
    """A --mode live flag (or an operator's persisted mode) must get the live preflight
    even when plugins.toml says paper."""
    from tradekernel.execution import Executor
    from tradekernel.models import GuardVerdict, Intent, utcnow

    kernel, _ = make_kernel(extra=NOTIONAL)
    with Runtime(kernel) as runtime:
        broker = kernel.component("broker")
        intent = Intent.create(symbol="AAA", side="buy", quantity=1, as_of=utcnow())
        runtime.store.add_intent(intent, cycle_id="c", broker="paper")
        runtime.approvals.submit(intent.id, [GuardVerdict.allowed("g")])  # auto: approved

        def codes(executor):
            return {d.code for d in executor.preflight(intent.id)}

        flagged = Executor(
            runtime.store, broker, broker_name="paper", settings=kernel.settings, mode="live"
        )
        plain = Executor(runtime.store, broker, broker_name="paper", settings=kernel.settings)
        assert {"live_not_acknowledged", "broker_not_live_capable"} <= codes(flagged)
        assert codes(plain) == set()
        Control(runtime.store, kernel.settings.runtime).set_mode("live", actor="op")
        persisted = Executor(runtime.store, broker, broker_name="paper", settings=kernel.settings)
        assert {"live_not_acknowledged", "broker_not_live_capable"} <= codes(persisted)


def test_a_refused_intent_does_not_fail_the_cycle(make_kernel):
    """A preflight denial (here: the broker reports no credentials) refuses that intent
    and the cycle goes on; the intent stays approved for a later cycle."""

    class NoCredentials:
        @hookimpl
        def register_brokers(self, register):
            from tradekernel_paper import build

            def make(config, ctx):
                broker = build(config, ctx)
                broker.credentials_ok = lambda: False
                return broker

            from tradekernel_paper.config import PaperConfig

            register("nocreds", make, config=PaperConfig)

    scripted = Scripted()
    scripted.script = [buy("AAA", 5)]
    kernel, rec = make_kernel(
        strategist="scripted",
        extra=NOTIONAL,
        plugins=((scripted, "s"), (NoCredentials(), "nocreds")),
        environ={"TRADEKERNEL_COMPONENTS__BROKER": "nocreds"},
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        assert state.approved and not state.submitted
        assert runtime.store.get(state.approved[0]).state == "approved"
    refused = rec.of("executor", "refused")
    assert refused and "credentials_missing" in refused[0].fields["reason"]
    assert rec.of("commander", "end")[-1].fields["action"] == "end"


def test_degrade_drops_an_order_scaled_to_nothing(make_kernel):
    def tiny(inputs):
        return Decision(
            intents=[
                Intent.create(
                    symbol="AAA", side="buy", notional="0.01", strategist="s", as_of=inputs.as_of
                )
            ]
        )

    scripted = Scripted()
    scripted.script = [tiny]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards='["allowlist"]',
        extra='[guard.allowlist]\nsymbols = ["AAA"]\n',
        plugins=((scripted, "s"),),
    )
    with Runtime(kernel) as runtime:
        runtime.control.enter_degrade(reason="test")
        state = runtime.run_cycle()
    assert state.intents == []
    dropped = rec.of("strategist", "dropped_intent")
    assert dropped and dropped[0].fields["reason"] == "degrade_scaled_to_zero"
    assert rec.of("commander", "end")[-1].fields["action"] == "end"  # no node failed


def test_a_running_agent_follows_an_operator_move_to_a_safer_mode(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5)]
    kernel, _ = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    with Runtime(kernel) as runtime:
        assert runtime.mode == "paper"
        Control(runtime.store, kernel.settings.runtime).set_mode("shadow", actor="op")
        state = runtime.run_cycle()  # the next cycle runs in shadow
        assert runtime.mode == "shadow" and not state.submitted
        assert not kernel.component("broker").orders()
