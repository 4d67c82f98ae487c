"""Credentials never in a repr, a negative balance read as a short position (not a
crash), order listings bounded."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.api import OrderRequest
from tradekernel_ccxt.broker import MAX_ORDERS
from tradekernel_ccxt.client import Credentials

from .conftest import broker_over


def test_credentials_repr_has_no_secret():
    credentials = Credentials("key-abc123", "secret-def456", "pass-ghi789")
    shown = repr(credentials) + str(credentials)
    assert all(v not in shown for v in credentials.values())


def test_a_negative_base_balance_is_a_short_position(binance):
    binance.balances["BTC"] = Decimal("-0.5")  # a margin debt
    broker = broker_over(binance)
    [position] = broker.positions()
    assert position.quantity == Decimal("-0.5")
    account = broker.account()
    assert account.equity == account.cash - Decimal("0.5") * Decimal(30000)


def test_order_listings_are_bounded(binance):
    broker = broker_over(binance)
    for n in range(3):
        broker.submit(
            OrderRequest(
                client_order_id=f"tk-{n:024x}", symbol="BTC/USDT", side="buy", quantity="0.01"
            )
        )
    assert len(broker.orders()) == 3
    listed = [r for r in binance.requests if r.path in ("/api/v3/allOrders", "/api/v3/openOrders")]
    assert listed[-1].query["limit"] == str(MAX_ORDERS)
