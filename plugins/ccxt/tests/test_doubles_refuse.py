"""The doubles refuse what the exchanges refuse (so the client-id table and the
precision handling are really tested): raw requests past ccxt's own rounding."""

from __future__ import annotations

import ccxt
import pytest

from .conftest import exchange_over

BINANCE_ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.001",
    "price": "30000.01",
    "newClientOrderId": "tk-0123456789abcdef01234567",
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({}, ""),
        ({"newClientOrderId": "tk-" + "!" * 20}, "Illegal characters"),
        ({"newClientOrderId": "tk-" + "a" * 34}, "Illegal characters"),  # 37 > 36
        ({"quantity": "0.0010012"}, "LOT_SIZE"),
        ({"price": "30000.001"}, "PRICE_FILTER"),
        ({"quantity": "0.00001"}, "NOTIONAL"),  # 0.3 USDT < 5
    ],
)
def test_binance_double_refuses_what_binance_refuses(binance, change, why):
    exchange = exchange_over(binance)
    if not why:
        assert exchange.privatePostOrder(BINANCE_ORDER | change)["status"] == "NEW"
        return
    with pytest.raises(ccxt.BaseError, match=why):
        exchange.privatePostOrder(BINANCE_ORDER | change)
    assert binance.orders == {}


KRAKEN_ORDER = {
    "pair": "XBTUSDT",
    "type": "buy",
    "ordertype": "limit",
    "volume": "0.001",
    "price": "30000.1",
    "cl_ord_id": "746b0000-0123-4567-89ab-cdef01234567",
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({}, ""),
        ({"cl_ord_id": "short-free-text-18"}, ""),
        ({"cl_ord_id": "tk-0123456789abcdef01234567"}, "cl_ord_id"),  # 27 plain characters
        ({"price": "30000.05"}, "up to 1 decimals"),
        ({"volume": "0.000100001"}, "volume"),
    ],
)
def test_kraken_double_refuses_what_kraken_refuses(kraken, change, why):
    exchange = exchange_over(kraken)
    if not why:
        assert exchange.privatePostAddOrder(KRAKEN_ORDER | change)["result"]["txid"]
        return
    with pytest.raises(ccxt.BaseError, match=why):
        exchange.privatePostAddOrder(KRAKEN_ORDER | change)
    assert kraken.orders == {}
