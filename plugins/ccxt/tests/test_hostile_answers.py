"""Whatever an exchange answers, a bad value is refused (``BadAnswer``), never turned
into an order, a fill, a quote or a bar: fuzzed with hypothesis over ccxt's unified
structures, plus the numbers ccxt hands back as floats."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import MAX_PRICE, MAX_QUANTITY
from tradekernel_ccxt.exchanges import PROFILES
from tradekernel_ccxt.marketdata import _bar, _quote
from tradekernel_ccxt.numbers import BadAnswer, number
from tradekernel_ccxt.orders import fill_from, order_from

NUMBERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0.1", "1e400", "-1", "NaN", "inf", "", "1,5", "0x10", "\x1b[2J1"]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)
TIMES = st.one_of(NUMBERS, st.integers(min_value=946_684_800_000, max_value=1_764_000_000_000))
"""Hostile numbers, and plausible millisecond times (so answers get past the time check)."""
TEXTS = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=30),
    st.sampled_from(["tk-0123456789abcdef01234567", "\x1b]0;pwn\x07", "a" * 500]),
)
STATUSES = st.one_of(
    st.sampled_from(["open", "closed", "canceled", "expired", "rejected", "weird", None]),
    st.text(max_size=10),
)


def checked_decimal(value, limit=MAX_QUANTITY) -> None:
    assert type(value) is Decimal and value.is_finite() and 0 <= value <= limit


@given(
    st.fixed_dictionaries(
        {
            "id": TEXTS,
            "clientOrderId": TEXTS,
            "symbol": TEXTS,
            "side": st.sampled_from(["buy", "sell", "BUY", None, 1]),
            "type": st.sampled_from(["limit", "market", None]),
            "amount": NUMBERS,
            "filled": NUMBERS,
            "price": NUMBERS,
            "average": NUMBERS,
            "status": STATUSES,
            "timestamp": TIMES,
            "lastUpdateTimestamp": NUMBERS,
        }
    )
)
@settings(max_examples=300, deadline=None)
def test_orders_are_valid_or_refused(raw):
    unknown = []
    try:
        order = order_from(raw, PROFILES["binance"], lambda cid, status: unknown.append(status))
    except BadAnswer:
        return
    checked_decimal(order.quantity)
    checked_decimal(order.filled_quantity)
    assert order.quantity > 0 and order.filled_quantity <= order.quantity
    for price in (order.limit_price, order.avg_fill_price):
        assert price is None or (price.is_finite() and 0 < price <= MAX_PRICE)
    assert order.client_order_id.isprintable() and order.symbol.isprintable()
    if raw["status"] not in ("open", "closed", "canceled", "expired", "rejected", None):
        assert not order.terminal and unknown  # an unknown status is working, and told


@given(
    st.fixed_dictionaries(
        {
            "id": TEXTS,
            "order": TEXTS,
            "symbol": st.sampled_from(["BTC/USDT", "", None, "\x1b[2J"]),
            "side": st.sampled_from(["buy", "sell", "x"]),
            "amount": NUMBERS,
            "price": NUMBERS,
            "timestamp": TIMES,
            "fee": st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {"cost": NUMBERS, "currency": st.sampled_from(["USDT", "BTC", "BNB", None])}
                ),
            ),
        }
    )
)
@settings(max_examples=300, deadline=None)
def test_fills_are_valid_or_refused(raw):
    try:
        fill = fill_from(raw, "tk-0123456789abcdef01234567", "USDT")
    except BadAnswer:
        return
    checked_decimal(fill.quantity)
    assert fill.quantity > 0 and 0 < fill.price <= MAX_PRICE
    assert fill.commission.is_finite()  # negative: a rebate
    fee = raw["fee"]
    if fill.commission < 0:
        assert fee["cost"] is not None and float(fee["cost"]) < 0
    assert fill.ts.tzinfo is not None


@given(
    st.fixed_dictionaries(
        {
            "last": NUMBERS,
            "close": NUMBERS,
            "bid": NUMBERS,
            "ask": NUMBERS,
            "baseVolume": NUMBERS,
            "timestamp": TIMES,
        }
    ),
    st.lists(st.one_of(NUMBERS, st.lists(NUMBERS, min_size=0, max_size=7)), max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_tickers_and_candles_are_valid_or_refused(ticker, row):
    from datetime import UTC, datetime

    try:
        quote = _quote("BTC/USDT", ticker, datetime.now(UTC))
    except BadAnswer:
        pass
    else:
        assert 0 < quote.last <= MAX_PRICE
        assert quote.bid is None or 0 < quote.bid <= MAX_PRICE
    try:
        bar = _bar("BTC/USDT", row)
    except BadAnswer:
        return
    assert all(0 < p <= MAX_PRICE for p in (bar.open, bar.high, bar.low, bar.close))
    checked_decimal(bar.volume)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_floats_become_their_shortest_decimal(value):
    assert number(value, "x") == Decimal(repr(value))


def test_no_binary_noise():
    assert number(0.1, "x") == Decimal("0.1") and str(number(0.1, "x")) == "0.1"
    assert number(1e-05, "x") == Decimal("0.00001")
    assert number(-0.0, "x") == 0 and not number(-0.0, "x").is_signed()
