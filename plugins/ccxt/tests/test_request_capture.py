"""Which field carries the kernel's client order id, and how an order is found again,
per exchange: checked on the requests ccxt really signs and sends (the real ccxt
exchange class, markets set by hand, its HTTP session replaced)."""

from __future__ import annotations

import base64
import contextlib
from decimal import Decimal

import ccxt
import pytest
from tradekernel.api import OrderRequest, OrderStatus
from tradekernel_ccxt.broker import CcxtBroker
from tradekernel_ccxt.config import CcxtConfig
from tradekernel_ccxt.exchanges import PROFILES

from .capture import BybitCanned, CoinbaseCanned, OkxCanned, market
from .conftest import broker_over
from .wire import Session

CID = "tk-0123456789abcdef01234567"
SECRET = base64.b64encode(bytes(range(64))).decode()  # also a Coinbase CDP Ed25519 key
ORDER = OrderRequest(
    client_order_id=CID,
    symbol="BTC/USDT",
    side="buy",
    quantity=Decimal("0.01"),
    order_type="limit",
    limit_price=Decimal("29000"),
)


def test_binance_new_client_order_id_and_orig_lookup(binance):
    broker = broker_over(binance)
    order = broker.submit(ORDER)
    assert broker_over(binance).get_order(CID).broker_order_id == order.broker_order_id
    creates = [r for r in binance.requests if r.method == "POST"]
    assert len(creates) == 1 and creates[0].form["newClientOrderId"] == CID
    assert "signature" in creates[0].form and creates[0].headers["X-MBX-APIKEY"] == binance.api_key
    lookups = [r for r in binance.requests if r.method == "GET" and r.path == "/api/v3/order"]
    assert lookups and lookups[0].query["origClientOrderId"] == CID
    assert "orderId" not in lookups[0].query
    assert order.broker_order_id and order.client_order_id == CID


def test_kraken_cl_ord_id_as_uuid_and_filtered_lists(kraken):
    broker = broker_over(kraken)
    order = broker.submit(ORDER)
    assert broker_over(kraken).get_order(CID).broker_order_id == order.broker_order_id
    uuid = "746b0000-0123-4567-89ab-cdef01234567"
    [create] = [r for r in kraken.requests if r.path == "/0/private/AddOrder"]
    assert create.form["cl_ord_id"] == uuid and "userref" not in create.form
    assert "API-Sign" in create.headers
    listed = [
        r for r in kraken.requests if r.path in ("/0/private/OpenOrders", "/0/private/ClosedOrders")
    ]
    assert listed and all(r.form["cl_ord_id"] == uuid for r in listed)
    assert order.client_order_id == CID
    assert broker_over(kraken).get_order(CID).broker_order_id == order.broker_order_id


def test_kraken_fetch_order_with_client_order_id_sends_userref(kraken):
    """Why the lookup filters the order lists: ccxt's own client-id lookup sends the
    id in ``userref`` (Kraken's integer reference), not ``cl_ord_id``."""
    broker = broker_over(kraken)
    broker.submit(ORDER)
    with contextlib.suppress(ccxt.BaseError):
        broker.exchange.fetch_order_with_client_order_id("746b0000-0123-4567-89ab-cdef01234567")
    sent = kraken.requests[-1]
    assert sent.form.get("userref") == "746b0000-0123-4567-89ab-cdef01234567"
    assert "cl_ord_id" not in sent.form


def canned_broker(canned) -> CcxtBroker:
    exchange = getattr(ccxt, canned.exchange)(
        {
            "apiKey": "capture-key-0123456789",
            "secret": SECRET,
            "password": "capture-passphrase",
            "session": Session(canned.handle),
            "enableRateLimit": False,
        }
    )
    exchange.set_markets([market(canned.market_id)])
    config = CcxtConfig(exchange=canned.exchange, symbols=["BTC/USDT"], rate_limit=False)
    return CcxtBroker(config, exchange, PROFILES[canned.exchange], sleep=lambda _s: None)


def test_okx_cl_ord_id_letters_and_digits_only():
    canned = OkxCanned()
    broker = canned_broker(canned)
    order = broker.submit(ORDER)
    found = broker.get_order(CID)
    [create] = [r for r in canned.requests if r.method == "POST"]
    sent = canned.json_body(create)
    sent = sent[0] if isinstance(sent, list) else sent
    assert sent["clOrdId"] == "tk0123456789abcdef01234567"  # no '-': OKX takes [A-Za-z0-9]{1,32}
    assert create.headers["OK-ACCESS-KEY"] == "capture-key-0123456789"
    assert create.headers["OK-ACCESS-PASSPHRASE"] == "capture-passphrase"
    lookups = [r for r in canned.requests if r.path == "/api/v5/trade/order" and r.method == "GET"]
    assert lookups[0].query == {"instId": "BTC-USDT", "clOrdId": "tk0123456789abcdef01234567"}
    assert order.client_order_id == CID
    assert found.client_order_id == CID and found.status is OrderStatus.WORKING
    assert broker.get_order("tk-ffffffffffffffffffffffff") is None  # 51603: not found


def test_bybit_order_link_id_and_history_with_cancelled():
    canned = BybitCanned()
    broker = canned_broker(canned)
    order = broker.submit(ORDER)
    [create] = [r for r in canned.requests if r.path == "/v5/order/create"]
    assert canned.json_body(create)["orderLinkId"] == CID
    assert create.headers["X-BAPI-API-KEY"] == "capture-key-0123456789"
    assert order.client_order_id == CID and order.broker_order_id == "1321003749386327552"
    assert broker.get_order(CID).status is OrderStatus.WORKING
    assert broker.get_order("tk-ffffffffffffffffffffffff") is None
    history = [r for r in canned.requests if r.path == "/v5/order/history"]
    # the lookup's "closed" list must include cancelled orders: no orderStatus=Filled
    assert history and all("orderStatus" not in r.query for r in history)
    assert {r.query["orderLinkId"] for r in history} == {"tk-ffffffffffffffffffffffff"}


def test_coinbase_raw_client_order_id_passes_the_unified_one_does_not():
    canned = CoinbaseCanned()
    broker = canned_broker(canned)
    broker.exchange.create_order(
        "BTC/USDT", "limit", "buy", "0.01", "29000", {"clientOrderId": CID}
    )
    unified = canned.json_body(canned.requests[-1])["client_order_id"]
    assert unified != CID  # ccxt dropped it and generated its own
    canned.requests.clear()
    order = broker.submit(
        OrderRequest(
            client_order_id="tk-111111111111111111111111",
            symbol="BTC/USDT",
            side="buy",
            quantity=Decimal("0.01"),
            order_type="limit",
            limit_price=Decimal("29000"),
        )
    )
    [create] = [r for r in canned.requests if r.method == "POST"]
    assert canned.json_body(create)["client_order_id"] == "tk-111111111111111111111111"
    assert order.client_order_id == "tk-111111111111111111111111"
    assert broker.get_order("tk-111111111111111111111111").broker_order_id == order.broker_order_id
    scans = [r for r in canned.requests if r.path.endswith("/historical/batch")]
    assert scans and all("client_order_id" not in r.query for r in scans)  # no such filter


@pytest.mark.parametrize("exchange", sorted(PROFILES))
def test_kernel_ids_fit_every_exchange(exchange):
    profile = PROFILES[exchange]
    for cid in (CID, "tk-ffffffffffffffffffffffff", "not-a-kernel-id-but-long-" * 3):
        venue = profile.venue_id(cid)
        assert len(venue) <= profile.max_length
        assert profile.venue_id(cid) == venue  # deterministic: a restart finds it
        if cid.startswith("tk-") and len(cid) == 27:
            assert profile.kernel_id(venue) == cid
    if profile.spelling == "alnum":
        assert profile.venue_id(CID).isalnum()


def test_ccxt_length_limits_match_the_table():
    """Where ccxt itself documents a limit, the table agrees."""
    import inspect

    assert "max 36 characters" in inspect.getsource(ccxt.bybit.create_order_request)
    assert PROFILES["bybit"].max_length == 36
