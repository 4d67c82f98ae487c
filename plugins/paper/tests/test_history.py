"""Closed orders beyond ``history_cache`` live only in SQLite: memory stays flat in the
number of trades, and lookups, idempotency and fill ids behave as before."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from tradekernel.api import BrokerRejected, OrderRequest, OrderStatus


def req(cid: str, side: str, qty, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol="AAA", side=side, quantity=qty, **kw)


def test_an_evicted_closed_order_is_read_from_disk_and_stays_idempotent(kit):
    feed = kit.ScriptedFeed({"AAA": kit.flat("10", 8)})
    broker = kit.broker(feed, history_cache=1)
    feed.advance()
    with pytest.raises(BrokerRejected):
        broker.submit(req("r", "sell", 1))  # rejected: nothing held
    broker.submit(req("a", "buy", 5))
    feed.advance()
    a_order, a_fills = broker.get_order("a"), broker.fills("a")
    assert a_order.status is OrderStatus.FILLED and [f.fill_id for f in a_fills] == ["a-1"]
    broker.submit(req("b", "buy", 1))
    feed.advance()
    assert broker.get_order("b").status is OrderStatus.FILLED
    assert set(broker._ledger.recent) == {"b"}  # "a" and "r" are on disk only
    assert set(broker._ledger.fills_by_order) == {"b"}

    assert broker.get_order("a") == a_order
    assert broker.fills("a") == a_fills
    assert broker.cancel("a") == a_order  # terminal: unchanged
    assert broker.submit(req("a", "buy", 99)) == a_order  # no second order
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req("r", "buy", 1))  # the recorded rejection, not a new order
    assert info.value.code == "insufficient_position"
    feed.advance()
    assert [o.client_order_id for o in broker.orders()] == ["r", "a", "b"]
    assert [f.fill_id for f in broker.fills()] == ["a-1", "b-1"]
    assert broker.positions()[0].quantity == 6
    assert broker.get_order("nope") is None and broker.fills("nope") == []


def test_fill_ids_and_sequence_stay_unique_across_restarts(kit):
    feed = kit.ScriptedFeed({"AAA": kit.flat("10", 6, volume=10)})
    broker = kit.broker(feed, history_cache=0, max_volume_share=0.5)
    feed.advance()
    broker.submit(req("x", "buy", 8))
    feed.advance()  # 5 of 8
    assert [f.fill_id for f in broker.fills("x")] == ["x-1"]
    broker.close()

    again = kit.broker(feed, history_cache=0, max_volume_share=0.5)
    feed.advance()  # the other 3
    assert again.get_order("x").status is OrderStatus.FILLED
    again.submit(req("y", "buy", 2))
    feed.advance()
    again.close()

    third = kit.broker(feed, history_cache=0, max_volume_share=0.5)
    third.submit(req("z", "sell", 1))
    feed.advance()
    assert [f.fill_id for f in third.fills()] == ["x-1", "x-2", "y-1", "z-1"]
    rows = third.store.conn.execute("SELECT fill_id, seq FROM fills ORDER BY seq").fetchall()
    assert rows == [("x-1", 1), ("x-2", 2), ("y-1", 3), ("z-1", 4)]
    assert [f.quantity for f in third.fills("x")] == [D(5), D(3)]


def test_memory_stays_flat_in_the_number_of_orders(kit):
    steps = 40
    feed = kit.ScriptedFeed({"AAA": kit.flat("10", steps + 2)})
    broker = kit.broker(feed, history_cache=3)
    watcher = kit.broker(feed, history_cache=3)  # another process, reloading on each change
    feed.advance()
    sizes = []
    for i in range(steps):
        broker.submit(req(f"o{i}", "buy" if i % 2 == 0 else "sell", 1))
        feed.advance()
        broker.account(), watcher.account(), watcher.orders(open_only=True)
        for b in (broker, watcher):
            ledger = b._ledger
            sizes.append((len(ledger.open_orders), len(ledger.recent), len(ledger.fills_by_order)))
    assert max(s[0] for s in sizes) <= 1
    assert max(s[1] for s in sizes) == 3  # the cache fills up, and no further
    assert max(s[2] for s in sizes) <= 4
    assert len(broker.orders()) == len(watcher.orders()) == steps
    fill_ids = [f.fill_id for f in watcher.fills()]
    assert fill_ids == [f"o{i}-1" for i in range(steps)]
    assert watcher.get_order("o0").status is OrderStatus.FILLED
    assert broker.describe()["orders"] == steps and broker.describe()["cached_orders"] == 3


def test_a_reload_keeps_the_cache_of_closed_orders(kit):
    feed = kit.ScriptedFeed({"AAA": kit.flat("10", 4)})
    one = kit.broker(feed)
    two = kit.broker(feed)
    feed.advance()
    two.submit(req("c", "buy", 1, order_type="limit", limit_price="5"))
    two.cancel("c")
    assert "c" in two._ledger.recent
    one.submit(req("d", "buy", 1))  # another process commits: two reloads
    feed.advance()
    assert one.get_order("d").status is OrderStatus.FILLED  # one fills it
    assert two.get_order("d").status is OrderStatus.FILLED  # two reloads, reads it from disk
    assert "c" in two._ledger.recent and "d" not in two._ledger.recent
    assert two.get_order("c").status is OrderStatus.CANCELLED


def test_history_cache_must_not_be_negative(kit):
    feed = kit.ScriptedFeed({"AAA": kit.flat("10", 1)})
    with pytest.raises(ValueError, match="history_cache"):
        kit.broker(feed, history_cache=-1)


def test_reads_look_for_other_writers_once_per_cycle_and_writes_always(kit):
    from tradekernel.testing import in_cycle

    feed = kit.ScriptedFeed({"AAA": kit.flat("10", 4)})
    one = kit.broker(feed)
    two = kit.broker(feed)  # another process
    feed.advance()
    with in_cycle("cyc_1"):
        cash = two.account().cash
        one.submit(req("e", "buy", 1))  # commits in the other process, mid-cycle
        assert two.account().cash == cash  # the cycle reads the account of its first look
        assert two.orders(open_only=True) == []
        two.submit(req("f", "buy", 1))  # a write looks again
        assert [o.client_order_id for o in two.orders(open_only=True)] == ["e", "f"]
    one.submit(req("g", "buy", 1))
    with in_cycle("cyc_2"):  # the next cycle sees it
        assert [o.client_order_id for o in two.orders(open_only=True)] == ["e", "f", "g"]
    one.cancel("g")
    assert two.get_order("g").status is OrderStatus.CANCELLED  # outside a cycle: every call
