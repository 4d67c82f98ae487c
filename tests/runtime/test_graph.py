"""The canonical graph end to end, on the real paper broker, synthetic data and guards."""

from __future__ import annotations

from tradekernel.approval import ApprovalService
from tradekernel.models import Decision, Intent
from tradekernel.runtime import PLAN, Runtime, run_cycles, runtime_plan
from tradekernel.store import IntentState

from .conftest import Scripted, buy

NOTIONAL = """
[guard.max_order_notional]
limit = 5000
"""


def test_auto_mode_trades_through_every_node(make_kernel):
    kernel, rec = make_kernel(approval="auto", extra=NOTIONAL)
    with Runtime(kernel) as runtime:
        states = run_cycles(runtime, cycles=None)
        _check_trades(runtime, states, rec)


def _check_trades(runtime, states, rec):
    assert runtime.exhausted and len(states) == 401  # 400 bars, then the feed ends
    submitted = [i for s in states for i in s.submitted]
    fills = sum(s.fills for s in states)
    assert submitted, "sma-cross should trade on the synthetic data"
    assert fills >= len(submitted) - 1  # every order but possibly the last filled
    # Every node of the plan was routed to, in plan order, in a trading cycle.
    trading = next(s for s in states if s.submitted)
    edges = [
        (e.fields["node"], e.fields["next"])
        for e in rec.of("commander", "transition")
        if e.cycle_id == trading.cycle_id
    ]
    names = [n.name for n in PLAN]
    assert edges == list(zip(names, [*names[1:], "end"], strict=True))
    ends = rec.of("commander", "end")
    assert len(ends) == len(states)
    assert ends[-1].fields["reason"].startswith("market data exhausted")
    # Each submitted intent went proposed -> pending_approval -> approved -> executing -> submitted.
    store = runtime.store
    record = store.get(submitted[0])
    assert record.state == IntentState.SUBMITTED
    path = [row.to_state for row in store.journal_rows(submitted[0])]
    assert path == ["proposed", "pending_approval", "approved", "executing", "submitted"]
    assert store.verify_journal().ok


def test_manual_mode_parks_intents_until_approved(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5), Decision.hold("wait")]
    kernel, rec = make_kernel(
        approval="manual", strategist="scripted", extra=NOTIONAL, plugins=((scripted, "scripted"),)
    )
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        assert len(first.pending) == 1 and not first.submitted
        intent_id = first.pending[0]
        pending = rec.of("approval", "pending")
        assert pending and "intents approve" in pending[0].fields["approve_cmd"]
        ApprovalService(runtime.store, kernel.settings).approve(intent_id, actor="alice")
        second = runtime.run_cycle()
        assert second.submitted == [intent_id]
        third = runtime.run_cycle()  # the order fills at the next bar's open
        assert third.fills == 1
        assert runtime.store.get(intent_id).order_status == "filled"


def test_guard_denial_blocks_and_names_the_first_deny(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 1000)]  # ~100k notional, over the 5000 limit
    kernel, rec = make_kernel(
        strategist="scripted", extra=NOTIONAL, plugins=((scripted, "scripted"),)
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        assert state.blocked and not state.submitted
        record = runtime.store.get(state.blocked[0])
        assert record.state == IntentState.BLOCKED
        assert record.reason == "order_notional_exceeded"
        assert state.denials == {"order_notional_exceeded": 1}
    codes = [e.fields["code"] for e in rec.of("risk", "verdict")]
    assert codes == ["ok", "order_notional_exceeded"]  # the kernel's trading-state check first


def test_shadow_mode_records_intents_and_never_executes(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5), buy("BBB", 5)]
    kernel, rec = make_kernel(
        strategist="scripted", extra=NOTIONAL, plugins=((scripted, "scripted"),)
    )
    with Runtime(kernel, mode="shadow") as runtime:
        run_cycles(runtime, cycles=2)
        records = runtime.store.list_intents()
        paths = [[r.to_state for r in runtime.store.journal_rows(x.intent.id)] for x in records]
    assert len(records) == 2
    assert all(r.state == IntentState.CANCELLED for r in records)
    assert paths == [["proposed", "pending_approval", "cancelled"]] * 2
    assert not rec.of("executor")
    assert not rec.of("approval", "pending")  # no approval request goes out for shadow
    visited = {e.fields["node"] for e in rec.of("commander", "transition")}
    assert visited == {"hydrate", "scan", "strategize", "guard", "approve", "report"}


def test_shadow_intents_never_execute_when_the_agent_later_trades(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 5), Decision.hold("wait")]
    kernel, _ = make_kernel(strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),))
    with Runtime(kernel, mode="shadow") as runtime:
        runtime.run_cycle()
    with Runtime(kernel, mode="paper") as runtime:
        state = runtime.run_cycle()
    assert not state.submitted
    assert not kernel.component("broker").orders()


def test_three_buys_in_one_decision_are_checked_against_each_other(make_kernel):
    """Guards see what the cycle already let through (and what is still on its way)."""

    def three(inputs):
        return Decision(
            intents=[
                Intent.create(
                    symbol="AAA",
                    side="buy",
                    quantity=q,
                    strategist="scripted",
                    as_of=inputs.as_of,
                    rationale="test",
                )
                for q in (8, 9, 10)
            ]
        )

    scripted = Scripted()
    scripted.script = [three]
    kernel, _ = make_kernel(
        strategist="scripted",
        guards='["max_orders_per_day", "max_position"]',
        extra="[guard.max_orders_per_day]\nlimit = 2\n\n[guard.max_position]\nmax_quantity = 20\n",
        plugins=((scripted, "s"),),
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
    # 8 passes; 8 + 9 = 17 <= 20 and a second order fit; 8 + 9 + 10 = 27 and a third
    # order do not (without the projection all three passed, each seeing 0 and 0).
    assert len(state.approved) == 2 and len(state.blocked) == 1
    assert state.denials == {"position_limit_exceeded": 1, "max_orders_per_day_reached": 1}


def test_same_cycle_inputs_give_the_same_intent_ids(make_kernel):
    ids = []
    for sub in ("a", "b"):
        scripted = Scripted()
        scripted.script = [buy("AAA", 5)]
        kernel, _ = make_kernel(
            approval="manual",
            strategist="scripted",
            extra=NOTIONAL.replace("5000", "5001"),
            plugins=((scripted, f"scripted-{sub}"),),
            state=f"state-{sub}",
        )
        with Runtime(kernel) as runtime:
            ids.append(runtime.run_cycle().pending)
    assert ids[0] == ids[1] and ids[0]


def test_runtime_plan_lists_the_chain():
    plan = runtime_plan()
    assert [row["node"] for row in plan] == [
        "hydrate",
        "scan",
        "strategize",
        "guard",
        "approve",
        "execute",
        "monitor",
        "report",
    ]
    assert plan[-1]["next"] == "end"
    execute = next(row for row in plan if row["node"] == "execute")
    assert execute["attempts"] == 1 and execute["skipped_in"] == ["shadow"]


def test_an_approval_left_unexecuted_past_the_ttl_is_cancelled_not_sent(make_kernel):
    from datetime import timedelta

    from tradekernel.models import utcnow

    scripted = Scripted()
    scripted.script = [buy("AAA", 5)]
    kernel, rec = make_kernel(
        approval="manual", strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),)
    )
    now = [utcnow()]
    with Runtime(kernel, clock=lambda: now[0]) as runtime:
        intent_id = runtime.run_cycle().pending[0]
        runtime.approvals.approve(intent_id, actor="alice")
        runtime.control.pause(actor="alice")  # the agent does not trade for a while
        now[0] += timedelta(minutes=16)  # past approval_ttl (15m)
        runtime.control.resume(actor="alice")
        state = runtime.run_cycle()
        record = runtime.store.get(intent_id)
    assert not state.submitted
    assert record.state == IntentState.CANCELLED and record.reason.startswith("approval_stale")
    assert not runtime.kernel.component("broker").orders()
    assert rec.of("approval", "cancelled")


def test_intents_waiting_for_approval_count_against_the_limits(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 15), buy("AAA", 10)]
    kernel, _ = make_kernel(
        approval="manual",
        strategist="scripted",
        guards='["max_position"]',
        extra="[guard.max_position]\nmax_quantity = 20\n",
        plugins=((scripted, "s"),),
    )
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        second = runtime.run_cycle()
    assert len(first.pending) == 1
    assert second.denials == {"position_limit_exceeded": 1}  # 15 waiting + 10 > 20


def _order(side, symbol="AAA", quantity=5):
    def make(inputs):
        return Decision(
            intents=[
                Intent.create(
                    symbol=symbol,
                    side=side,
                    quantity=quantity,
                    strategist="s",
                    as_of=inputs.as_of,
                    rationale="test",
                )
            ]
        )

    return make


def test_an_unapproved_sell_makes_no_room_for_a_buy(make_kernel):
    """Commitments are not netted: the sell may be rejected, the buy alone must fit."""
    scripted = Scripted()
    scripted.script = [
        _order("buy", quantity=100),
        Decision.hold("w"),
        Decision.hold("w"),
        _order("sell", quantity=100),
        _order("buy", quantity=50),
    ]
    kernel, _ = make_kernel(
        approval="manual",
        strategist="scripted",
        guards='["max_position"]',
        extra="[guard.max_position]\nmax_quantity = 100\n",
        plugins=((scripted, "s"),),
    )
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        runtime.approvals.approve(first.pending[0], actor="op")
        runtime.run_cycle()  # executes the buy
        runtime.run_cycle()  # fills it: 100 held
        sell = runtime.run_cycle()  # sell 100 waits for approval
        buy = runtime.run_cycle()  # 100 held + 50 > 100, whatever the sell may do
    assert len(sell.pending) == 1
    assert buy.denials == {"position_limit_exceeded": 1}


def test_a_pending_buy_does_not_make_a_sell_reducing(make_kernel):
    scripted = Scripted()
    scripted.script = [_order("buy", quantity=50), _order("sell", quantity=50)]
    kernel, _ = make_kernel(
        approval="manual", strategist="scripted", extra=NOTIONAL, plugins=((scripted, "s"),)
    )
    with Runtime(kernel) as runtime:
        assert runtime.run_cycle().pending  # a buy waits; nothing is held
        runtime.control.set_trading_state("reducing", actor="op")
        sell = runtime.run_cycle()  # would open a short if the buy is rejected
    assert sell.denials == {"reducing_only": 1}
