"""Alpaca trading-API objects (order, FILL activity, position, account, asset) into the
kernel's models. Each parser takes the decoded JSON (hostile) and returns a model or
raises :class:`~tradekernel_alpaca.wire.BadResponse`; nothing half-read is returned."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attrs import frozen
from tradekernel.api import Account, Fill, Order, OrderConstraints, OrderType, Position, Side

from . import wire
from .statuses import STATUSES, map_status
from .wire import BadResponse

_ORDER_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    # not sent by the kernel; an account's other orders are still listed
    "stop": OrderType.MARKET,
    "trailing_stop": OrderType.MARKET,
    "stop_limit": OrderType.LIMIT,
}
_FILL_SIDES = {"buy": Side.BUY, "sell": Side.SELL, "sell_short": Side.SELL}
EQUITY_TICK = Decimal("0.01")
"""Limit price step of a US equity without ``price_increment`` (valid at any price)."""


@frozen
class VenueOrder:
    """An order as read: the kernel's :class:`Order`, Alpaca's status and whether the
    plugin knows it (an unknown one is reported)."""

    order: Order
    venue_status: str
    known_status: bool
    kind: str | None = None
    """Alpaca's order ``type`` as sent (``stop`` and ``stop_limit`` map to market and
    limit, yet are not what the kernel sends)."""
    time_in_force: str | None = None
    """Alpaca's ``time_in_force`` as sent (the kernel's ``Order`` has no field for it)."""
    replaced_by: str | None = None
    """The id of the order that replaced this one (status ``replaced``)."""

    @property
    def order_id(self) -> str:
        """Alpaca's id of the order."""
        assert self.order.broker_order_id is not None
        return self.order.broker_order_id


def _side(data: dict[str, Any], key: str = "side") -> Side:
    value = wire.text(data, key)
    if value not in ("buy", "sell"):
        raise BadResponse(f"{key}: expected buy or sell")
    return Side(value)


def parse_order(value: Any) -> VenueOrder:
    """An Alpaca order object."""
    data = wire.obj(value, "order")
    quantity = wire.decimal(data, "qty", positive=True)
    filled = wire.decimal(data, "filled_qty")
    assert quantity is not None and filled is not None
    if filled > quantity:
        raise BadResponse("filled_qty: more than qty")
    avg = wire.decimal(data, "filled_avg_price", required=False)
    if filled > 0 and not avg:
        raise BadResponse("filled_avg_price: missing for a filled quantity")
    kind = wire.text(data, "type", required=False) or wire.text(data, "order_type")
    if kind not in _ORDER_TYPES:
        raise BadResponse("type: not an order type")
    limit = wire.decimal(data, "limit_price", required=False, positive=True)
    venue_status = wire.text(data, "status")
    assert venue_status is not None
    status, known = map_status(venue_status, quantity, filled)
    reason = None
    if status.terminal and venue_status not in ("filled", "calculated"):
        reason = venue_status if venue_status in STATUSES else None
    order = Order(
        client_order_id=wire.ident(data, "client_order_id"),
        symbol=wire.symbol(data),
        side=_side(data),
        quantity=quantity,
        status=status,
        broker_order_id=wire.ident(data, "id"),
        order_type=_ORDER_TYPES[kind],
        limit_price=limit,
        filled_quantity=filled,
        avg_fill_price=avg if filled > 0 else None,
        reason=reason,
        submitted_at=wire.timestamp(data, "submitted_at", required=False),
        updated_at=wire.timestamp(data, "updated_at", required=False),
    )
    return VenueOrder(
        order,
        venue_status,
        known,
        kind=kind,
        time_in_force=wire.text(data, "time_in_force", required=False),
        replaced_by=wire.ident(data, "replaced_by", required=False),
    )


def parse_fill(value: Any, client_order_id: str) -> tuple[str, Fill]:
    """A ``FILL`` account activity: ``(order id, fill)``."""
    data = wire.obj(value, "activity")
    if wire.text(data, "activity_type") != "FILL":
        raise BadResponse("activity_type: not FILL")
    side = wire.text(data, "side")
    if side not in _FILL_SIDES:
        raise BadResponse("side: not a fill side")
    when = wire.timestamp(data, "transaction_time")
    assert when is not None
    fill = Fill(
        fill_id=wire.ident(data, "id"),
        client_order_id=client_order_id,
        symbol=wire.symbol(data),
        side=_FILL_SIDES[side],
        quantity=wire.decimal(data, "qty", positive=True),
        price=wire.decimal(data, "price", positive=True),
        ts=when,
        broker_order_id=wire.ident(data, "order_id"),
    )
    assert fill.broker_order_id is not None
    return fill.broker_order_id, fill


def activity_order_id(value: Any) -> str:
    """The order id of a ``FILL`` activity (to tell whose it is before parsing it)."""
    order_id = wire.ident(wire.obj(value, "activity"), "order_id")
    assert order_id is not None
    return order_id


def parse_position(value: Any) -> Position:
    """An Alpaca position (``qty`` is negative for a short; ``side`` says so as well: a
    ``side`` that disagrees with the sign of ``qty`` is refused, not guessed)."""
    data = wire.obj(value, "position")
    quantity = wire.decimal(data, "qty", signed=True)
    assert quantity is not None
    side = wire.text(data, "side", required=False)
    if side not in (None, "long", "short"):
        raise BadResponse("side: not long or short")
    if (side == "short" and quantity > 0) or (side == "long" and quantity < 0):
        raise BadResponse(f"side: {side} disagrees with the sign of qty")
    return Position(
        symbol=wire.symbol(data),
        quantity=quantity,
        avg_price=wire.decimal(data, "avg_entry_price"),
        market_price=wire.decimal(data, "current_price", required=False),
    )


@frozen
class AccountSnapshot:
    """``/v2/account`` as read: the kernel's :class:`Account` plus what it has no field
    for (buying power, blocks)."""

    account: Account
    buying_power: Decimal
    trading_blocked: bool


def parse_account(value: Any) -> AccountSnapshot:
    """An Alpaca account (cash may be negative on margin; equity may not)."""
    data = wire.obj(value, "account")
    currency = wire.text(data, "currency", required=False) or "USD"
    if len(currency) != 3 or not currency.isalpha():
        raise BadResponse("currency: not an ISO 4217 code")
    blocked = any(data.get(k) is True for k in ("trading_blocked", "account_blocked"))
    return AccountSnapshot(
        Account(
            cash=wire.decimal(data, "cash", signed=True),
            equity=wire.decimal(data, "equity"),
            currency=currency.upper(),
        ),
        buying_power=wire.decimal(data, "buying_power"),
        trading_blocked=blocked,
    )


def asset_tradable(value: Any) -> bool:
    """Whether Alpaca says the asset can be traded (``tradable`` is ``true``; anything
    else, missing included, is not)."""
    return wire.obj(value, "asset").get("tradable") is True


def parse_asset(value: Any) -> OrderConstraints:
    """An Alpaca asset's order constraints: whole shares unless ``fractionable`` (then
    ``min_trade_increment``/``min_order_size`` when given), ``price_increment`` or a
    cent."""
    data = wire.obj(value, "asset")
    fractionable = data.get("fractionable") is True
    increment = wire.decimal(data, "min_trade_increment", required=False, positive=True)
    minimum = wire.decimal(data, "min_order_size", required=False, positive=True)
    tick = wire.decimal(data, "price_increment", required=False, positive=True)
    if fractionable:
        increment = increment or Decimal("0.000000001")
        minimum = minimum or increment
    else:
        increment = max(increment or Decimal(1), Decimal(1))
        minimum = max(minimum or Decimal(1), increment)
    return OrderConstraints(
        min_quantity=minimum, quantity_increment=increment, price_tick=tick or EQUITY_TICK
    )
