"""The broker's order constraints as a kernel rule: every intent, from any strategist, is
rounded down to the broker's quantity increment (limit prices to its price tick) and
dropped when it is too small, before any guard sees it. See docs/runtime.md, "Order
constraints"."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from attrs import frozen

from .components import DEFAULT_ORDER_CONSTRAINTS, OrderConstraints
from .models import Intent, OrderType, Side

QUANTITY_BELOW_MINIMUM = "quantity_below_minimum"
NOTIONAL_BELOW_MINIMUM = "notional_below_minimum"
LIMIT_PRICE_BELOW_TICK = "limit_price_below_tick"
INTENT_UNSIZED = "intent_unsized"
ORDER_CONSTRAINT_CODES = (
    QUANTITY_BELOW_MINIMUM,
    NOTIONAL_BELOW_MINIMUM,
    LIMIT_PRICE_BELOW_TICK,
    INTENT_UNSIZED,
)
"""The reasons of the ``strategist.dropped_intent`` events this rule emits."""


@frozen
class Fit:
    """The outcome of :func:`fit`: ``changes`` to make to the intent, or a drop ``reason``."""

    changes: dict[str, Any]
    reason: str | None = None
    detail: str = ""


def broker_constraints(broker: Any, symbol: str) -> OrderConstraints:
    """``broker.order_constraints(symbol)`` when the broker declares it, else
    :data:`DEFAULT_ORDER_CONSTRAINTS`."""
    declare = getattr(broker, "order_constraints", None)
    if not callable(declare):
        return DEFAULT_ORDER_CONSTRAINTS
    constraints = declare(symbol)
    if not isinstance(constraints, OrderConstraints):
        raise TypeError(
            f"order_constraints({symbol!r}) returned {type(constraints).__name__}, "
            "not OrderConstraints"
        )
    return constraints


def constraints_or_default(broker: Any, symbol: str) -> OrderConstraints:
    """:func:`broker_constraints`, or :data:`DEFAULT_ORDER_CONSTRAINTS` when the broker's
    declaration fails (sizing must go on with the rule the runtime fitted the intent to)."""
    try:
        return broker_constraints(broker, symbol)
    except Exception:
        return DEFAULT_ORDER_CONSTRAINTS


def _down(value: Decimal, step: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


def order_quantity(
    intent: Intent,
    ref_price: Decimal | None,
    quantity_step: float | Decimal,
    constraints: OrderConstraints = DEFAULT_ORDER_CONSTRAINTS,
) -> Decimal | None:
    """The quantity an order for ``intent`` is sent with: the intent's quantity, or its
    notional / ``ref_price`` rounded down to ``[runtime] quantity_step``, either rounded
    down to the broker's ``quantity_increment``. ``None`` when a notional intent has no
    positive reference price. The one sizing rule of :func:`fit`, the approval preview
    and the executor. Raises ``InvalidOperation`` for more digits than Decimal carries."""
    if intent.quantity is not None:
        return _down(intent.quantity, constraints.quantity_increment)
    if ref_price is None or ref_price <= 0 or intent.notional is None:
        return None
    step = quantity_step if isinstance(quantity_step, Decimal) else Decimal(str(quantity_step))
    return _down(_down(intent.notional / ref_price, step), constraints.quantity_increment)


def fit(
    intent: Intent,
    constraints: OrderConstraints,
    price: Decimal | None,
    quantity_step: Decimal,
    held: Decimal | None = None,
) -> Fit:
    """How ``intent`` fits ``constraints`` at ``price`` (the quote's last, which becomes the
    intent's reference price); an intent still unsized (no quantity, no notional) is
    dropped as ``intent_unsized``. A quantity intent is rounded down to the increment; a
    notional intent keeps its notional, and the quantity the executor will send for it
    (:func:`order_quantity`) must reach the minimums too: the minimum notional is judged on
    that quantity x price (the limit for a limit order), not on the notional asked.

    ``held`` is the position's quantity: a sell of exactly all of it (closing the
    position) is not held to ``min_notional``, so a position that fell below it can
    still be closed."""
    c = constraints
    if not intent.sized:  # fail closed: only a sizer may say how much (portfolio/sizing.py)
        return Fit({}, INTENT_UNSIZED, f"{intent.side} {intent.symbol} has no size")
    changes: dict[str, Any] = {}
    ref_price = price
    if intent.order_type is OrderType.LIMIT and intent.limit_price is not None:
        price = intent.limit_price
        if c.price_tick:
            rounding = ROUND_FLOOR if intent.side is Side.BUY else ROUND_CEILING
            try:
                tick = _down(intent.limit_price, c.price_tick, rounding)
            except InvalidOperation:
                tick = Decimal(0)
            if tick <= 0:
                return Fit(
                    {},
                    LIMIT_PRICE_BELOW_TICK,
                    f"limit {intent.limit_price} rounds to {tick} (price tick {c.price_tick})",
                )
            if tick != intent.limit_price:
                changes["limit_price"] = price = tick
    try:
        # no reference price (None): the executor cannot size it either; not ours to judge
        quantity = order_quantity(intent, ref_price, quantity_step, c)
        if intent.quantity is not None and quantity != intent.quantity and quantity > 0:
            changes["quantity"] = quantity
    except InvalidOperation:  # more digits than Decimal carries: not a real order
        return Fit({}, QUANTITY_BELOW_MINIMUM, f"quantity of {intent.symbol} cannot be rounded")
    if quantity is not None and (quantity <= 0 or quantity < c.min_quantity):
        asked = intent.quantity if intent.quantity is not None else f"notional {intent.notional}"
        return Fit(
            {},
            QUANTITY_BELOW_MINIMUM,
            f"{asked} rounds down to {quantity} (increment {c.quantity_increment}, "
            f"minimum {c.min_quantity})",
        )
    closing = intent.side is Side.SELL and held is not None and held > 0 and quantity == held
    if c.min_notional and not closing:
        notional = intent.notional
        if quantity is not None and price is not None:
            notional = quantity * price  # what will be sent, after rounding
        if notional is not None and notional < c.min_notional:
            return Fit(
                {},
                NOTIONAL_BELOW_MINIMUM,
                f"notional {notional} is below the broker's minimum {c.min_notional}",
            )
    return Fit(changes)
