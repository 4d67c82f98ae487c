"""A net with a budget-denied input: the input is dropped with its code and the rest are
netted again, under a new deterministic id from the remaining inputs, exactly once
(never an input alone and in a net, nor twice), across a restart that replays the bar."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.models import Intent
from tradekernel.portfolio.conflicts import ConflictPolicy, resolve_conflicts
from tradekernel.runtime import Runtime
from tradekernel.serde import structure

from .conftest import BASE
from .test_strategies import NOTIONAL, Named, trade

NAMES = ("fast", "slow", "mid")


def _config() -> str:
    config = BASE.format(approval="auto", strategist="unused", guards='["max_order_notional"]')
    config = config.replace('strategist = "unused"', f"strategists = {list(NAMES)!r}")
    config = config.replace("'", '"').replace("bars = 400", "bars = 400\nresume = false")
    return config + NOTIONAL


def _build(kernel_factory):
    """fast buys 10, slow sells 4, mid buys 3 of AAA every cycle (a net of +9)."""
    plugins = [
        Named("fast", *[trade("buy", 10)] * 5),
        Named("slow", *[trade("sell", 4)] * 5),
        Named("mid", *[trade("buy", 3)] * 5),
    ]
    return kernel_factory.build(_config(), plugins=tuple((p, p.name) for p in plugins))


def _orders(kernel) -> list[tuple[str, Decimal]]:
    return [(o.side.value, o.quantity) for o in kernel.component("broker").orders()]


def test_a_denied_input_is_dropped_and_the_rest_netted_again(kernel_factory):
    kernel, rec = _build(kernel_factory)
    with Runtime(kernel) as runtime:
        runtime.control.set("strategy:slow", {"state": "halted", "peak": "0"}, actor="op")
        first = runtime.run_cycle()
        (net_id,) = first.submitted
        net = runtime.store.get(net_id).intent
        assert (net.side.value, net.quantity, net.strategist) == ("buy", 13, "fast+mid")
        shares = runtime.store.shares(net_id)
        assert {s.strategist: s.amount for s in shares} == {"fast": 10, "mid": 3}
        # the new id derives from the remaining inputs, as netting them alone would
        inputs = {s.strategist: s.intent_id for s in shares}
        (conflict,) = rec.of("portfolio", "conflict")
        by_strategy = {i["strategist"]: i for i in conflict.fields["inputs"]}
        assert set(by_strategy) == set(NAMES)  # each strategy's original intent is named
        (denial,) = rec.of("portfolio", "budget_denied")
        assert (denial.fields["strategy"], denial.fields["code"]) == (
            "slow",
            "strategy_drawdown_stop",
        )
        slow_id = by_strategy["slow"]["intent_id"]
        assert denial.fields["intent_id"] == slow_id
        assert {"intent_id": slow_id, "code": "strategy_drawdown_stop"} in (
            conflict.fields["dropped"]
        )
        assert conflict.fields["netted_intent_id"] == net_id
        (row,) = [r for r in runtime.store.journal_rows() if r.entity.startswith("conflict:")]
        originals = {i["strategist"]: structure(i, Intent) for i in row.payload["inputs"]}
        assert originals["slow"].id == slow_id  # the journal keeps the denied original too
        remaining = [originals["fast"], originals["mid"]]
        alone = resolve_conflicts(remaining, ConflictPolicy("net", NAMES))
        assert alone.netted[0][0].id == net_id
        assert inputs == {"fast": remaining[0].id, "mid": remaining[1].id}
        assert _orders(kernel) == [("buy", Decimal(13))]
        runtime.run_cycle()  # the paper broker fills it: each strategy gets its share
        assert runtime.store.strategy_fills(net_id) == {"fast": 10, "mid": 3}


def test_a_restart_replaying_the_bar_sends_nothing_twice(kernel_factory):
    kernel, _ = _build(kernel_factory)
    with Runtime(kernel) as runtime:
        runtime.control.set("strategy:slow", {"state": "halted", "peak": "0"}, actor="op")
        first = runtime.run_cycle()
        (net_id,) = first.submitted
    # the restart replays the same bar: slow is still halted, so the same net re-forms
    # (the same id: the store already has it, nothing is sent again)
    kernel, rec = _build(kernel_factory)
    with Runtime(kernel) as runtime:
        again = runtime.run_cycle()
        assert again.as_of == first.as_of
        assert not again.submitted
        assert [r.id for r in runtime.store.list_intents()] == [net_id]
        # an operator resumes slow, and the bar is replayed once more: fast and mid are
        # in the sent net already (dropped), slow's -4 goes on alone, once
        runtime.control.set("strategy:slow", {"state": "active", "peak": None}, actor="op")
    kernel, rec = _build(kernel_factory)
    with Runtime(kernel) as runtime:
        third = runtime.run_cycle()
        assert third.as_of == first.as_of
        # sent once (the paper account holds nothing to sell yet: the broker refuses it)
        (alone,) = third.proposed
        assert third.submitted + third.failed == [alone]
        assert runtime.store.get(alone).intent.strategist == "slow"
        dropped = [e.fields for e in rec.of("strategist", "dropped_intent")]
        assert sorted(d["reason"] for d in dropped) == ["already_netted", "already_netted"]
        assert sorted(_orders(kernel)) == [("buy", Decimal(13)), ("sell", Decimal(4))]
        # every input is part of exactly one order
        netted = {s.intent_id for s in runtime.store.shares(net_id)}
        assert runtime.store.get(alone).intent.id not in netted
