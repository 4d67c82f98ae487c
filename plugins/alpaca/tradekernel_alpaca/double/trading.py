"""The double's trading API (``/v2/orders``, ``/v2/positions``, ``/v2/account``,
``/v2/assets``, ``/v2/account/activities/FILL``): one account's orders (by id and by
client order id), executions over time, positions and cash, in Alpaca's JSON (field
names as Alpaca's API reference and alpaca-py's fixtures spell them; numbers as
strings; RFC 3339 times in UTC)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .core import Reply, Request, error, route

if TYPE_CHECKING:
    from .core import AlpacaDouble

FINAL = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})
"""Statuses after which Alpaca changes an order no more."""
OPEN = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "partially_filled",
        "pending_cancel",
        "pending_replace",
        "pending_review",
        "held",
        "stopped",
        "suspended",
        "done_for_day",
        "calculated",
    }
)
"""Alpaca's other order statuses (its "Order Lifecycle" documentation). With
:data:`FINAL`, the double's own table of Alpaca's statuses, written apart from the
plugin's mapping (``statuses.py``) so the contract kit can check one against the other."""
ASSETS: dict[str, dict[str, Any]] = {
    "AAPL": {"exchange": "NASDAQ", "name": "Apple Inc. Common Stock", "fractionable": True},
    "MSFT": {
        "exchange": "NASDAQ",
        "name": "Microsoft Corporation Common Stock",
        "fractionable": True,
    },
    "SPY": {"exchange": "ARCA", "name": "SPDR S&P 500 ETF Trust", "fractionable": True},
    "BRK.A": {"exchange": "NYSE", "name": "Berkshire Hathaway Inc. Class A", "fractionable": False},
}
"""The symbols the double trades (add with :meth:`TradingState.add_asset`)."""
DEFAULT_PRICE = Decimal(100)
_TIFS = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})


def iso(when: datetime | None) -> str | None:
    """Alpaca's time format: microseconds, ``Z``."""
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _s(value: Any) -> str:
    """A JSON string as Alpaca writes numbers: plain notation, never ``1E+2``."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class TradingState:
    """Orders, executions, positions and cash of the double's account."""

    def __init__(self, double: AlpacaDouble, *, cash: Decimal, prices: Mapping[str, Any]) -> None:
        self.double = double
        self.cash = cash
        self.prices = {s: Decimal(str(p)) for s, p in prices.items()}
        self.assets = {s: {**a, "symbol": s} for s, a in ASSETS.items()}
        for symbol in self.prices:
            self.assets.setdefault(
                symbol,
                {"exchange": "NASDAQ", "name": symbol, "fractionable": True, "symbol": symbol},
            )
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_client_id: dict[str, str] = {}
        self.activities: list[dict[str, Any]] = []
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}
        """symbol -> (signed quantity, average entry price)."""
        self.submits = 0
        """Submit requests that reached the account (any outcome)."""
        self.auto_fill = False
        """Fill market orders in full at once, at :meth:`price` (for end-to-end runs)."""
        self.account_id = str(uuid.uuid5(uuid.NAMESPACE_URL, double.key_id))

    def add_asset(self, symbol: str, *, fractionable: bool = True, **fields: Any) -> None:
        """Make ``symbol`` tradable (``fields``: ``min_order_size``, ``price_increment``...)."""
        self.assets[symbol] = {
            "exchange": "NASDAQ",
            "name": symbol,
            "fractionable": fractionable,
            **fields,
            "symbol": symbol,
        }

    def price(self, symbol: str) -> Decimal:
        """The price the double executes ``symbol`` at (settable in ``prices``)."""
        return self.prices.get(symbol, DEFAULT_PRICE)

    def now(self) -> datetime:
        return self.double.clock()

    # -- execution ---------------------------------------------------------------------

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any]:
        """The stored order with this client order id (KeyError when none)."""
        return self.orders[self.by_client_id[client_order_id]]

    def fill(
        self, client_order_id: str, quantity: Decimal | None = None, price: Decimal | None = None
    ) -> dict[str, Any]:
        """Execute ``quantity`` (``None``: the rest) of a working order at ``price`` (its
        limit, else :meth:`price`): a FILL activity, the order's cumulative quantity and
        average price, the position and cash move. Returns the activity."""
        with self.double.lock:
            order = self.order_by_client_id(client_order_id)
            if order["status"] in FINAL:
                raise ValueError(f"order {client_order_id} is {order['status']}")
            qty, done = Decimal(order["qty"]), Decimal(order["filled_qty"])
            amount = qty - done if quantity is None else Decimal(quantity)
            if amount <= 0 or done + amount > qty:
                raise ValueError(f"cannot fill {amount} of {qty - done} left")
            at = (
                price
                if price is not None
                else (
                    Decimal(order["limit_price"])
                    if order["limit_price"]
                    else self.price(order["symbol"])
                )
            )
            now = self.now()
            cumulative = done + amount
            old_avg = Decimal(order["filled_avg_price"] or 0)
            avg = (old_avg * done + at * amount) / cumulative
            order["filled_qty"] = _s(cumulative)
            order["filled_avg_price"] = format(avg.quantize(Decimal("0.0001")).normalize(), "f")
            order["status"] = "filled" if cumulative == qty else "partially_filled"
            order["updated_at"] = iso(now)
            if cumulative == qty:
                order["filled_at"] = iso(now)
            activity = {
                "id": f"{now.strftime('%Y%m%d%H%M%S%f')[:17]}::{uuid.uuid4()}",
                "account_id": self.account_id,
                "activity_type": "FILL",
                "transaction_time": iso(now),
                "type": "fill" if cumulative == qty else "partial_fill",
                "price": _s(at),
                "qty": _s(amount),
                "side": order["side"],
                "symbol": order["symbol"],
                "leaves_qty": _s(qty - cumulative),
                "order_id": order["id"],
                "cum_qty": _s(cumulative),
                "order_status": order["status"],
            }
            self.activities.append(activity)
            self._move(order["symbol"], amount if order["side"] == "buy" else -amount, at)
            return activity

    def _move(self, symbol: str, signed: Decimal, price: Decimal) -> None:
        held, avg = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        new = held + signed
        if held == 0 or (held > 0) != (new > 0) or new == 0:
            avg = price if new != 0 else Decimal(0)
        elif (held > 0) == (signed > 0):  # adding to the position
            avg = (avg * abs(held) + price * abs(signed)) / abs(new)
        self.positions[symbol] = (new, avg)
        self.cash -= signed * price

    def set_status(self, client_order_id: str, status: str) -> None:
        """Force an order's status (``filled`` executes what is left first, as Alpaca
        never reports a partly executed order as filled)."""
        with self.double.lock:
            order = self.order_by_client_id(client_order_id)
            unfilled = Decimal(order["filled_qty"]) < Decimal(order["qty"])
            if status == "filled" and order["status"] not in FINAL and unfilled:
                self.fill(client_order_id)
            order["status"] = status
            order["updated_at"] = iso(self.now())

    # -- wire objects ------------------------------------------------------------------

    def account_json(self) -> dict[str, Any]:
        long_value = sum(
            (q * self.price(s) for s, (q, _) in self.positions.items() if q > 0), Decimal(0)
        )
        short_value = sum(
            (q * self.price(s) for s, (q, _) in self.positions.items() if q < 0), Decimal(0)
        )
        equity = self.cash + long_value + short_value
        power = max(self.cash, Decimal(0))
        return {
            "id": self.account_id,
            "account_number": "PA" + self.account_id.replace("-", "")[:10].upper(),
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": _s(power),
            "regt_buying_power": _s(power),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": _s(power),
            "options_buying_power": _s(power),
            "cash": _s(self.cash),
            "accrued_fees": "0",
            "portfolio_value": _s(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2024-01-02T15:04:05.123456Z",
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": True,
            "equity": _s(equity),
            "last_equity": _s(equity),
            "long_market_value": _s(long_value),
            "short_market_value": _s(short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    def position_json(self, symbol: str) -> dict[str, Any]:
        qty, avg = self.positions[symbol]
        price = self.price(symbol)
        cost = abs(qty) * avg
        value = qty * price
        pnl = (price - avg) * qty
        asset = self.assets.get(symbol, {})
        return {
            "asset_id": _s(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "symbol": symbol,
            "exchange": asset.get("exchange", "NASDAQ"),
            "asset_class": "us_equity",
            "asset_marginable": True,
            "avg_entry_price": _s(avg),
            "qty": _s(qty),
            "qty_available": _s(qty),
            "side": "long" if qty > 0 else "short",
            "market_value": _s(value),
            "cost_basis": _s(cost),
            "unrealized_pl": _s(pnl),
            "unrealized_plpc": _s((pnl / cost).quantize(Decimal("0.0001")) if cost else 0),
            "unrealized_intraday_pl": _s(pnl),
            "unrealized_intraday_plpc": "0",
            "current_price": _s(price),
            "lastday_price": _s(price),
            "change_today": "0",
        }

    def asset_json(self, symbol: str) -> dict[str, Any]:
        asset = self.assets[symbol]
        return {
            "id": _s(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "class": "us_equity",
            "exchange": asset["exchange"],
            "symbol": symbol,
            "name": asset["name"],
            "status": "active",
            "tradable": True,
            "marginable": True,
            "shortable": True,
            "easy_to_borrow": True,
            "fractionable": asset["fractionable"],
            "maintenance_margin_requirement": 30,
            "attributes": ["fractional_eh_enabled"] if asset["fractionable"] else [],
            **{
                k: v
                for k, v in asset.items()
                if k not in ("exchange", "name", "fractionable", "symbol")
            },
        }

    def new_order(self, body: dict[str, Any], qty: Decimal, client_order_id: str) -> dict[str, Any]:
        now = iso(self.now())
        limit = body.get("limit_price")
        return {
            "id": _s(uuid.uuid4()),
            "client_order_id": client_order_id,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": _s(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])),
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "notional": None,
            "qty": _s(qty),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "",
            "order_type": body["type"],
            "type": body["type"],
            "side": body["side"],
            "position_intent": "buy_to_open" if body["side"] == "buy" else "sell_to_close",
            "time_in_force": body["time_in_force"],
            "limit_price": None if limit is None else _s(Decimal(str(limit))),
            "stop_price": None,
            "status": "accepted",
            "extended_hours": bool(body.get("extended_hours", False)),
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": None,
        }


def _state(double: AlpacaDouble) -> TradingState:
    return double.trading


def _validate(state: TradingState, body: Any) -> tuple[Reply | None, Decimal]:
    """Alpaca's 422/403 answers to an order it refuses, or ``None``."""
    if not isinstance(body, dict):
        return error(400, 40010000, "request body format is invalid"), Decimal(0)
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or symbol not in state.assets:
        return error(422, 40010001, f"asset {str(symbol)[:32]} not found"), Decimal(0)
    qty = _number(body.get("qty"))
    if qty is None or qty <= 0:
        return error(422, 40010001, "qty must be > 0"), Decimal(0)
    if body.get("side") not in ("buy", "sell"):
        return error(422, 40010001, "invalid side"), qty
    if body.get("type") not in ("market", "limit"):
        return error(422, 40010001, "invalid order type"), qty
    if body.get("time_in_force") not in _TIFS:
        return error(422, 40010001, "invalid time_in_force"), qty
    limit = _number(body.get("limit_price"))
    if body["type"] == "limit" and (limit is None or limit <= 0):
        return error(422, 40010001, "limit_price is required for limit orders"), qty
    if qty != qty.to_integral_value():
        if not state.assets[symbol]["fractionable"]:
            return error(422, 40010001, "asset is not fractionable"), qty
        if body["time_in_force"] != "day":
            return error(422, 40010001, "fractional orders must be DAY orders"), qty
    coid = body.get("client_order_id")
    if coid is not None and (not isinstance(coid, str) or len(coid) > 128):
        return error(422, 40010001, "client_order_id must be no more than 128 characters"), qty
    if body["side"] == "buy":
        cost = qty * (limit or state.price(symbol))
        if cost > state.cash:
            return error(403, 40310000, "insufficient buying power"), qty
    return None, qty


@route("POST", "/v2/orders")
def submit_order(double: AlpacaDouble, request: Request) -> Reply:
    state = _state(double)
    rejected = double.take_reject()
    if rejected:
        return error(*rejected)
    body = request.json()
    problem, qty = _validate(state, body)
    if problem:
        return problem
    coid = body.get("client_order_id") or str(uuid.uuid4())
    if coid in state.by_client_id:
        return error(422, 40010001, "client_order_id must be unique")
    order = state.new_order(body, qty, coid)
    state.orders[order["id"]] = order
    state.by_client_id[coid] = order["id"]
    if state.auto_fill and order["type"] == "market":
        order["status"] = "new"
        state.fill(coid)
    return Reply(200, dict(order))


@route("GET", "/v2/orders:by_client_order_id")
def order_by_client_id(double: AlpacaDouble, request: Request) -> Reply:
    state = _state(double)
    coid = request.query.get("client_order_id", "")
    if coid not in state.by_client_id:
        return error(404, 40410000, "order not found")
    return Reply(200, dict(state.order_by_client_id(coid)))


@route("GET", "/v2/orders/(?P<order_id>[^/]+)")
def order_by_id(double: AlpacaDouble, request: Request, order_id: str) -> Reply:
    order = _state(double).orders.get(order_id)
    if order is None:
        return error(404, 40410000, "order not found")
    return Reply(200, dict(order))


@route("GET", "/v2/orders")
def list_orders(double: AlpacaDouble, request: Request) -> Reply:
    state = _state(double)
    status = request.query.get("status", "open")
    if status not in ("open", "closed", "all"):
        return error(422, 40010001, "invalid status")
    try:
        limit = min(500, max(1, int(request.query.get("limit", "50"))))
    except ValueError:
        return error(422, 40010001, "invalid limit")
    orders = [
        o
        for o in state.orders.values()
        if status == "all" or (o["status"] in OPEN) == (status == "open")
    ]
    orders.sort(
        key=lambda o: o["submitted_at"], reverse=request.query.get("direction", "desc") == "desc"
    )
    return Reply(200, [dict(o) for o in orders[:limit]])


@route("DELETE", "/v2/orders/(?P<order_id>[^/]+)")
def cancel_order(double: AlpacaDouble, request: Request, order_id: str) -> Reply:
    state = _state(double)
    order = state.orders.get(order_id)
    if order is None:
        return error(404, 40410000, "order not found")
    if order["status"] in FINAL:
        return error(422, 42210000, "order is not cancelable")
    now = iso(state.now())
    order.update(status="canceled", canceled_at=now, updated_at=now)
    return Reply(204)


@route("GET", "/v2/positions")
def list_positions(double: AlpacaDouble, request: Request) -> Reply:
    state = _state(double)
    return Reply(
        200, [state.position_json(s) for s, (q, _) in sorted(state.positions.items()) if q]
    )


@route("GET", "/v2/account")
def account(double: AlpacaDouble, request: Request) -> Reply:
    return Reply(200, _state(double).account_json())


@route("GET", "/v2/assets/(?P<symbol>.+)")
def asset(double: AlpacaDouble, request: Request, symbol: str) -> Reply:
    state = _state(double)
    if symbol not in state.assets:
        return error(404, 40410000, f"asset not found for {symbol[:32]}")
    return Reply(200, state.asset_json(symbol))


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@route("GET", "/v2/account/activities/FILL")
def fill_activities(double: AlpacaDouble, request: Request) -> Reply:
    state = _state(double)
    query = request.query
    items = list(state.activities)
    if query.get("direction", "desc") == "desc":
        items.reverse()
    for key, keep in (("after", lambda t, b: t > b), ("until", lambda t, b: t < b)):
        if key in query:
            bound = _parse_time(query[key])
            if bound is None:
                return error(422, 40010001, f"invalid {key}")
            items = [a for a in items if keep(_parse_time(a["transaction_time"]), bound)]
    if "page_token" in query:
        ids = [a["id"] for a in items]
        if query["page_token"] in ids:
            items = items[ids.index(query["page_token"]) + 1 :]
    try:
        size = min(100, max(1, int(query.get("page_size", "100"))))
    except ValueError:
        return error(422, 40010001, "invalid page_size")
    return Reply(200, [dict(a) for a in items[:size]])


__all__ = ["FINAL", "OPEN", "TradingState", "iso"]
