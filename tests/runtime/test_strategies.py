"""Several strategists in one agent: own breakers and degrade, conflicts in one cycle,
netting executed exactly once with each strategy's fill share."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from tradekernel import hookimpl
from tradekernel.errors import ConfigError
from tradekernel.models import Decision, Intent
from tradekernel.runtime import Runtime
from tradekernel.runtime.state import CycleState

from .conftest import BASE

FAIL = Decision.hold("provider failed", error_type="provider_timeout")


class Named:
    """A scripted strategist registered under ``name`` (a list of callables/Decisions)."""

    def __init__(self, name: str, *script: Any) -> None:
        self.name = name
        self.script = list(script)
        self.calls = 0

    def decide(self, inputs: Any) -> Decision:
        self.calls += 1
        step = self.script.pop(0) if self.script else Decision.hold("script_empty")
        return step(inputs) if callable(step) else step

    @hookimpl
    def register_strategists(self, register: Callable) -> None:
        register(self.name, lambda config, ctx: self)


def trade(side: str, quantity: int, symbol: str = "AAA") -> Callable[[Any], Decision]:
    def make(inputs: Any) -> Decision:
        intent = Intent.create(
            symbol=symbol,
            side=side,
            quantity=quantity,
            strategist="scripted",  # the kernel stamps the strategy's own name
            as_of=inputs.as_of,
            rationale="test",
        )
        return Decision(intents=[intent])

    return make


NOTIONAL = """
[guard.max_order_notional]
limit = 50000
"""


@pytest.fixture
def two(kernel_factory):
    def make(a: Named, b: Named, portfolio: str = "", guards: str = '["max_order_notional"]'):
        config = BASE.format(approval="auto", strategist="unused", guards=guards).replace(
            'strategist = "unused"', f'strategists = ["{a.name}", "{b.name}"]'
        )
        config += NOTIONAL + portfolio
        return kernel_factory.build(config, plugins=((a, a.name), (b, b.name)))

    return make


def test_a_failing_strategist_opens_only_its_breaker_and_the_other_trades(two):
    oracle = Named("oracle", FAIL, FAIL, FAIL, FAIL)
    rule = Named("rule", *(trade("buy", 1, "BBB") for _ in range(4)))
    kernel, rec = two(oracle, rule)
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(4)]
        assert runtime.breaker_for("oracle").state == "open"
        assert runtime.breaker_for("rule").state == "closed"
        assert runtime.breaker_for("oracle").key == "breaker:oracle"
        assert runtime.control.degrade is None, "the agent itself is not degraded"
        assert runtime.control.get("degrade:oracle")["reason"] == "breaker_open"
        assert runtime.control.get("degrade:rule") is None
        records = runtime.store.list_intents()
    assert oracle.calls == 2, "an open breaker holds the oracle strategy"
    assert rule.calls == 4
    assert all(s.submitted for s in states), "the rule strategy trades every cycle"
    assert {r.intent.strategist for r in records} == {"rule"}
    assert states[-1].decisions["oracle"].hold_reason == "breaker_open"
    opened = rec.of("resilience", "breaker_opened")
    assert [e.fields["strategist"] for e in opened] == ["oracle"]
    decisions = rec.of("strategist", "decision")
    assert {e.fields["strategist"] for e in decisions} == {"oracle", "rule"}


def test_a_degraded_strategist_needs_manual_approval_the_other_does_not(two):
    oracle = Named("oracle", FAIL, FAIL)
    rule = Named("rule", trade("buy", 1, "BBB"), trade("buy", 1, "BBB"), trade("buy", 1, "BBB"))
    allow = '\n[guard.allowlist]\nsymbols = ["AAA", "BBB"]\n'
    kernel, _ = two(oracle, rule, allow, guards='["allowlist", "max_order_notional"]')
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()
        breaker = runtime.breaker_for("oracle")
        snap = breaker.snapshot()
        snap["opened_at"] = "2000-01-01T00:00:00+00:00"  # cooldown long over: half-open
        runtime.control.set(breaker.key, snap, actor="test")
        oracle.script = [trade("buy", 10)]
        state = runtime.run_cycle()
        oracle_ids = [
            i for i in state.proposed if runtime.store.get(i).intent.strategist == "oracle"
        ]
        assert len(oracle_ids) == 1 and oracle_ids[0] in state.pending, "its own degrade: manual"
        assert runtime.store.get(oracle_ids[0]).intent.quantity == 5, "scaled by the ratio"
        assert any(runtime.store.get(i).intent.strategist == "rule" for i in state.submitted)
        runtime.control.exit_degrade(actor="op")
        assert runtime.control.get("degrade:oracle") is None


def _conflict(two, portfolio: str):
    fast = Named("fast", trade("buy", 10), Decision.hold("no_signal"))
    slow = Named("slow", trade("sell", 4), Decision.hold("no_signal"))
    kernel, rec = two(fast, slow, portfolio)
    return kernel, rec


def test_net_sends_one_order_records_shares_and_splits_its_fills(two):
    kernel, rec = _conflict(two, '\n[portfolio]\nconflict = "net"\n')
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        runtime.run_cycle()  # the paper broker fills on the next bar
        assert len(first.proposed) == 1 and first.submitted == first.proposed
        record = runtime.store.get(first.proposed[0])
        assert record.intent.quantity == 6 and record.intent.side.value == "buy"
        assert record.intent.strategist == "fast+slow"
        shares = runtime.store.shares(record.id)
        assert [(s.strategist, s.amount) for s in shares] == [
            ("fast", Decimal(10)),
            ("slow", Decimal(-4)),
        ]
        broker = kernel.component("broker")
        sent = [o for o in broker.orders() if o.client_order_id == record.client_order_id]
        assert len(sent) == 1 and len(broker.orders()) == 1, "exactly one order"
        fills = runtime.store.fills(record.client_order_id)
        assert sum(f.quantity for f in fills) == 6
        parts = runtime.store.strategy_fills(record.id)
        assert parts == {"fast": Decimal(10), "slow": Decimal(-4)}
        assert sum(parts.values()) == 6
        rows = [r for r in runtime.store.journal_rows() if r.entity.startswith("conflict:")]
        assert runtime.store.verify_journal().ok
    assert len(rows) == 1 and rows[0].to_state == "net"
    originals = rows[0].payload["inputs"]
    assert sorted((o["strategist"], o["side"], o["quantity"]) for o in originals) == [
        ("fast", "buy", "10"),
        ("slow", "sell", "4"),
    ]
    from tradekernel.testing import invoke

    cfg = str(kernel.settings.config_path)
    shown = invoke(["--config", cfg, "intents", "show", record.id])
    assert shown.exit_code == 0, shown.stderr
    assert "strategist: fast+slow" in shown.stdout
    assert "share: fast +10 (filled +10)" in shown.stdout, shown.stdout
    assert "share: slow -4 (filled -4)" in shown.stdout
    listed = invoke(["--config", cfg, "intents", "list", "--strategy", "slow", "--json"])
    assert [i["id"] for i in json.loads(listed.stdout)["intents"]] == [record.id]
    (event,) = rec.of("portfolio", "conflict")
    assert event.fields["result"] == "netted"
    assert event.fields["netted_intent_id"] == record.id
    assert event.fields["client_order_id"] == record.client_order_id
    assert {i["strategist"] for i in event.fields["inputs"]} == {"fast", "slow"}


def test_priority_keeps_the_higher_ranked_strategy_and_drops_the_other(two):
    kernel, rec = _conflict(two, '\n[portfolio]\nconflict = "priority"\npriority = ["fast"]\n')
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        (kept,) = [runtime.store.get(i) for i in state.proposed]
        assert kept.intent.strategist == "fast" and kept.intent.quantity == 10
        assert not runtime.store.shares(kept.id)
    (event,) = rec.of("portfolio", "conflict")
    assert event.fields["policy"] == "priority" and event.fields["result"] == "kept"
    dropped = rec.of("strategist", "dropped_intent")
    assert [(e.fields["reason"], e.fields["strategist"]) for e in dropped] == [
        ("conflict_lost", "slow")
    ]


def test_veto_cancels_opposite_sides(two):
    kernel, rec = _conflict(two, '\n[portfolio]\nconflict = "veto"\n')
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        assert not state.proposed and not state.intents
        rows = [r for r in runtime.store.journal_rows() if r.entity.startswith("conflict:")]
    assert rows and rows[0].reason == "vetoed"
    (event,) = rec.of("portfolio", "conflict")
    assert event.fields["result"] == "vetoed"
    codes = sorted(e.fields["reason"] for e in rec.of("strategist", "dropped_intent"))
    assert codes == ["conflict_vetoed", "conflict_vetoed"]


def test_the_same_cycle_inputs_net_to_the_same_intent_and_send_nothing_twice(two):
    kernel, _ = _conflict(two, "")
    fast, slow = (kernel.component("strategist", n) for n in ("fast", "slow"))
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        # the node retried on the same inputs (as after a crash between nodes)
        fast.script, slow.script = [trade("buy", 10)], [trade("sell", 4)]
        again = CycleState(cycle_id="cyc_again", mode=first.mode, mode_source="test")
        again.as_of, again.candidates = first.as_of, first.candidates
        again.quotes, again.positions, again.account = first.quotes, {}, first.account
        runtime._node_strategize(again)
        assert [i.id for i in again.intents] == first.proposed
        runtime._node_guard(again)
        runtime._node_execute(again)
        assert not again.proposed and not again.submitted
        assert len(kernel.component("broker").orders()) == 1


def test_strategist_and_strategists_together_are_refused(kernel_factory):
    config = BASE.format(approval="auto", strategist="hold", guards="[]").replace(
        'strategist = "hold"', 'strategist = "hold"\nstrategists = ["hold", "sma-cross"]'
    )
    with pytest.raises(ConfigError, match="strategist and strategists are both set"):
        kernel_factory.build(config)


def test_a_priority_naming_no_strategist_is_refused(kernel_factory):
    config = BASE.format(approval="auto", strategist="hold", guards="[]")
    config += '\n[portfolio]\npriority = ["hodl"]\n'
    with pytest.raises(ConfigError, match="priority: 'hodl' is not a configured strategist"):
        kernel_factory.build(config)


def test_each_strategy_has_its_own_stage_and_every_one_must_allow_the_mode(kernel_factory):
    from tradekernel.errors import RefusedError
    from tradekernel.runtime.stage import current_digest
    from tradekernel.store import Store

    config = BASE.format(approval="auto", strategist="x", guards="[]").replace(
        'strategist = "x"', 'strategists = ["fast", "slow"]'
    )
    config += '\n[strategist.fast]\nuse = "sma-cross"\nfast = 2\nslow = 5\n'
    config += '\n[strategist.slow]\nuse = "sma-cross"\nfast = 5\nslow = 12\n'
    kernel, _ = kernel_factory.build(config)
    digests = {n: current_digest(kernel.settings, kernel.registry, n) for n in ("fast", "slow")}
    assert digests["fast"] != digests["slow"], "each instance's stage is tied to its config"
    with Store.open(kernel.settings.state_dir) as store:
        store.set_control(
            "stage:fast",
            {"stage": "paper", "evidence": {"config_digest": digests["fast"]}},
            actor="op",
        )
        store.set_control("stage:slow", "shadow", actor="op")
    with pytest.raises(RefusedError, match="strategist slow is at stage shadow"):
        Runtime(kernel, mode="paper")
    with Runtime(kernel, mode="shadow") as runtime:
        assert runtime.mode == "shadow"
    with Store.open(kernel.settings.state_dir) as store:
        store.set_control("stage:slow", "paper", actor="op")
    with Runtime(kernel, mode="paper") as runtime:
        runtime.run_cycle()
        assert runtime.mode == "paper"
        with Store.open(kernel.settings.state_dir) as store:  # slow demoted while running
            store.set_control("stage:slow", "shadow", actor="op")
        runtime.run_cycle()
        assert runtime.mode == "shadow", "the agent steps down to what every stage allows"


def test_a_net_below_the_brokers_minimum_sends_nothing(kernel_factory):
    fast = Named("fast", trade("buy", 10))
    slow = Named("slow", trade("sell", 6))
    config = BASE.format(approval="auto", strategist="x", guards='["max_order_notional"]')
    config = config.replace('strategist = "x"', 'strategists = ["fast", "slow"]')
    config = config.replace("cash = 100000", "cash = 100000\nmin_quantity = 5") + NOTIONAL
    kernel, rec = kernel_factory.build(config, plugins=((fast, "fast"), (slow, "slow")))
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        assert not state.proposed and not kernel.component("broker").orders()
        rows = [r for r in runtime.store.journal_rows() if r.entity.startswith("conflict:")]
    (event,) = rec.of("portfolio", "conflict")
    assert event.fields["result"] == "netted_out" and "order constraints" in event.fields["note"]
    assert rows[0].payload["netted"] is None
    reasons = [e.fields["reason"] for e in rec.of("strategist", "dropped_intent")]
    assert reasons == ["quantity_below_minimum"]
