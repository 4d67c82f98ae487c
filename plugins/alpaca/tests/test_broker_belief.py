"""What the Alpaca broker believes: a FILL activity only when it agrees with its order,
an order under our client order id only when it is the one requested, a duplicate
refusal as proof the order exists, a replaced order as a conflict for the operator,
fill pages never cut silently, a filled quantity never lowered, positions whose side
and sign agree, and no order for an asset that is not tradable."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradekernel.api import BrokerRejected, OrderStatus, SubmitOutcomeUnknown
from tradekernel_alpaca.http import AlpacaError

# -- fills (a FILL activity is believed only when it matches its order) ----------------


def _forge(venue, placed, **changes):
    """A second FILL activity for ``placed``, like the last one with ``changes``."""
    activities = venue.double.trading.activities
    forged = {**activities[-1], "id": activities[-1]["id"] + "x", **changes}
    activities.append(forged)
    return forged


@pytest.mark.parametrize(
    ("kind", "changes", "reason"),
    [
        ("limit", {"symbol": "TSLA"}, "symbol TSLA"),
        ("limit", {"side": "sell"}, "side sell"),
        ("limit", {"price": "99999.00"}, "beyond the limit"),
        ("limit", {"qty": "1"}, "fills add up to 2"),
        ("limit", {"qty": "NaN"}, "bad activity"),
        ("limit", {"price": "-1"}, "bad activity"),
    ],
)
def test_a_fill_that_disagrees_with_its_order_is_not_recorded(
    broker, venue, events, order, kind, changes, reason
) -> None:
    placed = broker.submit(order(order_type="limit", limit_price="10.00"))
    coid = placed.client_order_id
    venue.double.trading.fill(coid, Decimal(1))  # 1 of 3 at 10.00
    forged = _forge(venue, placed, **changes)
    fills = broker.fills(coid)
    assert [f.quantity for f in fills] == [1] and fills[0].fill_id != forged["id"]
    assert fills[0].symbol == "AAPL" and fills[0].price == Decimal("10.00")
    [event] = events.of("fill_mismatch")
    assert event["client_order_id"] == coid and reason in event["reason"]
    assert event["severity"] == "critical"


def test_a_sell_limit_fill_below_the_limit_is_not_believed(broker, venue, events, order) -> None:
    placed = broker.submit(order(side="sell", order_type="limit", limit_price="50"))
    venue.double.trading.fill(placed.client_order_id, Decimal(1))
    _forge(venue, placed, price="49.99")
    assert [f.price for f in broker.fills(placed.client_order_id)] == [Decimal(50)]
    assert "beyond the limit" in events.of("fill_mismatch")[0]["reason"]


def test_one_orders_bad_fill_leaves_the_other_orders_fills(broker, venue, events, order) -> None:
    good = broker.submit(order())
    bad = broker.submit(order(symbol="MSFT"))
    venue.fill(good.client_order_id)
    venue.fill(bad.client_order_id, Decimal(1))
    _forge(venue, bad, symbol="TSLA")
    fills = broker.fills()
    assert {(f.client_order_id, f.quantity) for f in fills} == {
        (good.client_order_id, 3),
        (bad.client_order_id, 1),
    }
    assert [e["client_order_id"] for e in events.of("fill_mismatch")] == [bad.client_order_id]


def test_a_fill_newer_than_the_lookup_is_believed_after_a_second_lookup(
    broker, venue, events, order
) -> None:
    placed = broker.submit(order())
    venue.fill(placed.client_order_id, Decimal(1))
    assert broker.get_order(placed.client_order_id).filled_quantity == 1
    venue.fill(placed.client_order_id, Decimal(1))  # after the lookup fills() reuses
    assert sum(f.quantity for f in broker.fills(placed.client_order_id)) == 2
    assert not events.of("fill_mismatch")


def test_fill_pages_are_never_cut_silently(venue, events, order) -> None:
    broker = venue.broker(emit=events, max_fill_pages=2)
    ours = broker.submit(order())
    other = broker.submit(order(symbol="MSFT", quantity=300))
    for _ in range(300):  # three pages of another order's fills after ours was sent
        venue.fill(other.client_order_id, Decimal(1))
    venue.fill(ours.client_order_id)
    with pytest.raises(AlpacaError, match="max_fill_pages"):
        broker.fills(ours.client_order_id)
    [event] = events.of("fill_pages_exhausted")
    assert event["client_order_id"] == ours.client_order_id and event["pages"] == 2
    assert venue.double.requests.count(("GET", "/v2/account/activities/FILL")) == 2


def test_fill_pages_stop_once_the_orders_fills_are_found(venue, order) -> None:
    broker = venue.broker(max_fill_pages=2)
    ours = broker.submit(order())
    venue.fill(ours.client_order_id)
    other = broker.submit(order(symbol="MSFT", quantity=300))
    for _ in range(300):
        venue.fill(other.client_order_id, Decimal(1))
    assert [f.quantity for f in broker.fills(ours.client_order_id)] == [3]
    assert venue.double.requests.count(("GET", "/v2/account/activities/FILL")) == 1


# -- submit adopts only the order requested ---------------------------------------------


def test_a_200_naming_our_id_for_another_order_is_a_conflict(venue, events, order) -> None:
    broker = venue.broker(emit=events)
    req = order()

    def swap(request, reply) -> None:  # the venue answers with another order under our id
        if request.method == "POST" and reply.status == 200:
            reply.body = {**reply.body, "symbol": "TSLA", "side": "sell", "qty": "1000"}

    venue.double.observers.append(swap)
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req)
    assert info.value.code == "client_order_id_conflict"
    [event] = events.of("order_conflict")
    assert event["client_order_id"] == req.client_order_id and event["severity"] == "critical"


@pytest.mark.parametrize(
    "fields",
    [
        {"symbol": "MSFT"},
        {"side": "sell"},
        {"quantity": 4},
        {"order_type": "limit", "limit_price": "99"},
        {"time_in_force": "gtc"},
    ],
)
def test_a_duplicate_whose_order_differs_is_never_adopted(
    broker, venue, events, order, fields
) -> None:
    first = order()
    broker.submit(first)
    again = order(**{"client_order_id": first.client_order_id, **fields})
    with pytest.raises(BrokerRejected) as info:
        broker.submit(again)
    assert info.value.code == "client_order_id_conflict"
    assert events.of("order_conflict")[0]["client_order_id"] == first.client_order_id
    assert venue.orders_with(first.client_order_id) == 1


def test_a_duplicate_with_another_limit_price_is_never_adopted(broker, events, order) -> None:
    first = order(order_type="limit", limit_price="10")
    broker.submit(first)
    with pytest.raises(BrokerRejected, match="limit_price"):
        broker.submit(
            order(client_order_id=first.client_order_id, order_type="limit", limit_price="11")
        )


def test_a_duplicate_refusal_then_a_404_lookup_is_an_unknown_outcome(
    broker, venue, events, order
) -> None:
    req = order()
    broker.submit(req)

    def lag(request, reply) -> None:  # the lookup lags the order book
        if request.path == "/v2/orders:by_client_order_id":
            reply.status, reply.body = 404, {"code": 40410000, "message": "order not found"}

    venue.double.observers.append(lag)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(req)
    assert events.of("outcome_unknown")[-1]["client_order_id"] == req.client_order_id


def test_another_validation_error_then_a_404_is_still_a_rejection(broker, venue, order) -> None:
    venue.double.reject_next("qty must be > 0", code=40010001)
    with pytest.raises(BrokerRejected) as info:
        broker.submit(order())
    assert info.value.code == "alpaca_40010001"


# -- replaced orders ----------------------------------------------------------------------


def test_a_replaced_order_is_terminal_and_a_critical_conflict(broker, venue, events, order) -> None:
    placed = broker.submit(order())
    venue.fill(placed.client_order_id, Decimal(1))
    stored = venue.double.trading.order_by_client_id(placed.client_order_id)
    stored.update(status="replaced", replaced_by="11111111-2222-3333-4444-555555555555")
    seen = broker.get_order(placed.client_order_id)
    assert seen.status is OrderStatus.CANCELLED and seen.reason == "replaced"
    assert seen.filled_quantity == 1
    [event] = events.of("order_replaced")
    assert event["severity"] == "critical" and event["client_order_id"] == placed.client_order_id
    assert event["replaced_by"] == "11111111-2222-3333-4444-555555555555"


# -- lesser: filled quantity, positions, tradable ------------------------------------------


def test_a_decreasing_filled_quantity_is_flagged_and_not_passed_on(
    broker, venue, events, order
) -> None:
    placed = broker.submit(order())
    venue.fill(placed.client_order_id, Decimal(2))
    assert broker.get_order(placed.client_order_id).filled_quantity == 2
    venue.double.trading.order_by_client_id(placed.client_order_id)["filled_qty"] = "1"
    assert broker.get_order(placed.client_order_id).filled_quantity == 2
    [event] = events.of("filled_qty_decreased")
    assert (event["filled_quantity"], event["previous"]) == ("1", "2")


@pytest.mark.parametrize(("side", "qty"), [("long", "-5"), ("short", "5")])
def test_a_position_whose_side_disagrees_with_its_sign_is_refused(
    broker, venue, order, side, qty
) -> None:
    broker.submit(order(quantity=5))
    venue.fill(broker.orders()[0].client_order_id)

    def lie(request, reply) -> None:
        if request.path == "/v2/positions":
            reply.body = [{**reply.body[0], "side": side, "qty": qty}]

    venue.double.observers.append(lie)
    with pytest.raises(AlpacaError, match="disagrees with the sign of qty"):
        broker.positions()


def test_an_asset_that_is_not_tradable_gets_no_order(broker, venue, order) -> None:
    venue.double.trading.add_asset("XYZ", tradable=False)
    broker.order_constraints("XYZ")
    sent = venue.submit_requests()
    with pytest.raises(BrokerRejected) as info:
        broker.submit(order(symbol="XYZ"))
    assert info.value.code == "asset_not_tradable" and venue.submit_requests() == sent
    broker.order_constraints("AAPL")
    broker.submit(order())


def test_a_forged_fill_does_not_end_the_paging_before_the_real_one(
    broker, venue, events, order
) -> None:
    ours = broker.submit(order())
    other = broker.submit(order(symbol="MSFT", quantity=300))
    venue.fill(other.client_order_id, Decimal(1))
    _forge(venue, other, order_id=ours.broker_order_id, symbol="TSLA", qty="3")
    for _ in range(98):  # the first page is full: the real fill is on the second
        venue.fill(other.client_order_id, Decimal(1))
    venue.fill(ours.client_order_id)
    assert [f.quantity for f in broker.fills(ours.client_order_id)] == [3]
    assert venue.double.requests.count(("GET", "/v2/account/activities/FILL")) == 2
    assert "symbol TSLA" in events.of("fill_mismatch")[0]["reason"]
