"""Several strategists: each strategy's intent is part of at most one order, across
replays of one market time, restarts and smokes."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.models import Decision
from tradekernel.runtime import Runtime
from tradekernel.runtime.state import CycleState

from .test_strategies import Named, trade, two  # noqa: F401  (the fixture)


def _again(runtime: Runtime, first: CycleState) -> CycleState:
    """The same market time once more (a replay after a restart, a retried node)."""
    again = CycleState(cycle_id="cyc_again", mode=first.mode, mode_source="test")
    again.as_of, again.candidates = first.as_of, first.candidates
    again.quotes, again.positions, again.account = first.quotes, {}, first.account
    runtime._node_strategize(again)
    runtime._node_guard(again)
    runtime._node_execute(again)
    return again


def _orders(kernel) -> list[tuple[str, Decimal]]:
    return [(o.side.value, o.quantity) for o in kernel.component("broker").orders()]


def test_an_input_of_a_sent_net_is_never_sent_alone(two):  # noqa: F811
    fast, slow = Named("fast", trade("buy", 10)), Named("slow", trade("sell", 4))
    kernel, rec = two(fast, slow)
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        (net_id,) = first.submitted
        fast.script, slow.script = [trade("buy", 10)], [Decision.hold("breaker_open")]
        again = _again(runtime, first)
        assert not again.proposed and not again.submitted
        assert _orders(kernel) == [("buy", Decimal(6))]
    dropped = [e.fields for e in rec.of("strategist", "dropped_intent")]
    assert [d["reason"] for d in dropped] == ["already_netted"]
    assert net_id in dropped[0]["detail"]


def test_an_input_sent_alone_never_joins_a_net(two):  # noqa: F811
    fast, slow = Named("fast", trade("buy", 10)), Named("slow", Decision.hold("no_signal"))
    kernel, _ = two(fast, slow)
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        (fast_id,) = first.submitted
        fast.script, slow.script = [trade("buy", 10)], [trade("sell", 4)]
        again = _again(runtime, first)
        # fast's +10 is not sent again (inside a +6 net): slow's -4 goes on alone
        assert fast_id not in again.submitted
        assert _orders(kernel) == [("buy", Decimal(10)), ("sell", Decimal(4))]
        assert not runtime.store.netted_intents("fast")


def test_different_inputs_netting_to_one_amount_are_different_intents(two):  # noqa: F811
    fast, slow = Named("fast", trade("buy", 10)), Named("slow", trade("sell", 4))
    kernel, _ = two(fast, slow)
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        (net_id,) = first.submitted
        fast.script, slow.script = [trade("buy", 8)], [trade("sell", 2)]  # +6 again
        again = _again(runtime, first)
        (other,) = again.proposed
        assert other != net_id
        assert runtime.store.get(other).intent.prompt_version != (
            runtime.store.get(net_id).intent.prompt_version
        )
        assert [s.amount for s in runtime.store.shares(net_id)] == [10, -4]
        assert [s.amount for s in runtime.store.shares(other)] == [8, -2]
        runtime.run_cycle()  # the paper broker fills
        assert runtime.store.strategy_fills(net_id) == {"fast": 10, "slow": -4}


def test_a_restart_replaying_a_bar_does_not_resend_a_netted_input(kernel_factory):
    from .conftest import BASE

    config = BASE.format(approval="auto", strategist="unused", guards="[]").replace(
        'strategist = "unused"', 'strategists = ["fast", "slow"]'
    )
    config = config.replace("bars = 400", "bars = 400\nresume = false")

    def build():
        fast, slow = Named("fast", trade("buy", 10)), Named("slow", trade("sell", 4))
        return kernel_factory.build(config, plugins=((fast, "fast"), (slow, "slow")))[0]

    kernel = build()
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        (net_id,) = first.submitted
        runtime.control.set(
            "breaker:slow",
            {"state": "open", "failures": 2, "opened_at": "2999-01-01T00:00:00+00:00"},
            actor="test",
        )
    with Runtime(build()) as runtime:  # slow is held by its open breaker now
        second = runtime.run_cycle()
        assert second.as_of == first.as_of
        assert not second.submitted
        fast_input = [s.intent_id for s in runtime.store.shares(net_id) if s.strategist == "fast"]
        assert fast_input and not runtime.store.input_history(fast_input)[1]


def test_a_smoke_records_no_conflict_and_no_share(two):  # noqa: F811
    fast, slow = Named("fast", trade("buy", 10)), Named("slow", trade("sell", 4))
    kernel, rec = two(fast, slow)
    with Runtime(kernel, mode="shadow") as runtime:
        state = runtime.decide_once()
        (netted,) = state.intents
        assert netted.strategist == "fast+slow"
        assert not [r for r in runtime.store.journal_rows() if r.entity.startswith("conflict:")]
        assert not runtime.store.shares(netted.id)
    assert rec.of("portfolio", "conflict")  # still shown


def test_a_net_goes_on_only_when_every_input_would_pass_the_guards(two):  # noqa: F811
    # a's +1000 is far over the 50000 max_order_notional; crossed with b's -999 the net
    # (+1) is small, but a's gross trade must not pass the guards that way
    a, b = Named("a", trade("buy", 1000)), Named("b", trade("sell", 999))
    kernel, rec = two(a, b)
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        (net_id,) = state.proposed
        assert state.blocked == [net_id] and not state.submitted
        record = runtime.store.get(net_id)
        assert record.intent.quantity == 1
    denied = [e.fields for e in rec.of("risk", "verdict") if not e.fields["allow"]]
    assert {d["code"] for d in denied} == {"order_notional_exceeded"}
    # each gross trade (98880 and 98781 at the bar's price) is named
    assert sorted(d["detail"].split(" of ")[1][0] for d in denied) == ["a", "b"]


def test_a_degraded_strategy_never_nets_with_a_healthy_one(two):  # noqa: F811
    oracle, rule = Named("oracle", trade("buy", 2)), Named("rule", trade("buy", 10))
    kernel, _ = two(oracle, rule)
    with Runtime(kernel) as runtime:
        runtime.control.set("degrade:oracle", {"since": "x", "reason": "t"}, actor="test")
        state = runtime.run_cycle()
        records = {runtime.store.get(i).intent.strategist: i for i in state.proposed}
        assert sorted(records) == ["oracle", "rule"]  # each alone, no net
        assert state.submitted == [records["rule"]]  # the healthy strategy trades
        assert records["oracle"] in state.degraded_intents
        assert records["oracle"] not in state.submitted


def test_a_strategy_breaker_opening_is_not_an_agent_incident(two):  # noqa: F811
    from .test_strategies import FAIL

    oracle = Named("oracle", *([FAIL] * 40))
    rule = Named("rule", *(trade("buy", 1, "BBB") for _ in range(40)))
    kernel, rec = two(oracle, rule)
    with Runtime(kernel) as runtime:
        for _ in range(20):
            state = runtime.run_cycle()
            assert state.decisions["rule"].hold_reason != "cooldown"
            breaker = runtime.breaker_for("oracle")
            snap = breaker.snapshot()
            if snap["state"] == "open":  # its cooldown passes: half-open, fails, opens again
                snap["opened_at"] = "2000-01-01T00:00:00+00:00"
                runtime.control.set(breaker.key, snap, actor="test (time passes)")
        assert runtime.control.degrade is None
        assert runtime.control.get("degrade:oracle", None) is not None
    # it opened three times, then self-healing latched it open ([heal] flap_opens = 3)
    assert len(rec.of("resilience", "breaker_opened")) == 3
    (escalated,) = rec.of("heal", "escalated")
    assert "breaker:oracle" in escalated.fields["reason"]
    assert not rec.of("resilience", "incident")


def test_a_strategy_own_degrade_honours_degrade_reducing(kernel_factory):
    from .conftest import BASE

    config = BASE.format(
        approval="auto", strategist="unused", guards='["allowlist", "max_order_notional"]'
    ).replace('strategist = "unused"', 'strategists = ["oracle", "rule"]')
    config = config.replace("[runtime]\n", "[runtime]\ndegrade_reducing = true\n")
    config += (
        '\n[guard.max_order_notional]\nlimit = 50000\n[guard.allowlist]\nsymbols = ["AAA", "BBB"]\n'
    )
    oracle, rule = Named("oracle", trade("buy", 4)), Named("rule", trade("buy", 10, "BBB"))
    kernel, rec = kernel_factory.build(config, plugins=((oracle, "oracle"), (rule, "rule")))
    with Runtime(kernel) as runtime:
        runtime.control.set("degrade:oracle", {"since": "x", "reason": "t"}, actor="test")
        state = runtime.run_cycle()
        by = {runtime.store.get(i).intent.strategist: i for i in state.proposed}
        assert state.blocked == [by["oracle"]]  # it would open a position
        assert by["rule"] in state.submitted
        assert runtime.store.get(by["oracle"]).reason and runtime.control.trading_state == "active"
    codes = {e.fields["code"] for e in rec.of("risk", "verdict") if not e.fields["allow"]}
    assert codes == {"reducing_only"}


def test_back_to_one_strategist_carries_its_open_breaker_and_degrade(kernel_factory):
    from tradekernel.store import Store

    from .conftest import BASE

    def config(names: str) -> str:
        return BASE.format(approval="auto", strategist="unused", guards="[]").replace(
            'strategist = "unused"', f"strategists = {names}"
        )

    oracle, rule = Named("oracle"), Named("rule")
    kernel, _ = kernel_factory.build(
        config('["oracle", "rule"]'), plugins=((oracle, "oracle"), (rule, "rule"))
    )
    with Store.open(kernel.settings.state_dir) as store:
        opened = {"state": "open", "failures": 3, "opened_at": "2999-01-01T00:00:00+00:00"}
        store.set_control("breaker:oracle", opened, actor="runtime")
        store.set_control("degrade:oracle", {"since": "x", "reason": "t"}, actor="runtime")
    alone = Named("oracle", trade("buy", 4))
    kernel, _ = kernel_factory.build(config('["oracle"]'), plugins=((alone, "oracle"),))
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        assert alone.calls == 0 and state.decision.hold_reason == "breaker_open"
        assert runtime.breaker.state == "open" and runtime.control.degrade is not None
        assert runtime.control.get("breaker:oracle") is None
        assert runtime.control.get("degrade:oracle") is None
        assert runtime.store.verify_journal().ok


def test_a_strategy_name_with_the_net_joiner_is_refused(kernel_factory):
    import pytest
    from tradekernel.errors import ConfigError

    from .conftest import BASE

    a, ab = Named("a"), Named("a+b")
    config = BASE.format(approval="auto", strategist="unused", guards="[]").replace(
        'strategist = "unused"', 'strategists = ["a", "a+b"]'
    )
    with pytest.raises(ConfigError, match=r"strategists: 'a\+b': '\+' is reserved"):
        kernel_factory.build(config, plugins=((a, "a"), (ab, "a+b")))
