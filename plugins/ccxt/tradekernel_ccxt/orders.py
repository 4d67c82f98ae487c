"""ccxt's unified order and trade structures as the kernel's ``Order`` and ``Fill``.

Every field is checked (:mod:`.numbers`): an answer with a wrong type, NaN, a negative
or huge number, or control characters in an id is refused with ``BadAnswer``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradekernel.api import Fill, Order, OrderStatus, OrderType, Side

from .exchanges import Profile
from .numbers import BadAnswer, number, optional, optional_price, price, signed, text

FINAL_STATUSES: Mapping[str, OrderStatus] = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}
"""ccxt's final order statuses; ``open`` is working (partly filled when ``filled`` > 0)."""

MIN_MS = 946_684_800_000  # 2000-01-01: an earlier time is seconds sent as milliseconds
FUTURE_MS = 300_000  # a time more than 5 minutes ahead of this machine's clock is refused


def timestamp(value: Any, what: str) -> datetime | None:
    """A ccxt millisecond timestamp as UTC, ``None`` when absent. Not a guess between
    seconds and milliseconds: a time before 2000 or more than 5 minutes in the future
    is refused (:class:`BadAnswer`)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise BadAnswer(f"{what}: expected milliseconds, got {type(value).__name__}")
    if value < MIN_MS:
        raise BadAnswer(f"{what}: {value} is before 2000 (seconds, not milliseconds?)")
    if value > time.time() * 1000 + FUTURE_MS:
        raise BadAnswer(f"{what}: {value} is more than 5 minutes in the future")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def side(value: Any, what: str) -> Side:
    """``buy`` or ``sell``."""
    if value not in ("buy", "sell"):
        raise BadAnswer(f"{what}: expected buy or sell, got {str(value)[:20]!r}")
    return Side(value)


def status(raw: Any, filled: Decimal | None, quantity: Decimal) -> tuple[OrderStatus, bool]:
    """The kernel status of a ccxt order status (any case), and whether the status was
    known (an unknown one is working, never filled). ``closed`` without ``filled`` is
    progress unknown: working and not known, never a cancelled order of 0."""
    word = raw.strip().lower() if isinstance(raw, str) else None
    if word in FINAL_STATUSES:
        final = FINAL_STATUSES[word]
        if final is OrderStatus.FILLED:
            if filled is None:
                return OrderStatus.WORKING, False
            if filled < quantity:
                # "closed" with a remainder: some exchanges close an order they expired
                return OrderStatus.CANCELLED, True
        return final, True
    working = OrderStatus.PARTIAL_FILL if filled else OrderStatus.WORKING
    return working, word == "open"


def settled(filled: Decimal, quantity: Decimal, step: Decimal | None) -> Decimal:
    """``filled`` with float noise removed: within half an amount step of the order's
    amount (a billionth of it when the step is unknown) it is the amount."""
    tolerance = step / 2 if step else quantity * Decimal("1e-9")
    return quantity if abs(filled - quantity) <= tolerance else filled


def order_from(
    raw: Mapping[str, Any],
    profile: Profile,
    on_unknown_status: Callable[[str, str], None] | None = None,
    step: Decimal | None = None,
) -> Order:
    """The kernel ``Order`` of a ccxt order structure. ``on_unknown_status(client_order_id,
    status)`` is told about a status this plugin does not know; ``step`` is the market's
    amount step (``filled`` within half a step of the amount is the amount)."""
    if not isinstance(raw, Mapping):
        raise BadAnswer(f"order: expected an object, got {type(raw).__name__}")
    broker_id = text(raw.get("id"), "order id")
    venue_cid = raw.get("clientOrderId")
    cid = profile.kernel_id(text(venue_cid, "clientOrderId")) if venue_cid else broker_id
    symbol = text(raw.get("symbol"), "order symbol", max_length=40)
    quantity = number(raw.get("amount"), "order amount")
    if not quantity:
        raise BadAnswer("order amount: expected a positive quantity, got 0")
    reported = optional(raw.get("filled"), "order filled")
    if reported is not None:
        reported = settled(reported, quantity, step)
        if reported > quantity:
            raise BadAnswer(f"order filled: {reported} is more than the amount {quantity}")
    filled = reported or Decimal(0)
    raw_status = raw.get("status")
    kernel_status, known = status(raw_status, reported, quantity)
    if not known and on_unknown_status is not None and raw_status is not None:
        word = text(raw_status, "order status", max_length=40)
        on_unknown_status(cid, word if reported is not None else f"{word} (filled missing)")
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


def fill_from(
    raw: Mapping[str, Any], client_order_id: str, quote: str, namespace: str = ""
) -> Fill:
    """The kernel ``Fill`` of a ccxt trade of the order ``client_order_id``.

    Its id is ``<namespace>:<symbol>:<trade id>`` (exchanges number trades per symbol,
    and several brokers share one store). A fee in ``quote`` (the account currency) is
    the commission, negative for a rebate; a buy's fee in the base asset (Binance
    without BNB) is taken off the quantity (the net the account holds); a sell's fee
    in the base asset is valued at the trade price; a fee in a third asset (BNB) is not
    converted. A trade without a timestamp is refused (:class:`BadAnswer`)."""
    if not isinstance(raw, Mapping):
        raise BadAnswer(f"trade: expected an object, got {type(raw).__name__}")
    gross = number(raw.get("amount"), "trade amount")
    if not gross:
        raise BadAnswer("trade amount: expected a positive quantity, got 0")
    at = price(raw.get("price"), "trade price")
    symbol = text(raw.get("symbol"), "trade symbol", max_length=40)
    direction = side(raw.get("side"), "trade side")
    quantity, commission = gross, Decimal(0)
    fee = raw.get("fee")
    if isinstance(fee, Mapping) and fee.get("cost") is not None:
        cost = signed(fee.get("cost"), "trade fee")
        currency = fee.get("currency")
        if currency == quote:
            commission = cost
        elif currency == symbol.split("/")[0] and direction is Side.BUY:
            quantity = gross - cost
            if quantity <= 0:
                raise BadAnswer(f"trade fee: {cost} takes the whole amount {gross}")
        elif currency == symbol.split("/")[0]:
            commission = cost * at
    ts = timestamp(raw.get("timestamp"), "trade timestamp")
    if ts is None:
        raise BadAnswer("trade timestamp: missing")
    trade_id = text(raw.get("id"), "trade id")
    return Fill(
        fill_id=f"{namespace}:{symbol}:{trade_id}" if namespace else trade_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=direction,
        quantity=quantity,
        price=at,
        ts=ts,
        commission=commission,
        broker_order_id=text(raw.get("order"), "trade order id"),
    )
