"""Unsized intents (a direction or a target weight from a strategist) in a run: the
strategize node's sizing step gives them a quantity (then the degrade scaling and the
broker's constraints apply), or leaves them out with a reason; never is one sent
unsized, and the order-constraints rule drops one that reaches it unsized."""

from __future__ import annotations

import pytest
from tradekernel.models import Decision, Intent
from tradekernel.runtime import Runtime
from tradekernel.store import IntentState

from .conftest import Scripted

LIMIT = "\n[guard.max_order_notional]\nlimit = 50000\n"


def unsized(**kwargs):
    def make(inputs):
        return Decision(
            intents=[
                Intent.create(
                    symbol="AAA", side="buy", strategist="scripted", as_of=inputs.as_of, **kwargs
                )
            ]
        )

    return make


def _run(make_kernel, kwargs, extra="", degraded=False):
    scripted = Scripted()
    scripted.script = [unsized(**kwargs)]
    kernel, rec = make_kernel(
        strategist="scripted", plugins=((scripted, "s"),), extra=LIMIT + extra
    )
    with Runtime(kernel) as runtime:
        if degraded:
            runtime.control.enter_degrade(reason="test")
        state = runtime.run_cycle()
        records = runtime.store.list_intents()
    assert scripted.calls == 1
    return state, records, rec


@pytest.mark.parametrize("degraded", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"stop_price": "1"}])
def test_a_direction_without_a_fixed_size_is_left_out_never_sent(make_kernel, degraded, kwargs):
    state, records, rec = _run(make_kernel, kwargs, degraded=degraded)
    assert state.intents == [] and state.submitted == [] and state.pending == []
    assert records == []
    (dropped,) = rec.of("portfolio", "size_dropped")
    assert dropped.fields["code"] == "no_fixed_size"


@pytest.mark.parametrize("degraded", [False, True])
def test_a_direction_gets_the_fixed_size_then_degrade_scales_it(make_kernel, degraded):
    state, records, rec = _run(
        make_kernel, {}, extra="\n[sizer.fixed]\nquantity = 8\n", degraded=degraded
    )
    (record,) = records
    assert record.intent.quantity == (4 if degraded else 8)
    assert record.intent.sizing["sizer"] == "fixed"
    if degraded:
        assert state.submitted == [] and record.state == IntentState.BLOCKED
    else:
        assert state.submitted == [record.id]
    (sized,) = rec.of("portfolio", "sized")
    assert sized.fields["quantity"] == "8"


def test_a_target_weight_is_sized_from_the_equity(make_kernel):
    state, records, _rec = _run(make_kernel, {"target_weight": "0.01"})
    (record,) = records
    price = state.quotes["AAA"].last
    assert record.intent.quantity == int(1000 / price)  # 1 % of the 100000 account
    assert record.intent.sizing["sizer"] == "target_weight"
    assert state.submitted == [record.id]


def test_the_constraints_rule_drops_an_unsized_intent(make_kernel):
    kernel, rec = make_kernel(extra=LIMIT)
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        intent = Intent.create(symbol="AAA", side="buy", strategist="sma-cross")
        assert runtime._constrain(intent, state) is None
    dropped = rec.of("strategist", "dropped_intent")
    assert [e.fields["reason"] for e in dropped] == ["intent_unsized"]
