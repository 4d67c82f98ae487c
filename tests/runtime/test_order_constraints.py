"""Brokers' order constraints are a kernel rule: every intent, from any strategist, is
rounded down to the broker's quantity increment and dropped when too small, before the
guards; dust quantities never reach the broker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tradekernel import hookimpl
from tradekernel.components import DEFAULT_ORDER_CONSTRAINTS, OrderConstraints
from tradekernel.models import Decision, Intent
from tradekernel.runtime import Runtime
from tradekernel_paper import PaperBroker, PaperConfig
from tradekernel_report.daily import aggregate

from .conftest import Scripted


def intent(quantity: Any = None, **kw: Any) -> Any:
    def make(inputs: Any) -> Decision:
        return Decision(
            intents=[
                Intent.create(
                    symbol=kw.pop("symbol", "AAA"),
                    side=kw.pop("side", "buy"),
                    quantity=quantity,
                    strategist="scripted",
                    as_of=inputs.as_of,
                    rationale="test",
                    **kw,
                )
            ]
        )

    return make


def _run(make_kernel, step, *, extra: str = "", plugins=(), state: str = "state"):
    scripted = Scripted()
    scripted.script = [step]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        extra=extra,
        plugins=((scripted, "scripted"), *plugins),
        state=state,
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        orders = kernel.component("broker").orders()
    dropped = [e.fields for e in rec.of("strategist", "dropped_intent")]
    return state, orders, dropped, rec


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [
        ("1e-400", "quantity_below_minimum"),
        ("1e-30", "quantity_below_minimum"),
        ("0.999", "quantity_below_minimum"),
    ],
)
def test_dust_quantities_never_reach_the_paper_broker(make_kernel, quantity, reason):
    state, orders, dropped, rec = _run(make_kernel, intent(quantity))
    assert state.intents == [] and state.proposed == [] and orders == []
    assert [d["reason"] for d in dropped] == [reason]
    assert "rounds down to 0" in dropped[0]["detail"]
    assert rec.of("risk", "verdict") == []  # dropped before any guard
    report = aggregate(rec.events, rec.events[-1].ts.date())
    assert report["strategist"]["dropped_intents"]["by_reason"] == {reason: 1}
    assert report["data_quality"]["below_minimum"] == {"total": 1, "by_reason": {reason: 1}}


def test_quantities_round_down_to_whole_shares(make_kernel):
    state, orders, dropped, _ = _run(make_kernel, intent("10.7"))
    assert dropped == []
    (order,) = orders
    assert order.quantity == Decimal(10)
    (carried,) = state.intents
    assert carried.quantity == Decimal(10) and carried.id == state.submitted[0]


def test_a_minimum_notional_drops_small_intents(make_kernel):
    extra = "min_notional = 5000\n"  # (BASE ends in [broker.paper])
    _, orders, dropped, _ = _run(make_kernel, intent("3"), extra=extra)
    assert orders == [] and [d["reason"] for d in dropped] == ["notional_below_minimum"]
    _, orders, dropped, _ = _run(make_kernel, intent(notional="100"), extra=extra, state="second")
    assert orders == [] and [d["reason"] for d in dropped] == ["notional_below_minimum"]


def test_a_notional_intent_too_small_for_one_share_is_dropped(make_kernel):
    _, orders, dropped, _ = _run(make_kernel, intent(notional="5"))
    assert orders == [] and [d["reason"] for d in dropped] == ["quantity_below_minimum"]


def test_limit_prices_round_to_the_tick(make_kernel):
    extra = "price_tick = 0.05\n"
    _state, orders, _dropped, _ = _run(
        make_kernel, intent("2", order_type="limit", limit_price="123.4567"), extra=extra
    )
    (order,) = orders
    assert order.limit_price == Decimal("123.45")


class Undeclared:
    """A third-party broker that declares no constraints: a real paper broker behind the
    bare ``Broker`` protocol (fractional quantities allowed)."""

    live_capable = False

    def __init__(self) -> None:
        self.inner: PaperBroker | None = None

    @hookimpl
    def register_brokers(self, register) -> None:
        def build(config: Any, ctx: Any) -> Undeclared:
            config = PaperConfig(min_quantity=0, quantity_increment=Decimal("1e-8"))
            self.inner = PaperBroker(
                config, lambda: ctx.resolve("market_data"), ctx.state_dir / "legacy.db"
            )
            return self

        register("legacy", build)

    def submit(self, request):
        return self.inner.submit(request)

    def get_order(self, cid):
        return self.inner.get_order(cid)

    def cancel(self, cid):
        return self.inner.cancel(cid)

    def orders(self, *, open_only=False):
        return self.inner.orders(open_only=open_only)

    def fills(self, cid=None):
        return self.inner.fills(cid)

    def positions(self):
        return self.inner.positions()

    def account(self):
        return self.inner.account()

    def close(self):
        self.inner.close()


@pytest.mark.parametrize(
    ("quantity", "sent"), [("1e-400", None), ("1e-30", None), ("0.123456789", "0.12345678")]
)
def test_a_broker_without_declared_constraints_gets_the_default(make_kernel, quantity, sent):
    legacy = Undeclared()
    scripted = Scripted()
    scripted.script = [intent(quantity)]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        plugins=((scripted, "scripted"), (legacy, "legacy")),
        environ={"TRADEKERNEL_COMPONENTS__BROKER": "legacy"},
    )
    assert not hasattr(legacy, "order_constraints")
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        orders = legacy.orders()
    if sent is None:
        assert orders == []
        assert [e.fields["reason"] for e in rec.of("strategist", "dropped_intent")] == [
            "quantity_below_minimum"
        ]
    else:
        assert [o.quantity for o in orders] == [Decimal(sent)]
    assert OrderConstraints(quantity_increment=Decimal("1e-8")) == DEFAULT_ORDER_CONSTRAINTS


HOOK = "https://hooks.example/services/T0A1B2C3D/B0E4F5G6H/Xq7rPz2LmN8vKd4sWb6tYh3c"


def test_an_intent_with_a_secret_in_an_identifying_field_is_dropped(make_kernel):
    """Masking a secret in a field the intent's id is made of would make another intent:
    the cycle drops it (``secret_in_intent``) and goes on with the others."""

    def make(inputs: Any) -> Decision:
        common = {"side": "buy", "quantity": 5, "strategist": "scripted", "as_of": inputs.as_of}
        return Decision(
            intents=[
                Intent.create(symbol="AAA", prompt_version="Xq7rPz2LmN8vKd4sWb6tYh3c", **common),
                Intent.create(symbol="BBB", rationale=f"hook {HOOK} said ok", **common),
            ]
        )

    scripted = Scripted()
    scripted.script = [make]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        extra='[notifier.webhook]\nurl_env = "HOOK_URL"\n',
        plugins=((scripted, "scripted"),),
        environ={"HOOK_URL": HOOK},
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        (record,) = runtime.store.list_intents()
        assert record.intent.symbol == "BBB" and "********" in record.intent.rationale
        assert len(state.submitted) == 1 and runtime.store.verify_journal().ok
    (dropped,) = [e.fields for e in rec.of("strategist", "dropped_intent")]
    assert dropped["reason"] == "secret_in_intent" and dropped["symbol"] == "AAA"
    assert "prompt_version" in dropped["detail"] and "Xq7r" not in dropped["detail"]


def test_a_notional_intent_is_judged_on_the_quantity_it_becomes(make_kernel):
    """notional 150 at ~100 a share is 1 whole share (~100): below a minimum of 120, it is
    dropped (before: filled, judged on the 150 asked, and then the position could not be
    sold)."""
    extra = "min_notional = 120\n"
    _, orders, dropped, _ = _run(make_kernel, intent(notional="150"), extra=extra)
    assert orders == [] and [d["reason"] for d in dropped] == ["notional_below_minimum"]
    assert "below the broker's minimum 120" in dropped[0]["detail"]


def test_a_limit_price_that_rounds_to_zero_is_dropped(make_kernel):
    extra = "price_tick = 0.05\n"
    step = intent("10", order_type="limit", limit_price="0.03")
    state, orders, dropped, _ = _run(make_kernel, step, extra=extra)
    assert orders == [] and state.intents == []
    assert [d["reason"] for d in dropped] == ["limit_price_below_tick"]
    assert "limit 0.03 rounds to 0" in dropped[0]["detail"]


def _fit(side: str, quantity: str, held: str | None):
    from tradekernel.constraints import fit
    from tradekernel.models import Intent

    constraints = OrderConstraints(min_notional=Decimal(120))
    made = Intent.create(symbol="AAA", side=side, quantity=quantity, strategist="t")
    return fit(made, constraints, Decimal(100), Decimal(1), None if held is None else Decimal(held))


def test_closing_a_whole_position_is_allowed_below_the_minimum_notional():
    assert _fit("sell", "1", "1").reason is None  # closes the position
    assert _fit("sell", "1", "3").reason == "notional_below_minimum"  # a part of it
    assert _fit("sell", "1", None).reason == "notional_below_minimum"  # nothing held
    assert _fit("buy", "1", "1").reason == "notional_below_minimum"


FINE_STEP = {"TRADEKERNEL_RUNTIME__QUANTITY_STEP": "0.01"}  # finer than the paper's whole shares


def test_a_notional_intent_is_sent_in_the_brokers_increment(make_kernel):
    """``[runtime] quantity_step`` finer than the broker's increment: the executor sends
    the quantity the constraint rule judged (whole shares), not one the broker refuses."""
    scripted = Scripted()
    scripted.script = [intent(notional="1000")]
    kernel, rec = make_kernel(
        strategist="scripted", guards="[]", plugins=((scripted, "scripted"),), environ=FINE_STEP
    )
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        orders = kernel.component("broker").orders()
    assert rec.of("executor", "failed") == []
    (order,) = orders
    assert order.quantity > 0 and order.quantity == order.quantity.to_integral_value()


def test_the_preview_shows_the_quantity_the_executor_sends(make_kernel):
    scripted = Scripted()
    scripted.script = [intent(notional="1000")]
    kernel, _ = make_kernel(
        approval="manual",
        strategist="scripted",
        guards="[]",
        plugins=((scripted, "scripted"),),
        environ=FINE_STEP,
    )
    with Runtime(kernel) as runtime:
        (intent_id,) = runtime.run_cycle().proposed
        preview = runtime.approvals.preview(intent_id)
        runtime.approvals.approve(intent_id, "test")
        runtime.run_cycle()
        (order,) = kernel.component("broker").orders()
    assert Decimal(preview.quantity) == order.quantity == order.quantity.to_integral_value()
