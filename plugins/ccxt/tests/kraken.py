"""A Kraken spot double: the /0/public and /0/private endpoints ccxt's kraken uses,
with Kraken's JSON (``{"error": [...], "result": ...}`` on HTTP 200, errors as
``"EOrder:..."`` strings, order ids like ``OQCLML-BW3P3-BUCMWZ``) and its API-Sign
(HMAC-SHA512 over the path and SHA-256 of nonce + body) checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from decimal import Decimal
from typing import Any

from .venue import ExchangeDouble, VenueOrder
from .wire import Answer, Captured

MARKET: dict[str, Any] = {
    "id": "XBTUSDT",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "settle": None,
    "baseId": "XXBT",
    "quoteId": "USDT",
    "settleId": None,
    "altname": "XBTUSDT",
    "darkpool": False,
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
    "taker": 0.004,
    "maker": 0.0025,
    "precision": {"amount": 1e-08, "price": 0.1},
    "limits": {
        "amount": {"min": 5e-05, "max": None},
        "price": {"min": None, "max": None},
        "cost": {"min": 0.5, "max": None},
        "leverage": {"min": 1.0, "max": 5.0},
    },
    "info": {
        "altname": "XBTUSDT",
        "wsname": "XBT/USDT",
        "aclass_base": "currency",
        "base": "XXBT",
        "aclass_quote": "currency",
        "quote": "USDT",
        "pair_decimals": 1,
        "cost_decimals": 5,
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "ordermin": "0.00005",
        "costmin": "0.5",
        "tick_size": "0.1",
        "status": "online",
    },
}

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

ASSETS = {"BTC": "XXBT", "USDT": "USDT"}


def s(value: Decimal, places: int = 8) -> str:
    return f"{value:.{places}f}"


def order_id(n: int) -> str:
    text = f"O{n:05d}ABCDEFGHJKLMNP"
    return f"{text[:6]}-{text[6:11]}-{text[11:17]}"


class KrakenDouble(ExchangeDouble):
    """Kraken spot, one market (BTC/USDT, pair XBTUSDT)."""

    exchange = "kraken"
    statuses = {"pending": False, "open": False, "closed": True, "canceled": True, "expired": True}
    OPEN, PARTIAL, FILLED, CANCELED = "open", "open", "closed", "canceled"
    submit_path = "/0/private/AddOrder"
    markets = [MARKET]

    def __init__(self, api_key: str, secret: str) -> None:
        super().__init__(api_key, secret)
        self.balances = {"USDT": Decimal(100000), "BTC": Decimal(0)}

    def error(self, *messages: str, request: Captured, status: int = 200) -> Answer:
        return Answer(status, {"error": [self.echoed(m, request) for m in messages]})

    def ok(self, result: Any) -> Answer:
        return Answer(200, {"error": [], "result": result})

    def fault_answer(self, fault: Any, request: Captured) -> Answer:
        if fault.status == 429:
            answer = self.error("EAPI:Rate limit exceeded", request=request, status=429)
            if fault.reset_after:
                answer.headers["Retry-After"] = str(int(fault.reset_after))
            return answer
        return Answer(
            fault.status,
            "<html><head><title>520: Web server error</title></head></html>",
        )

    def reject_answer(self, reason: str, request: Captured) -> Answer:
        return self.error(f"EGeneral:Invalid arguments:{reason}", request=request)

    def signed(self, request: Captured) -> bool:
        nonce = request.form.get("nonce", "")
        message = request.path.encode() + hashlib.sha256((nonce + request.body).encode()).digest()
        mac = hmac.new(base64.b64decode(self.secret), message, hashlib.sha512)
        expected = base64.b64encode(mac.digest()).decode()
        return request.headers.get("API-Key") == self.api_key and hmac.compare_digest(
            expected, request.headers.get("API-Sign", "")
        )

    def trade_id(self) -> str:
        text = f"T{self.new_id():05d}QRSTUVWXYZ23456"
        return f"{text[:6]}-{text[6:11]}-{text[11:17]}"

    def route(self, request: Captured) -> Answer:
        p, path = request.params, request.path
        if path == "/0/public/Ticker":
            return self.ok({"XBTUSDT": self.ticker()})
        if path == "/0/public/OHLC":
            return self.ok({"XBTUSDT": self.ohlc(), "last": self.clock_ms // 1000})
        if not self.signed(request):
            return self.error("EAPI:Invalid key", request=request)
        if path == "/0/private/AddOrder":
            return self.create(p, request)
        if path in ("/0/private/OpenOrders", "/0/private/ClosedOrders"):
            want_open = path.endswith("OpenOrders")
            chosen = {
                o.order_id: self.order_json(o)
                for o in self.orders.values()
                if (o.status in ("pending", "open")) == want_open
                and ("cl_ord_id" not in p or o.client_id == p["cl_ord_id"])
            }
            if want_open:
                return self.ok({"open": chosen})
            return self.ok({"closed": chosen, "count": len(chosen)})
        if path == "/0/private/CancelOrder":
            order = (
                self.by_client_id(p["cl_ord_id"])
                if "cl_ord_id" in p
                else self.orders.get(p.get("txid", ""))
            )
            if order is None or order.status not in ("pending", "open"):
                return self.error("EOrder:Unknown order", request=request)
            order.status = "canceled"
            return self.ok({"count": 1})
        if path == "/0/private/TradesHistory":
            # the account's trades after "start" (seconds, exclusive), newest first, 50
            # from offset "ofs"; "count" is how many match in all
            start = float(p.get("start", "0"))
            chosen = [t for t in reversed(self.trades) if t.ms / 1000 > start]
            ofs = int(p.get("ofs", "0"))
            page = {t.trade_id: self.trade_json(t) for t in chosen[ofs : ofs + 50]}
            return self.ok({"trades": page, "count": len(chosen)})
        if path == "/0/private/BalanceEx":
            return self.ok(
                {
                    ASSETS[asset]: {"balance": s(amount, 10), "hold_trade": "0.0000000000"}
                    for asset, amount in self.balances.items()
                }
            )
        return self.error("EGeneral:Unknown method", request=request)

    def refusal(self, p: dict[str, str], request: Captured) -> Answer | None:
        """What Kraken refuses before placing: a cl_ord_id that is neither a UUID nor
        free text of up to 18 characters, more price decimals than the pair's
        ``pair_decimals`` (1), more volume decimals than ``lot_decimals`` (8)."""
        client_id = p.get("cl_ord_id")
        if client_id is not None and not (UUID.fullmatch(client_id) or len(client_id) <= 18):
            return self.error("EGeneral:Invalid arguments:cl_ord_id", request=request)
        if "price" in p and -Decimal(p["price"]).as_tuple().exponent > 1:
            msg = "EOrder:Invalid price:XBTUSDT price can only be specified up to 1 decimals."
            return self.error(msg, request=request)
        if -Decimal(p["volume"]).as_tuple().exponent > 8:
            return self.error("EGeneral:Invalid arguments:volume", request=request)
        return None

    def create(self, p: dict[str, str], request: Captured) -> Answer:
        refused = self.refusal(p, request)
        if refused is not None:
            return refused
        quantity = Decimal(p["volume"])
        held = self.by_client_id(p.get("cl_ord_id", "")) if p.get("cl_ord_id") else None
        if held is not None and held.status in ("pending", "open"):  # unique among open orders
            return self.error("EOrder:Duplicate order", request=request)
        if p["type"] == "buy" and quantity * self.price > self.balances["USDT"]:
            return self.error("EOrder:Insufficient funds", request=request)
        if quantity < Decimal("0.00005"):
            return self.error("EOrder:Order minimum not met", request=request)
        order = self.place(
            order_id=order_id(self.new_id()),
            client_id=p.get("cl_ord_id", ""),
            symbol="BTC/USDT",
            side=p["type"],
            type=p["ordertype"],
            quantity=quantity,
            price=Decimal(p["price"]) if "price" in p else None,
            status="open",
        )
        at = f" @ limit {order.price}" if order.price else " @ market"
        return self.ok(
            {
                "descr": {"order": f"{order.side} {s(quantity)} XBTUSDT{at}"},
                "txid": [order.order_id],
            }
        )

    def order_json(self, o: VenueOrder) -> dict[str, Any]:
        average = o.cost / o.filled if o.filled else Decimal(0)
        body = {
            "refid": None,
            "userref": 0,
            "cl_ord_id": o.client_id or None,
            "status": o.status,
            "opentm": o.created_ms / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": "XBTUSDT",
                "type": o.side,
                "ordertype": o.type,
                "price": s(o.price or Decimal(0), 1),
                "price2": "0",
                "leverage": "none",
                "order": f"{o.side} {s(o.quantity)} XBTUSDT @ {o.type} {o.price or 0}",
                "close": "",
            },
            "vol": s(o.quantity),
            "vol_exec": s(o.filled),
            "cost": s(o.cost, 5),
            "fee": s(o.cost * Decimal("0.001"), 5),
            "price": s(average, 1),
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "fciq",
            "trades": [t.trade_id for t in self.trades if t.order is o],
        }
        if o.status in ("closed", "canceled", "expired"):
            body["closetm"] = o.updated_ms / 1000
            body["reason"] = "User requested" if o.status == "canceled" else None
        return body

    def trade_json(self, t: Any) -> dict[str, Any]:
        return {
            "ordertxid": t.order.order_id,
            "postxid": "TKH2SE-M7IF5-CFI7LT",
            "pair": "XBTUSDT",
            "time": t.ms / 1000,
            "type": t.order.side,
            "ordertype": t.order.type,
            "price": s(t.price, 1),
            "cost": s(t.quantity * t.price, 5),
            "fee": s(t.fee, 5),
            "vol": s(t.quantity),
            "margin": "0.00000",
            "leverage": "0",
            "misc": "",
            "trade_id": 39482674,
            "maker": False,
        } | t.wire

    def ticker(self) -> dict[str, Any]:
        p = self.price
        return {
            "a": [s(p + 1, 1), "1", "1.000"],
            "b": [s(p - 1, 1), "1", "1.000"],
            "c": [s(p, 1), "0.00067643"],
            "v": ["4083.67001100", "4412.73601799"],
            "p": [s(p, 1), s(p, 1)],
            "t": [34619, 38907],
            "l": [s(p - 100, 1), s(p - 100, 1)],
            "h": [s(p + 100, 1), s(p + 100, 1)],
            "o": s(p, 1),
        }

    def ohlc(self) -> list[list[Any]]:
        start = (self.clock_ms // 60000 - 5) * 60
        return [
            [
                start + 60 * i,
                s(self.price, 1),
                s(self.price + 5, 1),
                s(self.price - 5, 1),
                s(self.price + 1, 1),
                s(self.price, 1),
                "3.39243896",
                23,
            ]
            for i in range(5)
        ]
