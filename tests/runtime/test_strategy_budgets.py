"""Budgets in a run: two sma-cross instances, one whose budget runs out mid-run and one
whose drawdown stop moves it (and only it) to ``reducing``, then ``halted`` once flat."""

from __future__ import annotations

from tradekernel.models import Decision
from tradekernel.portfolio.ledger import StrategyLedger
from tradekernel.runtime import Runtime

from .conftest import BASE
from .test_strategies import NOTIONAL, Named, trade

TWO = (
    BASE.format(approval="auto", strategist="unused", guards='["max_order_notional"]').replace(
        'strategist = "unused"', 'strategists = ["fast", "slow"]'
    )
    + """
[guard.max_order_notional]
limit = 50000

[strategist.fast]
use = "sma-cross"
fast = 2
slow = 5

[strategist.slow]
use = "sma-cross"
fast = 3
slow = 9
quantity = 20

[portfolio.budgets.fast]
amount = 1500

[portfolio.budgets.slow]
amount = 100000
drawdown_stop = 0.0001
"""
)


def test_a_budget_runs_out_and_a_drawdown_stop_reduces_only_its_strategy(kernel_factory):
    kernel, rec = kernel_factory.build(TWO)
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(120)]
        stored = {r.id: r for r in runtime.store.list_intents()}
        # reducing at its drawdown stop, then (no drawdown_halt) halted once it sold
        # everything it held of its own
        assert runtime.control.get("strategy:slow")["state"] == "halted"
        ledger = StrategyLedger.from_store(runtime.store)
        assert not ledger.books["slow"].positions()
        assert runtime.control.get("strategy:fast") is None, "no drawdown stop: never moved"
        assert runtime.control.trading_state == "active", "the account is not reduced"
    events = [e for e in rec.events if e.stage == "portfolio"]
    denied = [e for e in events if e.kind == "budget_denied"]
    by_code = {
        name: {e.fields["code"] for e in denied if e.fields["strategy"] == name}
        for name in ("fast", "slow")
    }
    assert by_code == {"fast": {"strategy_budget_exceeded"}, "slow": {"strategy_drawdown_stop"}}

    # fast traded within its 1500 first (an order of its own or a share of a net),
    # then its budget ran out
    cycles = [s.cycle_id for s in states]
    fast_sent = [
        cycles.index(s.cycle_id)
        for s in states
        for i in s.submitted
        if "fast" in stored[i].intent.strategist.split("+")
    ]
    fast_denied = [cycles.index(e.cycle_id) for e in denied if e.fields["strategy"] == "fast"]
    assert fast_sent and fast_denied and min(fast_sent) < min(fast_denied)

    # the drawdown stop moved slow, and only slow, to reducing, then to halted
    moves = [e for e in events if e.kind == "strategy_state"]
    assert [(e.fields["strategy"], e.fields["state"]) for e in moves] == [
        ("slow", "reducing"),
        ("slow", "halted"),
    ]
    assert [m.severity for m in moves] == ["warning", "critical"]
    after = events.index(moves[0])
    assert any(e.fields["strategy"] == "slow" for e in denied if events.index(e) > after)
    assert not any(e.fields["strategy"] == "slow" for e in denied if events.index(e) < after)
    # a denied intent never reaches the store (nor the guards)
    assert not {e.fields["intent_id"] for e in denied} & set(stored)


def test_a_denied_input_leaves_the_net_and_the_other_goes_on_alone(kernel_factory):
    """fast buys 10 and slow sells 4 of AAA; slow is halted: its -4 is denied (with its
    code) before netting, and fast's +10, the only input left, goes on as itself (no net,
    no share), never also inside a net."""
    fast = Named("fast", trade("buy", 10), trade("buy", 10, "BBB"))
    slow = Named("slow", trade("sell", 4), Decision.hold("no_signal"))
    config = BASE.format(approval="auto", strategist="unused", guards='["max_order_notional"]')
    config = config.replace('strategist = "unused"', 'strategists = ["fast", "slow"]')
    kernel, rec = kernel_factory.build(config + NOTIONAL, plugins=((fast, "fast"), (slow, "slow")))
    with Runtime(kernel) as runtime:
        runtime.control.set("strategy:slow", {"state": "halted", "peak": "0"}, actor="op")
        first = runtime.run_cycle()
        (sent,) = first.submitted
        intent = runtime.store.get(sent).intent
        assert (intent.strategist, intent.side.value, intent.quantity) == ("fast", "buy", 10)
        assert not rec.of("portfolio", "conflict") and not runtime.store.shares(sent)
        (denial,) = rec.of("portfolio", "budget_denied")
        assert (denial.fields["strategy"], denial.fields["code"]) == (
            "slow",
            "strategy_drawdown_stop",
        )
        second = runtime.run_cycle()
        assert len(second.submitted) == 1
        assert runtime.store.get(second.submitted[0]).intent.strategist == "fast"
