"""ccxt's unified order and trade structures as the kernel's ``Order`` and ``Fill``.

Every field is checked (:mod:`.numbers`): an answer with a wrong type, NaN, a negative
or huge number, or control characters in an id is refused with ``BadAnswer``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradekernel.api import Fill, Order, OrderStatus, OrderType, Side

from .exchanges import Profile
from .numbers import BadAnswer, number, optional, optional_price, price, text

FINAL_STATUSES: Mapping[str, OrderStatus] = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}
"""ccxt's final order statuses; ``open`` is working (partly filled when ``filled`` > 0)."""

MAX_MS = 4102444800000  # 2100-01-01: a later timestamp is a malformed answer


def timestamp(value: Any, what: str) -> datetime | None:
    """A ccxt millisecond timestamp as UTC, ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise BadAnswer(f"{what}: expected milliseconds, got {type(value).__name__}")
    if not 0 <= value <= MAX_MS:
        raise BadAnswer(f"{what}: {value} is not a time")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def side(value: Any, what: str) -> Side:
    """``buy`` or ``sell``."""
    if value not in ("buy", "sell"):
        raise BadAnswer(f"{what}: expected buy or sell, got {str(value)[:20]!r}")
    return Side(value)


def status(raw: Any, filled: Decimal, quantity: Decimal) -> tuple[OrderStatus, bool]:
    """The kernel status of a ccxt order status, and whether the status was known
    (an unknown one is working, never filled)."""
    if raw in FINAL_STATUSES:
        final = FINAL_STATUSES[raw]
        if final is OrderStatus.FILLED and filled < quantity:
            # "closed" with a remainder: some exchanges close an order they expired
            return (OrderStatus.CANCELLED, True)
        return final, True
    working = OrderStatus.PARTIAL_FILL if filled > 0 else OrderStatus.WORKING
    return working, raw == "open"


def order_from(
    raw: Mapping[str, Any],
    profile: Profile,
    on_unknown_status: Callable[[str, str], None] | None = None,
) -> Order:
    """The kernel ``Order`` of a ccxt order structure. ``on_unknown_status(client_order_id,
    status)`` is told about a status this plugin does not know."""
    if not isinstance(raw, Mapping):
        raise BadAnswer(f"order: expected an object, got {type(raw).__name__}")
    broker_id = text(raw.get("id"), "order id")
    venue_cid = raw.get("clientOrderId")
    cid = profile.kernel_id(text(venue_cid, "clientOrderId")) if venue_cid else broker_id
    symbol = text(raw.get("symbol"), "order symbol", max_length=40)
    quantity = number(raw.get("amount"), "order amount")
    if not quantity:
        raise BadAnswer("order amount: expected a positive quantity, got 0")
    filled = optional(raw.get("filled"), "order filled") or Decimal(0)
    if filled > quantity:
        raise BadAnswer(f"order filled: {filled} is more than the amount {quantity}")
    raw_status = raw.get("status")
    kernel_status, known = status(raw_status, filled, quantity)
    if not known and on_unknown_status is not None and raw_status is not None:
        on_unknown_status(cid, text(raw_status, "order status", max_length=40))
    limit = optional_price(raw.get("price"), "order price") if raw.get("type") == "limit" else None
    return Order(
        client_order_id=cid,
        symbol=symbol,
        side=side(raw.get("side"), "order side"),
        quantity=quantity,
        status=kernel_status,
        broker_order_id=broker_id,
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=limit,
        filled_quantity=filled,
        avg_fill_price=optional_price(raw.get("average"), "order average") if filled else None,
        submitted_at=timestamp(raw.get("timestamp"), "order timestamp"),
        updated_at=timestamp(raw.get("lastUpdateTimestamp"), "order lastUpdateTimestamp"),
    )


def fill_from(raw: Mapping[str, Any], client_order_id: str, quote: str) -> Fill:
    """The kernel ``Fill`` of a ccxt trade of the order ``client_order_id``. Its fee
    counts as commission when paid in ``quote`` (the account currency) or in the base
    asset (valued at the trade price); a fee in a third asset (BNB) is not converted."""
    if not isinstance(raw, Mapping):
        raise BadAnswer(f"trade: expected an object, got {type(raw).__name__}")
    quantity = number(raw.get("amount"), "trade amount")
    if not quantity:
        raise BadAnswer("trade amount: expected a positive quantity, got 0")
    at = price(raw.get("price"), "trade price")
    symbol = text(raw.get("symbol"), "trade symbol", max_length=40)
    commission = Decimal(0)
    fee = raw.get("fee")
    if isinstance(fee, Mapping) and fee.get("cost") is not None:
        cost = number(fee.get("cost"), "trade fee")
        currency = fee.get("currency")
        if currency == quote:
            commission = cost
        elif currency == symbol.split("/")[0]:
            commission = cost * at
    ts = timestamp(raw.get("timestamp"), "trade timestamp")
    return Fill(
        fill_id=text(raw.get("id"), "trade id"),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(raw.get("side"), "trade side"),
        quantity=quantity,
        price=at,
        ts=ts or datetime.now(UTC),
        commission=commission,
        broker_order_id=text(raw.get("order"), "trade order id"),
    )
