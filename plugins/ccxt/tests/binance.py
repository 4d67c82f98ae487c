"""A Binance spot double: the /api/v3 endpoints ccxt's binance uses for spot trading,
with Binance's JSON (strings for numbers, ``code``/``msg`` errors, HTTP 400 for a
refused order, 429 with ``Retry-After``) and HMAC-SHA256 signatures checked."""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import Any

from .venue import ExchangeDouble, VenueOrder
from .wire import Answer, Captured

MARKET: dict[str, Any] = {
    "id": "BTCUSDT",
    "lowercaseId": "btcusdt",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "settle": None,
    "baseId": "BTC",
    "quoteId": "USDT",
    "settleId": None,
    "type": "spot",
    "spot": True,
    "margin": True,
    "swap": False,
    "future": False,
    "option": False,
    "active": True,
    "contract": False,
    "linear": None,
    "inverse": None,
    "contractSize": None,
    "taker": 0.001,
    "maker": 0.001,
    "precision": {"amount": 1e-05, "price": 0.01},
    "limits": {
        "amount": {"min": 1e-05, "max": 9000.0},
        "price": {"min": 0.01, "max": 1000000.0},
        "cost": {"min": 5.0, "max": 9000000.0},
        "leverage": {"min": None, "max": None},
        "market": {"min": 0.0, "max": 85.0},
    },
    "info": {
        "symbol": "BTCUSDT",
        "status": "TRADING",
        "baseAsset": "BTC",
        "baseAssetPrecision": 8,
        "quoteAsset": "USDT",
        "quotePrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01",
                "maxPrice": "1000000.00",
                "tickSize": "0.01",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001",
                "maxQty": "9000.00000",
                "stepSize": "0.00001",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
    },
}

CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
STEP, TICK, MIN_NOTIONAL = Decimal("0.00001"), Decimal("0.01"), Decimal(5)

STATUS = {"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL", "REJECTED"}


def s(value: Decimal) -> str:
    return f"{value:.8f}"


class BinanceDouble(ExchangeDouble):
    """Binance spot, one market (BTC/USDT)."""

    exchange = "binance"
    statuses = {
        "NEW": False,
        "PARTIALLY_FILLED": False,
        "PENDING_CANCEL": False,
        "FILLED": True,
        "CANCELED": True,
        "REJECTED": True,
        "EXPIRED": True,
        "EXPIRED_IN_MATCH": True,
    }
    OPEN, PARTIAL, FILLED, CANCELED = "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED"
    submit_path = "/api/v3/order"
    markets = [MARKET]

    def error(self, status: int, code: int, msg: str, request: Captured) -> Answer:
        return Answer(status, {"code": code, "msg": self.echoed(msg, request)})

    def fault_answer(self, fault: Any, request: Captured) -> Answer:
        if fault.status == 429:
            headers = {"Retry-After": str(int(fault.reset_after or 1))}
            msg = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
            answer = self.error(429, -1003, msg, request)
            answer.headers.update(headers)
            return answer
        return Answer(fault.status, "<html><body><h1>502 Bad Gateway</h1></body></html>")

    def reject_answer(self, reason: str, request: Captured) -> Answer:
        return self.error(400, -1013, f"Filter failure: {reason}", request)

    def signed(self, request: Captured) -> bool:
        raw = request.body if request.method == "POST" else request.url.split("?", 1)[-1]
        payload, _, signature = raw.rpartition("&signature=")
        digest = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return request.headers.get("X-MBX-APIKEY") == self.api_key and hmac.compare_digest(
            digest, signature
        )

    def route(self, request: Captured) -> Answer:
        p, path = request.params, request.path
        if path == "/api/v3/ticker/24hr":
            return Answer(200, self.ticker())
        if path == "/api/v3/klines":
            return Answer(200, self.klines(int(p.get("limit", "5"))))
        if not self.signed(request):
            return self.error(400, -1022, "Signature for this request is not valid.", request)
        if path == "/api/v3/order" and request.method == "POST":
            return self.create(p, request)
        if path == "/api/v3/order":
            order = self.find(p)
            if order is None:
                return self.error(400, -2013, "Order does not exist.", request)
            if request.method == "DELETE":
                if order.status not in ("NEW", "PARTIALLY_FILLED"):
                    return self.error(400, -2011, "Unknown order sent.", request)
                order.status = "CANCELED"
                return Answer(200, self.order_json(order) | {"origClientOrderId": order.client_id})
            return Answer(200, self.order_json(order))
        if path == "/api/v3/openOrders":
            open_ = [o for o in self.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")]
            return Answer(200, [self.order_json(o) for o in open_])
        if path == "/api/v3/allOrders":  # the newest "limit" (default 500, max 1000)
            limit = min(int(p.get("limit", "500")), 1000)
            return Answer(200, [self.order_json(o) for o in list(self.orders.values())[-limit:]])
        if path == "/api/v3/myTrades":
            return Answer(200, [self.trade_json(t) for t in self.my_trades(p)])
        if path == "/api/v3/account":
            return Answer(200, self.account_json())
        return self.error(404, -1100, f"unknown endpoint {path}", request)

    def my_trades(self, p: dict[str, str]) -> list[Any]:
        """/api/v3/myTrades: the symbol's trades of ``orderId``, or from ``startTime``
        (oldest first), else the newest; at most ``limit`` (default 500, max 1000)."""
        limit = min(int(p.get("limit", "500")), 1000)
        trades = [t for t in self.trades if t.order.symbol == "BTC/USDT"]
        if "orderId" in p:
            return [t for t in trades if t.order.order_id == p["orderId"]][:limit]
        if "startTime" in p:
            return [t for t in trades if t.ms >= int(p["startTime"])][:limit]
        return trades[-limit:]

    def find(self, p: dict[str, str]) -> VenueOrder | None:
        if "origClientOrderId" in p:
            return self.by_client_id(p["origClientOrderId"])
        return self.orders.get(p.get("orderId", ""))

    def refusal(self, p: dict[str, str], request: Captured) -> Answer | None:
        """What Binance refuses before placing: the id's alphabet and length (-1100), the
        LOT_SIZE step and minimum, the PRICE_FILTER tick, MIN_NOTIONAL (-1013)."""
        client_id = p.get("newClientOrderId")
        if client_id is not None and not CLIENT_ID.fullmatch(client_id):
            msg = (
                "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."
            )
            return self.error(400, -1100, msg, request)
        quantity = Decimal(p["quantity"])
        if quantity < STEP or quantity % STEP:
            return self.error(400, -1013, "Filter failure: LOT_SIZE", request)
        price = Decimal(p["price"]) if "price" in p else None
        if price is not None and (price < TICK or price % TICK):
            return self.error(400, -1013, "Filter failure: PRICE_FILTER", request)
        if quantity * (price or self.price) < MIN_NOTIONAL:
            return self.error(400, -1013, "Filter failure: NOTIONAL", request)
        return None

    def create(self, p: dict[str, str], request: Captured) -> Answer:
        refused = self.refusal(p, request)
        if refused is not None:
            return refused
        client_id = p.get("newClientOrderId") or f"x-R4BD3S82{self.new_id()}"
        held = self.by_client_id(client_id)
        if held is not None and held.status in ("NEW", "PARTIALLY_FILLED"):  # open ones only
            return self.error(400, -2010, "Duplicate order sent.", request)
        quantity = Decimal(p["quantity"])
        side = p["side"].lower()
        if side == "buy" and quantity * self.price > self.balances["USDT"]:
            msg = "Account has insufficient balance for requested action."
            return self.error(400, -2010, msg, request)
        order = self.place(
            order_id=str(self.new_id()),
            client_id=client_id,
            symbol="BTC/USDT",
            side=side,
            type=p["type"].lower(),
            quantity=quantity,
            price=Decimal(p["price"]) if "price" in p else None,
            status="NEW",
        )
        body = self.order_json(order) | {"transactTime": order.created_ms, "fills": []}
        for key in ("time", "updateTime", "isWorking", "stopPrice", "icebergQty"):
            body.pop(key)
        return Answer(200, body)

    def order_json(self, o: VenueOrder) -> dict[str, Any]:
        return {
            "symbol": "BTCUSDT",
            "orderId": int(o.order_id),
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "price": s(o.price or Decimal(0)),
            "origQty": s(o.quantity),
            "executedQty": s(o.filled),
            "cummulativeQuoteQty": s(o.cost),
            "status": o.status,
            "timeInForce": "GTC",
            "type": o.type.upper(),
            "side": o.side.upper(),
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": o.created_ms,
            "updateTime": o.updated_ms,
            "isWorking": True,
            "workingTime": o.created_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def trade_json(self, t: Any) -> dict[str, Any]:
        return {
            "symbol": "BTCUSDT",
            "id": int(t.trade_id),
            "orderId": int(t.order.order_id),
            "orderListId": -1,
            "price": s(t.price),
            "qty": s(t.quantity),
            "quoteQty": s(t.quantity * t.price),
            "commission": s(t.fee),
            "commissionAsset": t.fee_asset,
            "time": t.ms,
            "isBuyer": t.order.side == "buy",
            "isMaker": False,
            "isBestMatch": True,
        } | t.wire

    def account_json(self) -> dict[str, Any]:
        locked = sum(
            (o.quantity - o.filled) * (o.price or self.price)
            for o in self.orders.values()
            if o.side == "buy" and o.status in ("NEW", "PARTIALLY_FILLED")
        )
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": self.clock_ms,
            "accountType": "SPOT",
            "balances": [
                {"asset": "BTC", "free": s(self.balances["BTC"]), "locked": "0.00000000"},
                {
                    "asset": "USDT",
                    "free": s(self.balances["USDT"] - locked),
                    "locked": s(Decimal(locked)),
                },
            ],
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    def ticker(self) -> dict[str, Any]:
        return {
            "symbol": "BTCUSDT",
            "priceChange": "-83.13000000",
            "priceChangePercent": "-0.276",
            "weightedAvgPrice": s(self.price),
            "prevClosePrice": s(self.price),
            "lastPrice": s(self.price),
            "lastQty": "0.00100000",
            "bidPrice": s(self.price - 1),
            "bidQty": "1.00000000",
            "askPrice": s(self.price + 1),
            "askQty": "1.00000000",
            "openPrice": s(self.price),
            "highPrice": s(self.price + 100),
            "lowPrice": s(self.price - 100),
            "volume": "1234.50000000",
            "quoteVolume": "37035000.00000000",
            "openTime": self.clock_ms - 86_400_000,
            "closeTime": self.clock_ms - 5000,
            "firstId": 1,
            "lastId": 1000,
            "count": 1000,
        }

    def klines(self, limit: int) -> list[list[Any]]:
        start = self.clock_ms - self.clock_ms % 60000 - 60000 * limit
        rows = []
        for i in range(limit):
            t = start + 60000 * i
            o = self.price + i
            rows.append(
                [
                    t,
                    s(o),
                    s(o + 5),
                    s(o - 5),
                    s(o + 1),
                    "12.5",
                    t + 59999,
                    "375000",
                    100,
                    "6.0",
                    "180000",
                    "0",
                ]
            )
        return rows
