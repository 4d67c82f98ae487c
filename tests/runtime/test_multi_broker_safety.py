"""Several brokers, the safety rules: position-aware routing, brokers that do not answer
at start, per-broker reconcile, health over a window, and configuration changes that
would strand an order (on two instances of the paper broker behind test faults)."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.approval import derive_quantity
from tradekernel.models import Decision, Intent
from tradekernel.runtime import Runtime

from .test_multi_broker import CONFIG, ONE_ROUTE, Clock, Faults, agent, buys  # noqa: F401
from .conftest import Scripted


def build(kernel_factory, text: str, script: list):
    faults, scripted = Faults(), Scripted()
    scripted.script = list(script)
    kernel, rec = kernel_factory.build(text, plugins=((faults, "faults"), (scripted, "scripted")))
    return kernel, rec, faults


def two(routing: str = ONE_ROUTE) -> str:
    return CONFIG.format(routing=routing, third="")


def test_the_approval_request_sizes_with_the_intents_own_broker(kernel_factory):
    text = (
        two('routes = [{symbols = ["AAA"], broker = "beta"}]\ndefault = "alpha"')
        .replace('approval_mode = "auto"', 'approval_mode = "manual"')
        .replace('node_backoff = "0s"', 'node_backoff = "0s"\nquantity_step = 0.001')
        .replace(
            'db = "beta.db"', 'db = "beta.db"\nmin_quantity = 0.001\nquantity_increment = 0.001'
        )
    )

    def notional(inputs) -> Decision:
        return Decision(
            intents=[
                Intent.create(
                    symbol="AAA",
                    side="buy",
                    notional=Decimal(250),
                    strategist="scripted",
                    as_of=inputs.as_of,
                )
            ]
        )

    kernel, rec, _ = build(kernel_factory, text, [notional])
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        (pending_id,) = runtime.run_cycle().pending
        record = runtime.store.get(pending_id)
    (pending,) = rec.of("approval", "pending")
    beta = kernel.component("broker", "beta")
    quantity = derive_quantity(record, Decimal("0.001"), beta.order_constraints("AAA"))
    assert record.broker == "beta"
    assert Decimal(pending.fields["estimated_notional"]) == quantity * record.ref_price
