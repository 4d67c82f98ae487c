"""An order's executions: fetched from its own time (paginated, bounded) and each one
checked against the order before it becomes a fill.

``fetch_my_trades`` with only a symbol answers the exchange's newest window (Binance
the newest 500 of the symbol, Kraken the newest 50 of the account): an older order's
trades would be lost without a word. So trades are asked for by order id (Binance),
by offset from the order's time (Kraken) or by time from the order's time (the
others), at most :data:`MAX_PAGES` pages; more than that is :class:`FillsIncomplete`,
never a short list.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tradekernel.api import Fill, Order, OrderType, Side

from .numbers import BadAnswer, number

MAX_PAGES = 10
"""The most trade pages read for one order."""

PAGE_SIZE = {"order_id": 1000, "offset": 50, "since": 100}
"""Trades per page by how the exchange pages them (Binance's myTrades limit is 1000,
Kraken's TradesHistory answers 50)."""


class FillsIncomplete(Exception):
    """An order has more trades than :data:`MAX_PAGES` pages: its fills are not all known."""


def trades_of(
    order: Order,
    paging: str,
    fetch: Callable[[str | None, int | None, int | None, dict[str, Any]], Any],
    order_field: str = "",
) -> list[dict[str, Any]]:
    """Every trade of ``order`` the exchange lists (other orders' trades included,
    filtered later). ``paging`` is the profile's ``trade_paging``; ``fetch(symbol,
    since, limit, params)`` is ``fetch_my_trades`` (a retried read); ``order_field``
    narrows ``since`` pages to the order where the exchange can."""
    size = PAGE_SIZE[paging]
    since = None
    if order.submitted_at is not None:  # a second early: exchanges' "start" is exclusive
        since = int(order.submitted_at.timestamp() * 1000) - 1000
    collected: dict[str, dict[str, Any]] = {}
    for page in range(MAX_PAGES):
        if paging == "order_id":
            raws = fetch(order.symbol, None, size, {"orderId": order.broker_order_id})
        elif paging == "offset":  # the account's trades: no symbol (it filters after paging)
            raws = fetch(None, since, None, {"ofs": page * size})
        else:
            narrow = {order_field: order.broker_order_id} if order_field else {}
            raws = fetch(order.symbol, since, size, narrow)
        if not isinstance(raws, list):
            raise BadAnswer(f"trades: expected a list, got {type(raws).__name__}")
        fresh = 0
        for raw in raws:
            if isinstance(raw, dict) and str(raw.get("id")) not in collected:
                collected[str(raw.get("id"))] = raw
                fresh += 1
        if len(raws) < size:
            return list(collected.values())
        if paging == "order_id" or not fresh:
            break  # the exchange cannot page further for this order
        if paging == "since":
            stamps = [r.get("timestamp") for r in raws if isinstance(r, dict)]
            since = max((s for s in stamps if isinstance(s, int | float)), default=since)
    raise FillsIncomplete(
        f"{order.client_order_id}: more trades than {MAX_PAGES} pages of {size}; "
        "its fills are not all known"
    )


def disagreement(fill: Fill, gross: Decimal, order: Order, booked: Decimal) -> str:
    """Why the trade ``fill`` (``gross`` units before any fee) cannot be ``order``'s,
    given ``booked`` units already accepted for it; ``""`` when it agrees."""
    if fill.symbol != order.symbol:
        return f"symbol {fill.symbol} is not the order's {order.symbol}"
    if fill.side != order.side:
        return f"side {fill.side} is not the order's {order.side}"
    limit = order.limit_price
    beyond = limit is not None and (
        (fill.side is Side.BUY and fill.price > limit)
        or (fill.side is Side.SELL and fill.price < limit)
    )
    if order.order_type is OrderType.LIMIT and beyond:
        return f"price {fill.price} is beyond the order's limit {limit}"
    if booked + gross > order.filled_quantity:
        return f"trades sum {booked + gross}, more than the order's filled {order.filled_quantity}"
    return ""


def gross_amount(raw: Any) -> Decimal:
    """The trade's amount before any fee taken off it."""
    return number(raw.get("amount"), "trade amount")


__all__ = ["MAX_PAGES", "FillsIncomplete", "disagreement", "gross_amount", "trades_of"]
