"""Canned answers in the real JSON shapes of OKX, Bybit and Coinbase Advanced Trade,
enough for ``create_order`` and the client-id lookup: the request-capture tests check
what ccxt signs and sends, and that the broker reads the answers back."""

from __future__ import annotations

import json
from typing import Any

from .wire import Answer, Captured

NOW_MS = 1_764_470_000_000


def market(market_id: str, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """A unified spot market BTC/USDT with the exchange's id (set by hand)."""
    return {
        "id": market_id,
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "settle": None,
        "baseId": "BTC",
        "quoteId": "USDT",
        "settleId": None,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "active": True,
        "contract": False,
        "linear": None,
        "inverse": None,
        "contractSize": None,
        "precision": {"amount": 1e-08, "price": 0.1},
        "limits": {
            "amount": {"min": 1e-05, "max": None},
            "price": {"min": None, "max": None},
            "cost": {"min": 1.0, "max": None},
            "leverage": {"min": None, "max": None},
        },
        "info": info or {},
    }


class CannedExchange:
    """Holds at most one order, created by the first create request; answers lookups
    for it by the client id field (and nothing for any other id)."""

    exchange = ""
    market_id = ""
    field = ""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.client_id: str | None = None

    def handle(self, request: Captured) -> Answer:
        self.requests.append(request)
        return self.route(request)

    def json_body(self, request: Captured) -> Any:
        return json.loads(request.body) if request.body else {}

    def route(self, request: Captured) -> Answer:
        raise NotImplementedError


class OkxCanned(CannedExchange):
    exchange, market_id, field = "okx", "BTC-USDT", "clOrdId"

    def order(self) -> dict[str, Any]:
        return {
            "accFillSz": "0",
            "algoClOrdId": "",
            "algoId": "",
            "avgPx": "",
            "cTime": str(NOW_MS),
            "cancelSource": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": self.client_id,
            "fee": "0",
            "feeCcy": "BTC",
            "fillPx": "",
            "fillSz": "0",
            "fillTime": "",
            "instId": "BTC-USDT",
            "instType": "SPOT",
            "lever": "",
            "ordId": "2510789768709120",
            "ordType": "limit",
            "pnl": "0",
            "posSide": "net",
            "px": "29000",
            "rebate": "0",
            "rebateCcy": "USDT",
            "side": "buy",
            "slOrdPx": "",
            "slTriggerPx": "",
            "state": "live",
            "sz": "0.01",
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tradeId": "",
            "uTime": str(NOW_MS),
        }

    def route(self, request: Captured) -> Answer:
        if request.path in ("/api/v5/trade/order", "/api/v5/trade/batch-orders") and (
            request.method == "POST"
        ):
            body = self.json_body(request)
            body = body[0] if isinstance(body, list) else body
            self.client_id = body.get("clOrdId")
            ack = {
                "clOrdId": self.client_id,
                "ordId": "2510789768709120",
                "tag": "",
                "ts": str(NOW_MS),
                "sCode": "0",
                "sMsg": "Order placed",
            }
            return Answer(200, {"code": "0", "msg": "", "data": [ack], "inTime": "", "outTime": ""})
        if request.path == "/api/v5/trade/order":
            if self.client_id and request.query.get("clOrdId") == self.client_id:
                return Answer(200, {"code": "0", "msg": "", "data": [self.order()]})
            return Answer(200, {"code": "51603", "msg": "Order does not exist", "data": []})
        return Answer(200, {"code": "0", "msg": "", "data": []})


class BybitCanned(CannedExchange):
    exchange, market_id, field = "bybit", "BTCUSDT", "orderLinkId"

    def ok(self, result: Any) -> Answer:
        return Answer(
            200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": NOW_MS}
        )

    def order(self) -> dict[str, Any]:
        return {
            "orderId": "1321003749386327552",
            "orderLinkId": self.client_id,
            "blockTradeId": "",
            "symbol": "BTCUSDT",
            "price": "29000",
            "qty": "0.01",
            "side": "Buy",
            "isLeverage": "0",
            "positionIdx": 0,
            "orderStatus": "New",
            "cancelType": "UNKNOWN",
            "rejectReason": "EC_NoError",
            "avgPrice": "0",
            "leavesQty": "0.01",
            "leavesValue": "290",
            "cumExecQty": "0",
            "cumExecValue": "0",
            "cumExecFee": "0",
            "timeInForce": "GTC",
            "orderType": "Limit",
            "stopOrderType": "",
            "orderIv": "",
            "triggerPrice": "0.00",
            "takeProfit": "",
            "stopLoss": "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": False,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(NOW_MS),
            "updatedTime": str(NOW_MS),
        }

    def route(self, request: Captured) -> Answer:
        if request.path == "/v5/user/query-api":
            return self.ok({"id": "13770661", "readOnly": 0, "unified": 0, "uta": 1})
        if request.path == "/v5/account/info":
            return self.ok({"marginMode": "REGULAR_MARGIN", "unifiedMarginStatus": 4})
        if request.path == "/v5/order/create":
            self.client_id = self.json_body(request).get("orderLinkId")
            return self.ok({"orderId": "1321003749386327552", "orderLinkId": self.client_id})
        if request.path in ("/v5/order/realtime", "/v5/order/history"):
            found = self.client_id and request.query.get("orderLinkId") == self.client_id
            wanted = request.path.endswith("realtime")  # the canned order is open
            rows = [self.order()] if found and wanted else []
            return self.ok({"list": rows, "nextPageCursor": "", "category": "spot"})
        return self.ok({})


class CoinbaseCanned(CannedExchange):
    exchange, market_id, field = "coinbase", "BTC-USDT", "client_order_id"

    def order(self) -> dict[str, Any]:
        return {
            "order_id": "0000-000000-000000",
            "product_id": "BTC-USDT",
            "user_id": "2222-000000-000000",
            "order_configuration": {
                "limit_limit_gtc": {"base_size": "0.01", "limit_price": "29000", "post_only": False}
            },
            "side": "BUY",
            "client_order_id": self.client_id,
            "status": "OPEN",
            "time_in_force": "GOOD_UNTIL_CANCELLED",
            "created_time": "2025-11-30T02:33:20Z",
            "completion_percentage": "0",
            "filled_size": "0",
            "average_filled_price": "0",
            "fee": "",
            "number_of_fills": "0",
            "filled_value": "0",
            "pending_cancel": False,
            "size_in_quote": False,
            "total_fees": "0",
            "size_inclusive_of_fees": False,
            "total_value_after_fees": "0",
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "LIMIT",
            "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": False,
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "",
        }

    def route(self, request: Captured) -> Answer:
        if request.path == "/api/v3/brokerage/orders" and request.method == "POST":
            self.client_id = self.json_body(request).get("client_order_id")
            return Answer(
                200,
                {
                    "success": True,
                    "failure_reason": "UNKNOWN_FAILURE_REASON",
                    "order_id": "0000-000000-000000",
                    "success_response": {
                        "order_id": "0000-000000-000000",
                        "product_id": "BTC-USDT",
                        "side": "BUY",
                        "client_order_id": self.client_id,
                    },
                },
            )
        if request.path == "/api/v3/brokerage/orders/historical/batch":
            rows = [self.order()] if self.client_id else []
            return Answer(200, {"orders": rows, "sequence": "0", "has_next": False, "cursor": ""})
        return Answer(200, {})
