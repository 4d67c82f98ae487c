from __future__ import annotations

from decimal import Decimal as D

import pytest
from tradekernel.api import BrokerRejected, OrderRequest, OrderStatus


def req(cid: str, side: str, qty, symbol: str = "AAA", **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, quantity=qty, **kw)


def opens(*prices) -> list[tuple]:
    return [(p, p, p, p, 1_000_000) for p in prices]


def test_position_avg_price_and_realized_pnl_by_hand(kit):
    feed = kit.ScriptedFeed({"AAA": opens("100", "100", "110", "120", "90")})
    broker = kit.broker(feed, commission=0.01)
    feed.advance()
    broker.submit(req("b1", "buy", 10))  # fills day 1 @ 100, commission 10
    feed.advance()
    broker.submit(req("b2", "buy", 10))  # fills day 2 @ 110, commission 11
    feed.advance()
    (pos,) = broker.positions()
    assert (pos.quantity, pos.avg_price) == (D(20), D(105))
    broker.submit(req("s1", "sell", 5))  # fills day 3 @ 120: +75, commission 6
    feed.advance()
    account = broker.account()
    assert account.realized_pnl == D(75) - D(10) - D(11) - D(6)
    (pos,) = broker.positions()
    assert (pos.quantity, pos.avg_price, pos.market_price) == (D(15), D(105), D(120))
    # equity = initial cash + realized + unrealized, always
    assert account.equity == D(100000) + account.realized_pnl + pos.unrealized_pnl
    broker.submit(req("s2", "sell", 15))  # fills day 4 @ 90: 15 x (90 - 105) = -225
    feed.advance()
    account = broker.account()
    assert broker.positions() == []
    assert account.realized_pnl == D(75) - D(225) - D("40.5")
    assert account.cash == D(100000) - 1000 - 1100 + 600 + 1350 - D("40.5")
    assert account.equity == account.cash


def test_short_positions_when_allowed(kit):
    feed = kit.ScriptedFeed({"AAA": opens("50", "50", "40", "45", "45")})
    broker = kit.broker(feed, allow_short=True)
    feed.advance()
    broker.submit(req("s", "sell", 10))  # day 1 @ 50
    feed.advance()
    broker.submit(req("c1", "buy", 4))  # day 2 @ 40: (50 - 40) x 4 = 40
    feed.advance()
    (pos,) = broker.positions()
    assert (pos.quantity, pos.avg_price) == (D(-6), D(50))
    broker.submit(req("c2", "buy", 10))  # day 3 @ 45: closes 6 (+30), opens 4 long at 45
    feed.advance()
    (pos,) = broker.positions()
    assert (pos.quantity, pos.avg_price) == (D(4), D(45))
    assert broker.account().realized_pnl == D(70)
    assert broker.account().cash == D(100000) + 500 - 160 - 450


@pytest.mark.parametrize("qty", ["0", "-5", "NaN", "Infinity"])
def test_bad_quantity_is_rejected(kit, qty):
    feed = kit.ScriptedFeed({"AAA": opens("10", "10")})
    broker = kit.broker(feed)
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("q", "buy", D(qty)))
    assert info.value.code == "bad_quantity"


def test_unknown_symbol_bad_limit_and_no_price(kit):
    feed = kit.ScriptedFeed({"AAA": opens("10", "10")})
    broker = kit.broker(feed)
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("early", "buy", 1))  # no bar yet: a market buy cannot be priced
    assert info.value.code == "no_price"
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("z", "buy", 1, symbol="ZZZ"))
    assert info.value.code == "unknown_symbol"
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("l", "buy", 1, order_type="limit"))
    assert info.value.code == "bad_limit_price"


def test_insufficient_cash_counts_working_buys(kit):
    feed = kit.ScriptedFeed({"AAA": opens("100", "100", "100")})
    broker = kit.broker(feed, cash=1000)
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("big", "buy", 11))
    assert info.value.code == "insufficient_cash"
    assert "needs about 1100.00, 1000.00 is available" in info.value.reason
    broker.submit(req("ok", "buy", 10))  # exactly the cash
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("more", "buy", 1))  # the working buy holds the cash
    assert info.value.code == "insufficient_cash"
    broker.cancel("ok")
    broker.submit(
        req("limit", "buy", 20, order_type="limit", limit_price="50")
    )  # priced at its limit


def test_insufficient_position_counts_working_sells(kit):
    feed = kit.ScriptedFeed({"AAA": opens("10", "10", "10")})
    broker = kit.broker(feed)
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("naked", "sell", 1))
    assert info.value.code == "insufficient_position"
    broker.submit(req("b", "buy", 10))
    feed.advance()
    broker.submit(req("s1", "sell", 6))
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("s2", "sell", 5))
    assert info.value.code == "insufficient_position"
    broker.submit(req("s3", "sell", 4))


def test_rejected_orders_are_recorded_and_a_resubmit_rejects_again(kit):
    feed = kit.ScriptedFeed({"AAA": opens("10", "10")})
    broker = kit.broker(feed)
    feed.advance()
    with pytest.raises(BrokerRejected):
        broker.submit(req("r", "sell", 1))
    order = broker.get_order("r")
    assert order.status is OrderStatus.REJECTED
    assert "short selling is off" in order.reason
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("r", "buy", 1))  # same id: the recorded answer, no new order
    assert info.value.code == "insufficient_position"
    assert [o.client_order_id for o in broker.orders()] == ["r"]
    assert broker.orders(open_only=True) == []


def test_submit_is_idempotent_on_client_order_id(kit):
    feed = kit.ScriptedFeed({"AAA": opens("10", "11", "12")})
    broker = kit.broker(feed)
    feed.advance()
    first = broker.submit(req("same", "buy", 10))
    again = broker.submit(req("same", "buy", 99))
    assert again == first
    feed.advance()
    assert broker.submit(req("same", "buy", 10)).status is OrderStatus.FILLED
    feed.advance()
    assert len(broker.orders()) == 1
    assert len(broker.fills()) == 1
    assert broker.positions()[0].quantity == 10


def test_the_account_survives_a_restart(kit):
    feed = kit.ScriptedFeed({"AAA": opens("100", "100", "95", "90", "85")})
    broker = kit.broker(feed, commission=0.001)
    feed.advance()
    broker.submit(req("b", "buy", 10))
    feed.advance()
    broker.submit(req("l", "buy", 5, order_type="limit", limit_price="91"))
    before = (broker.account(), broker.positions(), broker.orders(), broker.fills())
    broker.close()

    again = kit.broker(feed, cash=5, commission=0.001)  # an existing account keeps its cash
    assert (again.account(), again.positions(), again.orders(), again.fills()) == before
    feed.advance()  # opens 95: the limit keeps working
    assert again.get_order("l").status is OrderStatus.WORKING
    feed.advance()  # opens 90: fills
    assert again.fills("l")[0].price == D(90)
    assert again.fills("l")[0].fill_id == "l-1"
    assert again.positions()[0].quantity == 15
    assert again.positions()[0].avg_price == (10 * D(100) + 5 * D(90)) / 15
    assert again.submit(req("b", "buy", 10)).status is OrderStatus.FILLED  # still idempotent


def test_two_brokers_on_one_database_never_double_fill(kit):
    feed = kit.ScriptedFeed({"AAA": opens("10", "11", "12")})
    one = kit.broker(feed)
    two = kit.broker(feed)
    feed.advance()
    one.submit(req("x", "buy", 10))
    assert two.get_order("x").status is OrderStatus.WORKING  # sees the other's write
    assert two.submit(req("x", "buy", 10)) == one.get_order("x")
    feed.advance()
    assert len(two.fills()) == 1
    assert len(one.fills()) == 1
    assert one.account() == two.account()
    two.submit(req("y", "sell", 10))
    feed.advance()
    assert one.get_order("y").status is OrderStatus.FILLED
    assert len(one.fills()) == len(two.fills()) == 2
    assert one.account().cash == D(100000) - 110 + 120
    rows = one.store.conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert rows == 2
