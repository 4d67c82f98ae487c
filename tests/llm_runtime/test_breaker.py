"""The runtime's circuit breaker around the ``llm`` strategist, against a real local
server: provider failures open it, an open breaker never calls the provider, a half-open
success closes it; budget holds never count; ``decide_once`` neither checks nor feeds it."""

from __future__ import annotations

from datetime import timedelta

from tradekernel.runtime import Runtime
from tradekernel_openai_compatible.testing import Reply, completion

from .conftest import Clock, buy_reply


def test_provider_failures_open_the_breaker_and_a_half_open_success_closes_it(server, make_kernel):
    server.default = Reply(status=500)
    kernel, rec = make_kernel(server.base_url)
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        for _ in range(2):  # [runtime] breaker_failures = 2
            state = runtime.run_cycle()
            assert state.decision.error_type == "provider_http_5xx"
            assert state.intents == []
        assert server.count == 4, "max_attempts = 2 per call"
        assert runtime.breaker.state == "open"
        assert runtime.control.degrade["reason"] == "breaker_open"

        held = runtime.run_cycle()
        assert held.decision.hold_reason == "breaker_open"
        assert server.count == 4, "an open breaker must not call the provider"
        clock.now += timedelta(minutes=4)  # breaker_cooldown is 5m
        assert runtime.run_cycle().decision.hold_reason == "breaker_open"
        assert server.count == 4

        clock.now += timedelta(minutes=2)
        server.default = Reply(body=buy_reply("AAA", 6))
        state = runtime.run_cycle()
        assert server.count == 5, "half-open: exactly one call"
        assert state.decision.error_type is None and len(state.decision.intents) == 1
        assert runtime.breaker.state == "closed"
        # still in degrade mode (the operator resumes): manual approval, no allowlist → no order
        assert state.degraded and state.submitted == []
        assert kernel.component("broker").orders() == []
    assert len(rec.of("strategist_llm", "decision")) == 3
    for kind in ("breaker_opened", "breaker_half_open", "breaker_closed", "degrade_entered"):
        assert rec.of("resilience", kind), kind


def test_a_half_open_failure_opens_the_breaker_again(server, make_kernel):
    server.default = Reply(status=503)
    kernel, rec = make_kernel(server.base_url)
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()
        assert runtime.breaker.state == "open"
        clock.now += timedelta(minutes=6)
        runtime.run_cycle()
        assert server.count == 6
        assert runtime.breaker.state == "open"
        assert runtime.run_cycle().decision.hold_reason == "breaker_open"
        assert server.count == 6
    assert len(rec.of("resilience", "breaker_opened")) == 2


def test_budget_exhausted_holds_do_not_open_the_breaker(server, make_kernel):
    kernel, rec = make_kernel(server.base_url, extra="budget_daily_tokens = 50\n")
    with Runtime(kernel) as runtime:
        runtime.start()
        for _ in range(3):
            state = runtime.run_cycle()
            assert state.decision.error_type == "budget_exhausted"
        assert server.count == 0, "no request past the budget"
        assert runtime.breaker.snapshot() == {"state": "closed", "failures": 0, "opened_at": None}
        assert runtime.control.degrade is None
    assert len(rec.of("budget", "exhausted")) == 3
    assert not rec.of("resilience", "breaker_opened")


def test_budget_holds_do_not_reset_or_add_to_failures(server, make_kernel):
    """A failed answer that spent tokens, then budget holds: the failure count stays at one."""
    # the first call fits the limit (about 1.3k estimated tokens); the unusable answer it
    # gets still spends 10k tokens, so every later call would pass the limit
    server.push(
        body=completion("no json here", usage={"prompt_tokens": 10000, "completion_tokens": 5})
    )
    kernel, _ = make_kernel(server.base_url, extra="budget_daily_tokens = 10500\n")
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        assert first.decision.error_type == "invalid_json"
        assert runtime.breaker.snapshot()["failures"] == 1
        for _ in range(2):
            assert runtime.run_cycle().decision.error_type == "budget_exhausted"
        assert server.count == 1
        assert runtime.breaker.snapshot()["failures"] == 1
        assert runtime.breaker.state == "closed"


def test_decide_once_asks_past_an_open_breaker_and_records_nothing(server, make_kernel):
    server.default = Reply(status=500)
    kernel, rec = make_kernel(server.base_url)
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()
        assert runtime.breaker.state == "open"
        before = runtime.breaker.snapshot()
        server.default = Reply(body=buy_reply("BBB", 3))
        state = runtime.decide_once()
        assert server.count == 5, "the smoke decision calls the provider even when open"
        assert [i.symbol for i in state.decision.intents] == ["BBB"]
        assert runtime.breaker.snapshot() == before, "a smoke decision does not count"
        assert runtime.store.list_intents() == []
        assert state.proposed == [] and state.submitted == []
    assert kernel.component("broker").orders() == []
    assert rec.of("strategist_llm", "decision")[-1].cycle_id == state.cycle_id
