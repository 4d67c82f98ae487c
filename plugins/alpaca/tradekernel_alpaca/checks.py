"""What the broker believes of Alpaca's answers: an order is adopted only when it is the
one requested, and a FILL activity only when it agrees with its order. Each check
returns why not (a short reason for the event and the error), or ``None``."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.api import Fill, Order, OrderRequest, OrderType, Side

from .parse import VenueOrder


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
