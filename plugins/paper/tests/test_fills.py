from __future__ import annotations

from decimal import Decimal as D

from tradekernel.api import Broker, OrderRequest, OrderStatus


def buy(cid: str, qty, **kw) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, symbol=kw.pop("symbol", "AAA"), side="buy", quantity=qty, **kw
    )


def sell(cid: str, qty, **kw) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, symbol=kw.pop("symbol", "AAA"), side="sell", quantity=qty, **kw
    )


def limit(req_fn, cid, qty, price, **kw) -> OrderRequest:
    return req_fn(cid, qty, order_type="limit", limit_price=price, **kw)


BARS = [
    ("100", "101", "99", "100.5", 1_000_000),
    ("102", "103", "101", "102.5", 1_000_000),
    ("104", "105", "103", "104.5", 1_000_000),
]


def test_market_order_fills_at_the_next_bar_open(kit):
    feed = kit.ScriptedFeed({"AAA": BARS})
    broker = kit.broker(feed)
    assert isinstance(broker, Broker) and broker.live_capable is False
    feed.advance()
    order = broker.submit(buy("c1", 10))
    assert order.status is OrderStatus.WORKING
    assert order.broker_order_id == "paper-c1"
    assert broker.get_order("c1").status is OrderStatus.WORKING  # not on the current bar
    assert broker.fills() == []
    feed.advance()
    order = broker.get_order("c1")
    assert order.status is OrderStatus.FILLED
    assert (order.filled_quantity, order.avg_fill_price) == (D(10), D(102))
    (fill,) = broker.fills()
    assert (fill.fill_id, fill.price, fill.quantity, fill.ts) == ("c1-1", D(102), D(10), kit.day(1))
    assert fill.commission == 0 and fill.broker_order_id == "paper-c1"
    account = broker.account()
    assert account.cash == D(98980)
    assert account.equity == D(98980) + 10 * D("102.5")
    (position,) = broker.positions()
    assert (position.symbol, position.quantity, position.avg_price) == ("AAA", D(10), D(102))
    assert position.market_price == D("102.5")
    feed.advance()
    assert len(broker.fills()) == 1  # filled once


def test_slippage_moves_market_fills_against_the_order(kit):
    feed = kit.ScriptedFeed({"AAA": BARS})
    broker = kit.broker(feed, slippage_bps=10)
    feed.advance()
    broker.submit(buy("b", 10))
    feed.advance()
    assert broker.fills("b")[0].price == D("102.102")  # 102 x 1.001
    broker.submit(sell("s", 10))
    feed.advance()
    assert broker.fills("s")[0].price == D("103.896")  # 104 x 0.999
    assert broker.account().realized_pnl == 10 * (D("103.896") - D("102.102"))


def test_commission_is_a_fraction_of_fill_notional(kit):
    feed = kit.ScriptedFeed({"AAA": BARS})
    broker = kit.broker(feed, commission=0.001)
    feed.advance()
    broker.submit(buy("c", 10))
    feed.advance()
    (fill,) = broker.fills()
    assert fill.commission == D("1.020")
    account = broker.account()
    assert account.cash == D(100000) - D(1020) - D("1.02")
    assert account.realized_pnl == D("-1.02")


def test_limit_buy_fills_at_the_limit_or_a_better_open(kit):
    feed = kit.ScriptedFeed(
        {
            "AAA": [
                ("100", "101", "99", "100", 1000),
                ("102", "103", "101.5", "102", 1000),  # low above 101: no fill
                ("101.8", "102", "100", "101", 1000),  # trades through 101: at the limit
            ],
            "BBB": [
                ("50", "50", "50", "50", 1000),
                ("49", "49.5", "48", "49", 1000),  # opens below the 50 limit: at the open
                ("50", "50", "50", "50", 1000),
            ],
        }
    )
    broker = kit.broker(feed)
    feed.advance()
    broker.submit(limit(buy, "a", 10, "101"))
    broker.submit(limit(buy, "b", 10, "50", symbol="BBB"))
    feed.advance()
    assert broker.get_order("a").status is OrderStatus.WORKING
    assert broker.fills("b")[0].price == D(49)
    feed.advance()
    (fill,) = broker.fills("a")
    assert (fill.price, fill.ts) == (D(101), kit.day(2))


def test_limit_sell_fills_at_the_limit_or_a_better_open(kit):
    feed = kit.ScriptedFeed(
        {
            "AAA": [
                ("100", "100", "100", "100", 1000),
                ("100", "100", "100", "100", 1000),  # buy fills here
                ("108", "109", "107", "108", 1000),  # high below 110: no fill
                ("108", "111", "107", "110", 1000),  # trades through: at 110
                ("112", "113", "111", "112", 1000),  # opens above 110: at 112
            ]
        }
    )
    broker = kit.broker(feed)
    feed.advance()
    broker.submit(buy("b", 20))
    feed.advance()
    broker.submit(limit(sell, "s1", 10, "110"))
    feed.advance()
    assert broker.fills("s1") == []
    broker.submit(limit(sell, "s2", 10, "110"))  # submitted on day 2: sees day 3 on
    feed.advance()
    assert broker.fills("s1")[0].price == D(110)
    assert broker.fills("s2")[0].price == D(110)
    assert broker.account().realized_pnl == 20 * D(10)


def test_limit_fill_has_no_slippage(kit):
    feed = kit.ScriptedFeed(
        {"AAA": [("100", "100", "100", "100", 1), ("99", "101", "98", "100", 1)]}
    )
    broker = kit.broker(feed, slippage_bps=50)
    feed.advance()
    broker.submit(limit(buy, "l", 1, "100"))
    feed.advance()
    assert broker.fills("l")[0].price == D(99)


def test_partial_fills_over_several_bars(kit):
    feed = kit.ScriptedFeed(
        {
            "AAA": [
                ("10", "10", "10", "10", 1000),
                ("11", "11", "11", "11", 100),  # 10% of 100 = 10
                ("12", "12", "12", "12", 55),  # 5.5 → 5 (whole-share order)
                ("13", "13", "13", "13", 1000),  # the last 5
            ]
        }
    )
    broker = kit.broker(feed, max_volume_share=0.1)
    feed.advance()
    broker.submit(buy("p", 20))
    feed.advance()
    order = broker.get_order("p")
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIAL_FILL, D(10))
    assert order.progress == D("0.5")
    assert [o.client_order_id for o in broker.orders(open_only=True)] == ["p"]
    feed.advance()
    assert broker.get_order("p").filled_quantity == D(15)
    feed.advance()
    order = broker.get_order("p")
    assert order.status is OrderStatus.FILLED
    assert [(f.fill_id, f.quantity, f.price) for f in broker.fills("p")] == [
        ("p-1", D(10), D(11)),
        ("p-2", D(5), D(12)),
        ("p-3", D(5), D(13)),
    ]
    assert order.avg_fill_price == (10 * D(11) + 5 * D(12) + 5 * D(13)) / 20
    assert broker.orders(open_only=True) == []


def test_orders_on_one_bar_share_its_volume(kit):
    feed = kit.ScriptedFeed({"AAA": [("10", "10", "10", "10", 100), ("10", "10", "10", "10", 100)]})
    broker = kit.broker(feed, max_volume_share=0.1)
    feed.advance()
    broker.submit(buy("first", 8))
    broker.submit(buy("second", 8))
    feed.advance()
    assert broker.get_order("first").filled_quantity == 8
    assert broker.get_order("second").filled_quantity == 2


def test_fills_catch_up_on_bars_the_broker_did_not_see(kit):
    rows = [
        ("10", "10", "10", "10", 100),
        ("11", "11", "11", "11", 100),
        ("12", "12", "12", "12", 100),
    ]
    feed = kit.ScriptedFeed({"AAA": [*rows, ("13", "13", "13", "13", 100)]})
    broker = kit.broker(feed, max_volume_share=0.1)
    feed.advance()
    broker.submit(buy("m", 25))
    feed.advance()
    feed.advance()
    feed.advance()  # three bars pass before anyone asks
    assert [(f.price, f.quantity, f.ts) for f in broker.fills()] == [
        (D(11), D(10), kit.day(1)),
        (D(12), D(10), kit.day(2)),
        (D(13), D(5), kit.day(3)),
    ]


def test_an_order_before_the_first_bar_fills_on_the_first_bar(kit):
    feed = kit.ScriptedFeed({"AAA": BARS})
    broker = kit.broker(feed, allow_short=True)
    broker.submit(sell("early", 1))
    feed.advance()
    assert broker.fills("early")[0].price == D(100)


def test_ioc_cancels_what_the_next_bar_does_not_fill(kit):
    feed = kit.ScriptedFeed({"AAA": BARS})
    broker = kit.broker(feed)
    feed.advance()
    broker.submit(limit(buy, "ioc", 10, "50", time_in_force="ioc"))
    broker.submit(limit(buy, "gtc", 10, "50", time_in_force="gtc"))
    feed.advance()
    assert broker.get_order("ioc").status is OrderStatus.CANCELLED
    assert broker.get_order("gtc").status is OrderStatus.WORKING


def test_cancel(kit):
    feed = kit.ScriptedFeed({"AAA": [*BARS, ("90", "90", "90", "90", 1000)]})
    broker = kit.broker(feed)
    feed.advance()
    broker.submit(limit(buy, "l", 10, "95"))
    broker.submit(buy("m", 1))
    feed.advance()
    cancelled = broker.cancel("l")
    assert cancelled.status is OrderStatus.CANCELLED
    assert broker.cancel("l") == cancelled  # terminal: unchanged
    assert broker.cancel("m").status is OrderStatus.FILLED
    assert broker.cancel("nope") is None
    feed.advance()
    feed.advance()  # opens at 90, below the cancelled limit
    assert broker.fills("l") == []
    assert broker.account().cash == D(100000) - D(102)


def test_a_reset_account_never_reissues_a_broker_order_id(kit):
    """Ids come from the client order id, not from a counter that restarts with the file."""
    feed = kit.ScriptedFeed({"AAA": BARS})
    broker = kit.broker(feed)
    feed.advance()
    first = [broker.submit(buy(f"tk-first-{i}", 1)).broker_order_id for i in range(2)]
    broker.close()
    kit.made.remove(broker)
    for suffix in ("", "-wal", "-shm"):
        path = kit.db.with_name(kit.db.name + suffix)
        if path.exists():
            path.write_bytes(b"")  # the account file truncated to 0 bytes
    reset = kit.broker(feed)
    second = [reset.submit(buy(f"tk-second-{i}", 1)).broker_order_id for i in range(2)]
    assert len(set(first + second)) == 4
    assert reset.get_order("tk-first-0") is None  # the kernel's reconcile notices this


def test_submit_refuses_what_its_own_constraints_forbid(kit):
    """Whoever sends the order (the kernel fits intents first; a script or plugin need
    not): a limit off the tick and an order below the minimum notional are refused."""
    import pytest
    from tradekernel.api import BrokerRejected

    feed = kit.ScriptedFeed({"AAA": BARS})
    broker = kit.broker(feed, min_notional=D(500), price_tick=D("0.05"))
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(limit(buy, "tick", 10, "100.03"))
    assert info.value.code == "bad_limit_price" and "multiple of 0.05" in str(info.value)
    with pytest.raises(BrokerRejected) as info:
        broker.submit(buy("small", 4))  # 4 x 100.5 = 402 < 500
    assert info.value.code == "below_min_notional"
    assert broker.submit(buy("big", 5)).status is OrderStatus.WORKING  # 502.5
    feed.advance()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(sell("part", 1))  # a part of the position, below the minimum
    assert info.value.code == "below_min_notional"
    assert broker.submit(sell("close", 5)).status is OrderStatus.WORKING  # closes it
