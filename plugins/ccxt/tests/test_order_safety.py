"""Orders sent and read back safely: market buys in base units on every exchange of
the table (or refused), limit prices rounded the safe way in every precision mode,
only the order asked for adopted, a refusal proving the id in use never a rejection,
statuses read without float noise, implausible times refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradekernel.api import BrokerRejected, OrderRequest, OrderStatus, SubmitOutcomeUnknown
from tradekernel_ccxt.exchanges import PROFILES
from tradekernel_ccxt.marketdata import _quote
from tradekernel_ccxt.numbers import BadAnswer
from tradekernel_ccxt.orders import order_from, timestamp

from .binance import BinanceDouble
from .capture import BybitCanned, CoinbaseCanned, OkxCanned
from .conftest import BINANCE_KEY, BINANCE_SECRET, KRAKEN_KEY, KRAKEN_SECRET, broker_over
from .kraken import KrakenDouble
from .test_request_capture import ORDER, canned_broker
from .wire import Answer

CID = "tk-0123456789abcdef01234567"


def market_buy(cid: str = CID) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, symbol="BTC/USDT", side="buy", quantity=Decimal("0.01")
    )


# -- 1. market buys in base-currency units -------------------------------------------


def test_binance_and_kraken_market_buys_send_the_base_amount(binance, kraken):
    broker_over(binance).submit(market_buy())
    [create] = [r for r in binance.requests if binance.is_submit(r)]
    assert create.form["quantity"] == "0.01" and "quoteOrderQty" not in create.form
    broker_over(kraken).submit(market_buy())
    [create] = [r for r in kraken.requests if kraken.is_submit(r)]
    assert create.form["volume"] == "0.01" and create.form["ordertype"] == "market"
    assert "oflags" not in create.form  # no "viqc" (volume in quote currency)


def test_okx_market_buy_is_sized_in_base_ccy():
    canned = OkxCanned()
    canned_broker(canned).submit(market_buy())
    [create] = [r for r in canned.requests if r.method == "POST"]
    sent = canned.json_body(create)
    sent = sent[0] if isinstance(sent, list) else sent
    assert sent["sz"] == "0.01" and sent["tgtCcy"] == "base_ccy" and sent["ordType"] == "market"


def test_bybit_unified_market_buy_says_base_coin():
    canned = BybitCanned()
    canned_broker(canned).submit(market_buy())
    [create] = [r for r in canned.requests if r.path == "/v5/order/create"]
    sent = canned.json_body(create)
    assert sent["qty"] == "0.01" and sent["marketUnit"] == "baseCoin"


class BybitClassic(BybitCanned):
    """A classic (non-unified) account: Bybit reads a spot market buy's qty as quote."""

    def route(self, request):
        if request.path == "/v5/user/query-api":
            return self.ok({"id": "1", "readOnly": 0, "unified": 0, "uta": 0})
        if request.path == "/v5/account/info":
            return self.ok({"marginMode": "REGULAR_MARGIN", "unifiedMarginStatus": 1})
        return super().route(request)


class BybitUnifiedMargin(BybitCanned):
    """The older unified margin account (not UTA): ccxt sizes its market buys as classic."""

    def route(self, request):
        if request.path == "/v5/user/query-api":
            return self.ok({"id": "1", "readOnly": 0, "unified": 1, "uta": 0})
        if request.path == "/v5/account/info":
            return self.ok({"marginMode": "REGULAR_MARGIN", "unifiedMarginStatus": 2})
        return super().route(request)


@pytest.mark.parametrize("canned", [BybitClassic, BybitUnifiedMargin, CoinbaseCanned])
def test_market_buys_sized_in_quote_are_refused_before_sending(canned):
    venue = canned()
    broker = canned_broker(venue)
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(market_buy())
    assert refused.value.code == "market_buy_in_quote"
    assert not [r for r in venue.requests if r.method == "POST"]
    broker.submit(ORDER)  # a limit buy (base units) still goes
    assert [r for r in venue.requests if r.method == "POST"]


# -- 4. trades asked for by order (OKX, Bybit) from the order's time ------------------


@pytest.mark.parametrize(
    ("canned", "path", "field"),
    [(OkxCanned, "/api/v5/trade/fills", "ordId"), (BybitCanned, "/v5/execution/list", "orderId")],
)
def test_okx_and_bybit_trades_are_asked_for_by_order_and_time(canned, path, field):
    venue = canned()
    broker = canned_broker(venue)
    order = broker.submit(ORDER)
    assert broker.fills(CID) == []
    asked = [r for r in venue.requests if r.path.startswith(path)]
    assert asked and asked[-1].query[field] == order.broker_order_id
    since = {"ordId": "begin", "orderId": "startTime"}[field]
    assert int(asked[-1].query[since]) <= 1_764_470_000_000


# -- 10. limit prices rounded the safe way ----------------------------------------


def sent_price(double, side: str, limit: str, *, mode: int | None = None, precision=None) -> str:
    broker = broker_over(double)
    if mode is not None:
        broker.exchange.precisionMode = mode
        # amounts in the same mode: 5 decimal places, or 8 significant digits
        amount = 5 if mode == 2 else 8
        broker.exchange.markets["BTC/USDT"]["precision"] = {"price": precision, "amount": amount}
    double.balances["BTC"] += 1
    broker.submit(
        OrderRequest(
            client_order_id=CID,
            symbol="BTC/USDT",
            side=side,
            quantity=Decimal("0.01"),
            order_type="limit",
            limit_price=Decimal(limit),
        )
    )
    return [r for r in double.requests if double.is_submit(r)][-1].form["price"]


@pytest.mark.parametrize(
    ("exchange", "side", "limit", "sent", "mode", "precision"),
    [
        ("binance", "buy", "30000.006", "30000", None, None),  # TICK_SIZE 0.01
        ("binance", "sell", "30000.004", "30000.01", None, None),
        ("kraken", "buy", "30000.05", "30000", None, None),  # TICK_SIZE 0.1
        ("kraken", "sell", "30000.05", "30000.1", None, None),
        ("binance", "buy", "30000.6", "30000", 3, 5),  # SIGNIFICANT_DIGITS 5
        ("binance", "sell", "30000.4", "30001", 3, 5),
        ("binance", "buy", "30000.009", "30000", 2, 2),  # DECIMAL_PLACES 2
        ("binance", "sell", "30000.001", "30000.01", 2, 2),
    ],
)
def test_limit_prices_round_never_beyond_the_limit(exchange, side, limit, sent, mode, precision):
    double = BinanceDouble(BINANCE_KEY, BINANCE_SECRET) if exchange == "binance" else None
    double = double or KrakenDouble(KRAKEN_KEY, KRAKEN_SECRET)
    price = sent_price(double, side, limit, mode=mode, precision=precision)
    assert Decimal(price) == Decimal(sent)
    assert Decimal(price) <= Decimal(limit) if side == "buy" else Decimal(price) >= Decimal(limit)


# -- 6. only the order asked for ----------------------------------------------------


class BinanceAnsweringAnother(BinanceDouble):
    """A lookup by origClientOrderId answers another order (a venue bug)."""

    def find(self, p):
        if "origClientOrderId" in p:
            others = [o for o in self.orders.values() if o.client_id != p["origClientOrderId"]]
            return others[-1] if others else None
        return super().find(p)


def test_a_lookup_answering_another_order_is_not_adopted():
    double = BinanceAnsweringAnother(BINANCE_KEY, BINANCE_SECRET)
    broker = broker_over(double)
    broker.submit(market_buy("tk-ffffffffffffffffffffffff"))
    assert broker_over(double).get_order(CID) is None


class BinanceAnsweringWrongSide(BinanceDouble):
    def create(self, p, request):
        answer = super().create(p, request)
        answer.body["side"] = "SELL"
        return answer


def test_a_create_answer_for_another_order_is_a_conflict():
    events: list = []
    broker = broker_over(BinanceAnsweringWrongSide(BINANCE_KEY, BINANCE_SECRET), events=events)
    with pytest.raises(BrokerRejected, match="side sell") as refused:
        broker.submit(market_buy())
    assert refused.value.code == "client_order_id_conflict"
    [(fields, severity)] = [(f, f["severity"]) for _s, k, f in events if k == "order_conflict"]
    assert severity == "critical" and fields["client_order_id"] == CID


def test_a_duplicate_id_held_by_another_order_is_not_adopted(binance):
    broker_over(binance).submit(market_buy())
    other = OrderRequest(client_order_id=CID, symbol="BTC/USDT", side="buy", quantity="0.02")
    with pytest.raises(BrokerRejected) as refused:
        broker_over(binance).submit(other)
    assert refused.value.code == "client_order_id_conflict"


def test_a_resubmit_on_the_same_instance_checks_the_order_too(binance):
    broker = broker_over(binance)
    broker.submit(market_buy())
    other = OrderRequest(client_order_id=CID, symbol="BTC/USDT", side="sell", quantity="0.01")
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(other)
    assert refused.value.code == "client_order_id_conflict"
    assert binance.submit_requests() == 1


# -- 7. a refusal proving the id in use ---------------------------------------------


class BinanceLagging(BinanceDouble):
    """Its order lookup does not see an order for a while (index lag)."""

    lagging: frozenset[str] = frozenset()

    def find(self, p):
        if p.get("origClientOrderId") in self.lagging:
            return None
        return super().find(p)


class KrakenLagging(KrakenDouble):
    lagging: frozenset[str] = frozenset()

    def route(self, request):
        if request.form.get("cl_ord_id") in self.lagging and request.path.endswith("Orders"):
            key = "open" if request.path.endswith("OpenOrders") else "closed"
            return self.ok({key: {}, "count": 0})
        return super().route(request)


@pytest.mark.parametrize("cls", [BinanceLagging, KrakenLagging])
def test_a_duplicate_refusal_whose_lookup_misses_is_unknown(cls):
    key, secret = (
        (BINANCE_KEY, BINANCE_SECRET) if cls is BinanceLagging else (KRAKEN_KEY, KRAKEN_SECRET)
    )
    double = cls(key, secret)
    broker_over(double).submit(ORDER)
    double.lagging = frozenset({double.profile.venue_id(CID)})
    with pytest.raises(SubmitOutcomeUnknown, match="not found yet"):
        broker_over(double).submit(ORDER)
    assert double.orders_with(CID) == 1


class OkxDuplicate(OkxCanned):
    """Answers 51016 "Duplicated clOrdId" to a second create with the id."""

    def route(self, request):
        if request.method == "POST" and self.client_id:
            fail = {
                "clOrdId": self.client_id,
                "ordId": "",
                "sCode": "51016",
                "sMsg": "Duplicated clOrdId",
                "tag": "",
            }
            return self.answer(fail)
        return super().route(request)

    def answer(self, data):
        return Answer(200, {"code": "1", "msg": "All operations failed", "data": [data]})


class BybitDuplicate(BybitCanned):
    def route(self, request):
        if request.path == "/v5/order/create" and self.client_id:
            body = {
                "retCode": 110072,
                "retMsg": "OrderLinkedID is duplicate",
                "result": {},
                "retExtInfo": {},
                "time": 1_764_470_000_000,
            }
            return Answer(200, body)
        return super().route(request)


@pytest.mark.parametrize("cls", [OkxDuplicate, BybitDuplicate])
def test_okx_and_bybit_duplicate_refusals_are_looked_up(cls):
    venue = cls()
    first = canned_broker(venue).submit(ORDER)
    again = canned_broker(venue).submit(ORDER)  # a restart: refused as a duplicate, adopted
    assert again.broker_order_id == first.broker_order_id
    broker, answer = canned_broker(venue), venue.route

    def lagging(request):  # reads no longer see the order: the index lags
        if request.method == "GET":
            held, venue.client_id = venue.client_id, "lagging"
            try:
                return answer(request)
            finally:
                venue.client_id = held
        return answer(request)

    venue.route = lagging
    with pytest.raises(SubmitOutcomeUnknown, match="not found yet"):
        broker.submit(ORDER)


# -- 11. statuses -------------------------------------------------------------------

BASE = {
    "id": "1",
    "clientOrderId": CID,
    "symbol": "BTC/USDT",
    "side": "buy",
    "type": "market",
    "amount": 0.2,
    "timestamp": 1_700_000_000_000,
}


@pytest.mark.parametrize(
    ("extra", "status", "filled"),
    [
        ({"status": "closed", "filled": 0.19999999999999998}, OrderStatus.FILLED, "0.2"),
        ({"status": "closed", "amount": 0.3, "filled": 0.30000000000000004}, "filled", "0.3"),
        ({"status": "CLOSED", "filled": 0.2}, OrderStatus.FILLED, "0.2"),
        ({"status": "Canceled", "filled": 0.1}, OrderStatus.CANCELLED, "0.1"),
        ({"status": "closed", "filled": 0.1}, OrderStatus.CANCELLED, "0.1"),
        ({"status": "closed", "filled": None}, OrderStatus.WORKING, "0"),
    ],
)
def test_statuses_read_without_float_noise_and_in_any_case(extra, status, filled):
    unknown: list = []
    order = order_from(BASE | extra, PROFILES["binance"], lambda *a: unknown.append(a), None)
    assert order.status is OrderStatus(status) and order.filled_quantity == Decimal(filled)
    if extra["filled"] is None:  # progress unknown: told, never a cancelled 0
        assert unknown == [(CID, "closed (filled missing)")]


def test_the_market_step_is_the_tolerance():
    step = Decimal("0.00001")
    noisy = BASE | {"status": "closed", "filled": 0.199996}
    assert order_from(noisy, PROFILES["binance"], None, step).status is OrderStatus.FILLED
    short = BASE | {"status": "closed", "filled": 0.19998}
    assert order_from(short, PROFILES["binance"], None, step).status is OrderStatus.CANCELLED


# -- 12. times ----------------------------------------------------------------------


def test_implausible_times_are_refused():
    now = int(time.time() * 1000)
    assert timestamp(now, "t") is not None
    with pytest.raises(BadAnswer, match="before 2000"):
        timestamp(now // 1000, "t")  # seconds
    with pytest.raises(BadAnswer, match="future"):
        timestamp(now + 3_600_000, "t")
    ahead = int(datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    with pytest.raises(BadAnswer, match="future"):
        _quote("BTC/USDT", {"last": 100.0, "timestamp": ahead}, datetime.now(UTC))
