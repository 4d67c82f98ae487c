"""Fills: ids unique across symbols, instances and brokers; every trade checked against
its order; an old order's trades found past the exchange's default window; rebates and
fees in the base asset booked as the account holds them; undated trades refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradekernel.api import OrderRequest, Store, validate_event
from tradekernel_ccxt.fills import MAX_PAGES, FillsIncomplete
from tradekernel_ccxt.orders import fill_from

from .conftest import broker_over, make_double

CID = "tk-0123456789abcdef01234567"


def request(cid: str = CID, **kwargs) -> OrderRequest:
    values = {"symbol": "BTC/USDT", "side": "buy", "quantity": Decimal("0.01")}
    values.update(kwargs)
    return OrderRequest(client_order_id=cid, **values)


def mismatches(events: list) -> list[dict]:
    found = [f for _s, kind, f in events if kind == "fill_mismatch"]
    for fields in found:
        validate_event_fields(fields)
    return found


def validate_event_fields(fields: dict) -> None:
    event = {
        "schema": "event.v1",
        "ts": "2025-01-01T00:00:00+00:00",
        "run_id": "",
        "cycle_id": "",
        "stage": "broker",
        "kind": "fill_mismatch",
        "severity": "warning",
        "fields": fields,
    }
    assert validate_event(event) == [], event


def test_fill_ids_are_namespaced_and_two_instances_do_not_collide(tmp_path):
    """Binance numbers trades per symbol, each instance has its own numbering: the raw
    trade id is not unique in the kernel's one store (fills keyed by fill_id)."""
    first, second = make_double("binance"), make_double("binance")
    fills = []
    for double, name in ((first, "binance-a"), (second, "binance-b")):
        broker = broker_over(double, name=name)
        broker.submit(request())
        double.fill(CID)
        fills += broker.fills(CID)
        again = broker_over(double, name=name).fills(CID)  # a restart: the same ids
        assert [f.fill_id for f in again] == [f.fill_id for f in broker.fills(CID)]
    trade_ids = [f.fill_id.rsplit(":", 1)[1] for f in fills]
    assert trade_ids[0] == trade_ids[1]  # the same raw trade id on both
    assert [f.fill_id for f in fills] == [
        f"binance-a:BTC/USDT:{trade_ids[0]}",
        f"binance-b:BTC/USDT:{trade_ids[1]}",
    ]
    store = Store.open(tmp_path)
    assert [store.record_fill(f) for f in fills] == [True, True]


def test_the_symbol_is_part_of_the_fill_id():
    raw = {
        "id": "7",
        "order": "1",
        "side": "buy",
        "amount": 1.0,
        "price": 100.0,
        "timestamp": 1_700_000_000_000,
    }
    btc = fill_from(raw | {"symbol": "BTC/USDT"}, CID, "USDT", "bn")
    eth = fill_from(raw | {"symbol": "ETH/USDT"}, CID, "USDT", "bn")
    assert {btc.fill_id, eth.fill_id} == {"bn:BTC/USDT:7", "bn:ETH/USDT:7"}


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_trades_that_disagree_with_their_order_are_not_fills(exchange):
    double = make_double(exchange)
    events: list = []
    broker = broker_over(double, events=events)
    broker.submit(request(order_type="limit", limit_price=Decimal("29000")))
    double.fill(CID, Decimal("0.004"))
    order = double._order_of(CID)
    if exchange == "binance":
        bad = [{"isBuyer": False}, {"price": "29500.00000000"}, {"symbol": "ETHUSDT"}]
    else:
        bad = [{"type": "sell"}, {"price": "29500.0"}, {"pair": "ETHUSDT"}]
    for wire in bad:
        double.execute(order, Decimal("0.001")).wire = wire
    double.execute(order, Decimal("0.001"))  # genuine
    order.filled = Decimal("0.005")  # the order's own count: the genuine ones
    order.status = double.PARTIAL
    fills = broker.fills(CID)
    assert sum(f.quantity for f in fills) == Decimal("0.005")
    assert all(f.side.value == "buy" and f.price == Decimal("29000") for f in fills)
    found = mismatches(events)
    assert len(found) == 3 and all(f["client_order_id"] == CID for f in found)
    assert {f["trade_id"] for f in found}.isdisjoint(f.fill_id.rsplit(":", 1)[1] for f in fills)


def test_trades_summing_to_more_than_the_order_filled_are_not_fills(binance):
    events: list = []
    broker = broker_over(binance, events=events)
    broker.submit(request())
    binance.fill(CID)
    binance.execute(binance._order_of(CID), Decimal("0.01"))  # a second execution of it all
    binance._order_of(CID).filled = Decimal("0.01")
    fills = broker.fills(CID)
    assert [f.quantity for f in fills] == [Decimal("0.01")]
    [mismatch] = mismatches(events)
    assert "more than the order's filled" in mismatch["reason"]


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_an_old_orders_fills_are_found_past_the_default_window(exchange):
    """Binance's myTrades without an order id answers its newest 500 trades, Kraken's
    TradesHistory the newest 50 of the account (the doubles do the same)."""
    double = make_double(exchange)
    broker = broker_over(double)
    broker.submit(request())
    double.fill(CID)
    other = double.place(
        order_id="999",
        client_id="other",
        symbol="BTC/USDT",
        side="buy",
        type="market",
        quantity=Decimal(1000),
        price=None,
        status=double.OPEN,
    )
    for _ in range(120 if exchange == "kraken" else 600):
        double.clock_ms += 1000
        double.execute(other, Decimal("0.001"))
    [fill] = broker.fills(CID)
    assert fill.quantity == Decimal("0.01")
    asked = [r for r in double.requests if r.path.endswith(("myTrades", "TradesHistory"))]
    if exchange == "binance":
        assert asked[-1].query["orderId"] == double._order_of(CID).order_id
    else:
        assert [r.form.get("ofs") for r in asked] == ["0", "50", "100"]
        assert all(float(r.form["start"]) < double._order_of(CID).created_ms / 1000 for r in asked)


def test_more_trades_than_the_pages_is_an_error_not_a_short_list(kraken):
    events: list = []
    broker = broker_over(kraken, events=events)
    broker.submit(request())
    kraken.fill(CID)
    order = kraken._order_of(CID)
    for _ in range(50 * MAX_PAGES):
        kraken.execute(order, Decimal("0"))
    with pytest.raises(FillsIncomplete):
        broker.fills(CID)
    [mismatch] = mismatches(events)
    assert "pages" in mismatch["reason"]


def test_a_terminal_order_whose_trades_fall_short_is_an_event(binance):
    events: list = []
    broker = broker_over(binance, events=events)
    broker.submit(request())
    binance.fill(CID)
    binance.trades.clear()  # the exchange lost them
    assert broker.fills(CID) == []
    [mismatch] = mismatches(events)
    assert "less than its filled" in mismatch["reason"]


def test_a_rebate_is_a_negative_commission(binance):
    broker = broker_over(binance)
    broker.submit(request(order_type="limit", limit_price=Decimal("29000")))
    binance.fill(CID)
    binance.trades[-1].wire = {"commission": "-0.02900000"}
    [fill] = broker.fills(CID)
    assert fill.quantity == Decimal("0.01") and fill.commission == Decimal("-0.029")


def test_a_buy_fee_in_the_base_asset_is_taken_off_the_quantity(binance):
    binance.fee_in_base = True  # commissionAsset BTC, as Binance does without BNB
    broker = broker_over(binance)
    broker.submit(request())
    binance.fill(CID)
    [fill] = broker.fills(CID)
    assert fill.quantity == Decimal("0.00999") and fill.commission == 0
    [position] = broker.positions()
    assert position.quantity == fill.quantity  # the kernel's books match the balance


@pytest.mark.parametrize(
    ("wire", "why"),
    [({"time": None}, "missing"), ({"time": 1_700_000_000}, "before 2000")],
)
def test_an_undated_or_seconds_stamped_trade_is_refused(binance, wire, why):
    events: list = []
    broker = broker_over(binance, events=events)
    broker.submit(request())
    binance.fill(CID)
    binance.trades[-1].wire = wire
    assert broker.fills(CID) == []
    assert any(why in f["reason"] for f in mismatches(events))
