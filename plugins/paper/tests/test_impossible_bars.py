"""The paper broker never fills on an impossible bar: outside the bar's [Low, High], at a
non-positive price, or at a price that overflows Decimal arithmetic."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import BrokerRejected, OrderRequest, OrderStatus
from tradekernel_paper import PaperBroker, PaperConfig

GOOD = ("110", "111", "109", "110", 1_000_000)
NEXT = ("112", "113", "111", "112", 1_000_000)


def buy(cid: str, qty, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="AAA", side="buy", quantity=qty, **kw)


def sell(cid: str, qty, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="AAA", side="sell", quantity=qty, **kw)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(("0", "0", "0", "0", 0), id="zeros"),
        pytest.param(("1000000", "111", "109", "110", 1000), id="open-above-high"),
        pytest.param(("1E+400", "1E+400", "109", "110", 1000), id="open-1e400"),
        pytest.param(("0.01", "111", "109", "110", 1000), id="open-below-low"),
        pytest.param(("110", "111", "109", "99999", 1000), id="close-above-high"),
        pytest.param(("-5", "111", "-9", "110", 1000), id="negative"),
        pytest.param(("NaN", "111", "109", "110", 1000), id="nan"),
    ],
)
def test_a_market_buy_skips_an_impossible_bar_and_fills_on_the_next_good_one(kit, bad):
    feed = kit.ScriptedFeed({"AAA": [GOOD, bad, NEXT]})
    broker = kit.broker(feed)
    feed.advance()
    broker.submit(buy("b1", 10))
    feed.advance()  # the impossible bar
    assert broker.get_order("b1").status is OrderStatus.WORKING
    assert broker.fills() == []
    assert broker.account().cash == D(100000)
    feed.advance()
    order = broker.get_order("b1")
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == D(112)
    assert broker.account().cash == D(100000) - 10 * D(112)


def test_a_sell_after_a_buy_never_fills_on_a_bar_of_zeros(kit):
    feed = kit.ScriptedFeed({"AAA": [GOOD, GOOD, ("0", "0", "0", "0", 0), NEXT]})
    broker = kit.broker(feed)
    feed.advance()
    broker.submit(buy("b1", 10))
    feed.advance()
    broker.submit(sell("s1", 10))
    feed.advance()  # zeros
    assert broker.get_order("s1").status is OrderStatus.WORKING
    feed.advance()
    (fill,) = broker.fills("s1")
    assert fill.price == D(112)


def test_slippage_never_pushes_a_fill_outside_the_bar(kit):
    feed = kit.ScriptedFeed({"AAA": [GOOD, ("112", "112.5", "111.5", "112", 1_000_000)]})
    broker = kit.broker(feed, slippage_bps=100)  # 1 %: 113.12 would be above High
    feed.advance()
    broker.submit(buy("b1", 1))
    feed.advance()
    assert broker.get_order("b1").avg_fill_price == D("112.5")


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (buy("q", "1E+400"), "bad_quantity"),
        (sell("q", "1E+400"), "bad_quantity"),
        (buy("q", 1, order_type="limit", limit_price="1E+400"), "bad_limit_price"),
    ],
)
def test_overflowing_orders_are_clear_rejections(kit, request_, code):
    feed = kit.ScriptedFeed({"AAA": [GOOD, NEXT]})
    broker = kit.broker(feed, allow_short=True)
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(request_)
    assert info.value.code == code
    feed.advance()
    assert broker.fills() == [] and broker.account().cash == D(100000)


_price = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0", "-1", "1E+400", "1E-400", "110", "109", "111"]).map(D),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(o=_price, h=_price, lo=_price, c=_price)
def test_fuzzed_bars_never_fill_outside_low_high(kit, o, h, lo, c):
    feed = kit.ScriptedFeed({"AAA": [GOOD, (o, h, lo, c, 1000)]})
    db = kit.db.parent / f"fuzz-{uuid.uuid4().hex}.db"
    broker = PaperBroker(PaperConfig(), lambda: feed, db)
    try:
        feed.advance()
        broker.submit(buy("b1", 1))
        broker.submit(buy("b2", 1, order_type="limit", limit_price="110"))
        feed.advance()
        for fill in broker.fills():
            assert fill.price > 0 and lo <= fill.price <= h
        broker.account()
    finally:
        broker.close()


SPIKE = ("170", "180", "169", "175", 1000)


@pytest.mark.parametrize(("max_move", "price"), [(0.5, D(112)), (0, D(170))])
def test_a_price_outlier_is_not_filled_unless_the_band_is_off(kit, tmp_path, max_move, price):
    feed = kit.ScriptedFeed({"AAA": [GOOD, GOOD, SPIKE, NEXT]})
    broker = PaperBroker(PaperConfig(), lambda: feed, tmp_path / "band.db", max_price_move=max_move)
    try:
        feed.advance()
        feed.advance()
        broker.submit(buy("b1", 1))
        feed.advance()  # the spike: +55 % of the previous close
        feed.advance()  # back near the previous close
        assert broker.get_order("b1").avg_fill_price == price
    finally:
        broker.close()


def test_a_lasting_move_costs_one_bar(kit, tmp_path):
    split = [("55", "56", "54", "55", 1000), ("56", "57", "55", "56", 1000)]
    feed = kit.ScriptedFeed({"AAA": [GOOD, GOOD, *split]})
    broker = PaperBroker(PaperConfig(), lambda: feed, tmp_path / "split.db")
    try:
        feed.advance()
        feed.advance()
        broker.submit(buy("b1", 1))
        feed.advance()  # -50 %: quarantined
        assert broker.get_order("b1").status is OrderStatus.WORKING
        feed.advance()  # agrees with the bar before it
        assert broker.get_order("b1").avg_fill_price == D(56)
    finally:
        broker.close()


@pytest.mark.parametrize(
    "bad", [("0", "0", "0", "0", 0), ("1E+400", "1E+400", "1E+400", "1E+400", 1)]
)
def test_positions_are_never_valued_at_an_impossible_quote(kit, bad):
    feed = kit.ScriptedFeed({"AAA": [GOOD, GOOD, bad]})
    broker = kit.broker(feed)
    feed.advance()
    broker.submit(buy("b1", 10))
    feed.advance()
    feed.advance()  # the impossible bar is now the latest quote
    (position,) = broker.positions()
    assert position.market_price is None  # valued at its average price, 110
    assert broker.account().equity == D(100000)


def test_a_market_buy_is_not_priced_from_an_impossible_quote(kit):
    feed = kit.ScriptedFeed({"AAA": [("0", "0", "0", "0", 0), GOOD]})
    broker = kit.broker(feed)
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(buy("b1", 10_000))  # priced at 0 it would pass the cash check
    assert info.value.code == "no_price"
