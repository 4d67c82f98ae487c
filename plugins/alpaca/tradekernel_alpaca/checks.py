"""What the broker believes of Alpaca's answers: an order is adopted only when it is the
one requested, and a FILL activity only when it agrees with its order (which fills of
several orders are believed, and how paging knows it has found them). Each check
returns why not (a short reason for the event and the error), or ``None``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradekernel.api import Fill, Order, OrderRequest, OrderType, Side

from .parse import VenueOrder, activity_order_id, parse_fill
from .wire import BadResponse

PARSE_ERRORS = (BadResponse, TypeError, ValueError, ArithmeticError)
"""What a parser of a hostile answer may raise."""


def mismatch(request: OrderRequest, venue: VenueOrder) -> str | None:
    """How the order Alpaca holds under ``request``'s client order id differs from the
    request (id, symbol, side, quantity, type, limit price, time in force), or ``None``."""
    order = venue.order
    wanted_limit = request.limit_price if request.order_type is OrderType.LIMIT else None
    pairs = (
        ("client_order_id", request.client_order_id, order.client_order_id),
        ("symbol", request.symbol, order.symbol),
        ("side", str(request.side), str(order.side)),
        ("qty", request.quantity, order.quantity),
        ("type", str(request.order_type), venue.kind),
        ("limit_price", wanted_limit, order.limit_price),
        ("time_in_force", str(request.time_in_force), venue.time_in_force),
    )
    for name, wanted, got in pairs:
        if wanted != got:
            return f"{name} is {got}, {wanted} was requested"
    return None


def fill_problem(fill: Fill, order: Order, believed: Decimal) -> str | None:
    """Why ``fill`` cannot be an execution of ``order`` when ``believed`` of the order's
    fills are already accepted, or ``None``: the same symbol and side, a positive finite
    quantity and price, within the limit price (a buy at or below it, a sell at or above
    it), and the fills together no more than the order's filled quantity (nor its
    quantity)."""
    if fill.symbol != order.symbol:
        return f"symbol {fill.symbol}, the order's is {order.symbol}"
    if fill.side != order.side:
        return f"side {fill.side}, the order's is {order.side}"
    for name in ("quantity", "price"):
        value = getattr(fill, name)
        if not (value.is_finite() and value > 0):
            return f"{name} {value} is not a positive number"
    limit = order.limit_price if order.order_type is OrderType.LIMIT else None
    if limit is not None and (fill.price > limit if fill.side is Side.BUY else fill.price < limit):
        return f"price {fill.price} is beyond the limit {limit}"
    total = believed + fill.quantity
    if total > order.filled_quantity or total > order.quantity:
        return (
            f"fills add up to {total}, the order has {order.filled_quantity} "
            f"of {order.quantity} filled"
        )
    return None


def believe(
    items: list[Any], owners: dict[str, VenueOrder]
) -> tuple[list[Fill], dict[str, tuple[str, bool]]]:
    """The fills of ``owners`` (by Alpaca order id) among the ``FILL`` activities
    ``items`` that agree with their order, and per order the first disagreement:
    ``(reason, exceeded)``, ``exceeded`` when the fills went past the order's filled
    quantity (a newer lookup of the order may settle it). An activity whose order id
    cannot be read raises (:class:`BadResponse`): it could be any order's."""
    fills: dict[str, Fill] = {}
    totals: dict[str, Decimal] = {}
    rejected: dict[str, tuple[str, bool]] = {}
    for item in items:
        owner = owners.get(activity_order_id(item))
        if owner is None:
            continue
        oid = owner.order_id
        try:
            _, fill = parse_fill(item, owner.order.client_order_id)
        except PARSE_ERRORS as exc:
            rejected.setdefault(oid, (f"bad activity: {exc}", False))
            continue
        if fill.fill_id in fills:
            continue
        believed = totals.get(oid, Decimal(0))
        problem = fill_problem(fill, owner.order, believed)
        if problem is not None:
            exceeded = believed + fill.quantity > owner.order.filled_quantity
            rejected.setdefault(oid, (f"activity {fill.fill_id}: {problem}", exceeded))
            continue
        totals[oid] = believed + fill.quantity
        fills[fill.fill_id] = fill
    return list(fills.values()), rejected


def unaccounted(items: list[Any], owners: dict[str, VenueOrder]) -> list[str]:
    """The client order ids of ``owners`` whose believed fills among ``items`` do not
    yet add up to their filled quantity, sorted (reading more activities may find the
    rest; an activity that disagrees with its order does not count)."""
    fills, _ = believe(items, owners)
    found: dict[str, Decimal] = {}
    for fill in fills:
        assert fill.broker_order_id is not None
        found[fill.broker_order_id] = found.get(fill.broker_order_id, Decimal(0)) + fill.quantity
    return sorted(
        v.order.client_order_id
        for oid, v in owners.items()
        if found.get(oid, Decimal(0)) < v.order.filled_quantity
    )
