"""The Alpaca broker against the double: every submit outcome, lookups, cancels,
statuses, fills, positions, account and order constraints."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import pytest
from tradekernel.api import BrokerRejected, OrderStatus, OrderType, SubmitOutcomeUnknown
from tradekernel_alpaca.http import AlpacaError, AlpacaUnavailable
from tradekernel_alpaca.statuses import STATUSES

# -- submit --------------------------------------------------------------------------


def test_market_and_limit_orders_carry_the_kernels_fields(broker, venue, order) -> None:
    market = broker.submit(order())
    assert market.status is OrderStatus.WORKING and market.order_type is OrderType.MARKET
    limit = broker.submit(
        order(order_type="limit", limit_price="101.25", time_in_force="gtc", side="sell")
    )
    stored = venue.double.trading.order_by_client_id(limit.client_order_id)
    assert (stored["type"], stored["limit_price"], stored["time_in_force"], stored["side"]) == (
        "limit",
        "101.25",
        "gtc",
        "sell",
    )
    assert stored["qty"] == "3" and limit.limit_price == Decimal("101.25")
    assert limit.submitted_at is not None and limit.submitted_at.tzinfo is UTC
    ioc = broker.submit(order(time_in_force="ioc"))
    assert venue.double.trading.order_by_client_id(ioc.client_order_id)["time_in_force"] == "ioc"


def test_a_duplicate_client_order_id_adopts_the_existing_order(broker, venue, order) -> None:
    req = order()
    first = broker.submit(req)
    again = broker.submit(req)
    assert again.broker_order_id == first.broker_order_id
    assert venue.orders_with(req.client_order_id) == 1
    assert venue.submit_requests() == 2
    assert ("GET", "/v2/orders:by_client_order_id") in venue.double.requests


def test_a_duplicate_of_a_rejected_order_is_a_rejection(broker, venue, order) -> None:
    req = order()
    broker.submit(req)
    venue.set_status(req.client_order_id, "rejected")
    with pytest.raises(BrokerRejected) as info:
        broker.submit(req)
    assert info.value.code == "alpaca_40010001"


def test_a_lost_answer_is_an_unknown_outcome_and_the_order_is_found(
    broker, venue, events, order
) -> None:
    req = order()
    venue.lose_next_response()
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(req)
    assert venue.submit_requests() == 1
    assert events.of("outcome_unknown")[0]["client_order_id"] == req.client_order_id
    found = broker.get_order(req.client_order_id)
    assert found is not None and venue.orders_with(req.client_order_id) == 1
    assert venue.submit_requests() == 1  # found by lookup, never sent again


@pytest.mark.parametrize("status", [429, 500, 503])
def test_429_and_5xx_on_submit_are_unknown_outcomes(broker, venue, status, order) -> None:
    req = order()
    venue.fail_next(status, count=3)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(req)
    assert venue.submit_requests() == 1 and venue.orders_with(req.client_order_id) == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"symbol": "NOPE"}, "alpaca_40010001"),
        ({"quantity": "1000000"}, "alpaca_40310000"),
        ({"quantity": "0.5", "time_in_force": "gtc"}, "alpaca_40010001"),
        ({"quantity": "0.5", "symbol": "BRK.A"}, "alpaca_40010001"),
    ],
)
def test_validation_errors_are_rejections_with_a_stable_code(
    broker, venue, fields, code, order
) -> None:
    with pytest.raises(BrokerRejected) as info:
        broker.submit(order(**fields))
    assert info.value.code == code
    assert venue.submit_requests() == 1


def test_a_rejection_without_a_code_gets_the_http_status(broker, venue, order) -> None:
    venue.double.reject_next("forbidden", status=403, code=0)
    venue.double._rejects[-1] = (403, "x", "forbidden")  # a body whose code is not a number
    with pytest.raises(BrokerRejected) as info:
        broker.submit(order())
    assert info.value.code == "http_403"


def test_wrong_credentials_are_a_rejection_not_an_unknown(broker, venue, order) -> None:
    venue.double.key_id = "ANOTHERKEYID0000"
    with pytest.raises(BrokerRejected) as info:
        broker.submit(order())
    assert info.value.code == "alpaca_40110000"


def test_an_unreadable_200_is_an_unknown_outcome(broker, venue, monkeypatch, order) -> None:
    from tradekernel_alpaca.double import trading

    real = trading.TradingState.new_order

    def broken(self, body, qty, coid):
        order = real(self, body, qty, coid)
        order["filled_qty"] = "NaN"
        return order

    monkeypatch.setattr(trading.TradingState, "new_order", broken)
    with pytest.raises(SubmitOutcomeUnknown, match="unreadable"):
        broker.submit(order())


def test_a_client_order_id_over_128_characters_is_refused_before_sending(
    broker, venue, order
) -> None:
    with pytest.raises(BrokerRejected) as info:
        broker.submit(order(client_order_id="tk-" + "a" * 126))
    assert info.value.code == "client_order_id_length"
    assert venue.submit_requests() == 0
    assert len(order().client_order_id) == 27  # the kernel's ids fit easily


# -- lookup and cancel ------------------------------------------------------------------


def test_lookup_is_none_only_for_a_404(broker, venue) -> None:
    assert broker.get_order("tk-never-sent") is None
    venue.fail_next(503, count=10)
    with pytest.raises(AlpacaUnavailable):
        broker.get_order("tk-never-sent")


def test_lookup_of_another_orders_answer_is_an_error(broker, venue, monkeypatch, order) -> None:
    one, two = broker.submit(order()), broker.submit(order())
    venue.double.trading.by_client_id[one.client_order_id] = two.broker_order_id
    with pytest.raises(AlpacaError, match="another client order id"):
        broker.get_order(one.client_order_id)


def test_cancel_is_idempotent(broker, venue, order) -> None:
    placed = broker.submit(order())
    cancelled = broker.cancel(placed.client_order_id)
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.reason == "canceled"
    assert broker.cancel(placed.client_order_id).status is OrderStatus.CANCELLED
    filled = broker.submit(order())
    venue.fill(filled.client_order_id)
    assert broker.cancel(filled.client_order_id).status is OrderStatus.FILLED
    assert broker.cancel("tk-unknown") is None


def test_cancel_answered_422_not_cancelable_returns_the_order(
    broker, venue, order, monkeypatch
) -> None:
    """The order fills between the broker's lookup and its DELETE: Alpaca answers 422
    "order is not cancelable"; the broker returns the order as it now stands."""
    placed = broker.submit(order())
    real = broker.http.read

    def fill_first(method, path, **kw):
        if method == "DELETE":
            venue.fill(placed.client_order_id)
        return real(method, path, **kw)

    monkeypatch.setattr(broker.http, "read", fill_first)
    assert broker.cancel(placed.client_order_id).status is OrderStatus.FILLED


def test_open_and_all_orders(broker, venue, order) -> None:
    working = broker.submit(order())
    venue.advance(1)
    done = broker.submit(order())
    venue.fill(done.client_order_id)
    open_ids = {o.client_order_id for o in broker.orders(open_only=True)}
    all_ids = {o.client_order_id for o in broker.orders()}
    assert open_ids == {working.client_order_id}
    assert all_ids == {working.client_order_id, done.client_order_id}
    assert broker.known_client_order_ids("tk-", 10)[0] == done.client_order_id
    assert broker.known_client_order_ids("zz-", 10) == []


# -- statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_every_alpaca_status_maps(broker, venue, status, order) -> None:
    placed = broker.submit(order())
    venue.set_status(placed.client_order_id, status)
    seen = broker.get_order(placed.client_order_id)
    assert seen.status.terminal == STATUSES[status].final
    if seen.status is OrderStatus.FILLED:
        assert seen.filled_quantity == seen.quantity


def test_partial_fills_show_progress(broker, venue, order) -> None:
    placed = broker.submit(order())
    venue.fill(placed.client_order_id, Decimal(1))
    seen = broker.get_order(placed.client_order_id)
    assert seen.status is OrderStatus.PARTIAL_FILL and seen.progress == Decimal(1) / 3
    venue.set_status(placed.client_order_id, "canceled")
    cancelled = broker.get_order(placed.client_order_id)
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.filled_quantity == 1


def test_an_unknown_status_is_working_and_a_warning(broker, venue, events, order) -> None:
    placed = broker.submit(order())
    venue.set_status(placed.client_order_id, "brand_new_status")
    assert broker.get_order(placed.client_order_id).status is OrderStatus.WORKING
    warned = events.of("unknown_status")
    assert warned[0]["status"] == "brand_new_status" and warned[0]["severity"] == "warning"
    venue.fill(placed.client_order_id, Decimal(1))
    venue.set_status(placed.client_order_id, "weird")
    assert broker.get_order(placed.client_order_id).status is OrderStatus.PARTIAL_FILL


def test_filled_is_never_reported_for_a_partial_quantity(broker, venue, order) -> None:
    placed = broker.submit(order())
    venue.fill(placed.client_order_id, Decimal(1))
    venue.double.trading.order_by_client_id(placed.client_order_id)["status"] = "filled"
    assert broker.get_order(placed.client_order_id).status is OrderStatus.PARTIAL_FILL


# -- fills, positions, account -------------------------------------------------------------


def test_fills_come_from_activities_unique_and_decimal(broker, venue, order) -> None:
    placed = broker.submit(order(order_type="limit", limit_price="99.5"))
    assert broker.fills(placed.client_order_id) == []
    venue.fill(placed.client_order_id, Decimal(1))
    venue.advance(5)
    venue.double.trading.fill(placed.client_order_id, Decimal(2), Decimal("99.25"))
    fills = broker.fills(placed.client_order_id)
    assert [(f.quantity, f.price) for f in fills] == [(1, Decimal("99.5")), (2, Decimal("99.25"))]
    assert len({f.fill_id for f in fills}) == 2
    assert all(f.ts.tzinfo is UTC and type(f.quantity) is Decimal for f in fills)
    assert broker.fills(placed.client_order_id) == fills  # the same ids again
    assert broker.get_order(placed.client_order_id).avg_fill_price == Decimal("99.3333")
    assert [f.fill_id for f in broker.fills()] == [f.fill_id for f in fills]


def test_fills_page_through_activities(venue, order) -> None:
    broker = venue.broker()
    placed = broker.submit(order(quantity=250))
    for _ in range(250):
        venue.fill(placed.client_order_id, Decimal(1))
    fills = broker.fills(placed.client_order_id)
    assert len(fills) == 250 and sum(f.quantity for f in fills) == 250
    assert venue.double.requests.count(("GET", "/v2/account/activities/FILL")) == 3


def test_positions_and_account(broker, venue, order) -> None:
    buy = broker.submit(order(quantity=5))
    venue.fill(buy.client_order_id)
    sell = broker.submit(order(symbol="MSFT", side="sell", quantity=2))
    venue.fill(sell.client_order_id)
    positions = {p.symbol: p for p in broker.positions()}
    assert positions["AAPL"].quantity == 5 and positions["MSFT"].quantity == -2
    assert positions["AAPL"].avg_price == 100 and positions["AAPL"].market_price == 100
    account = broker.account()
    assert account.cash == Decimal(100000 - 500 + 200) and account.currency == "USD"
    assert account.equity == Decimal(100000)
    assert broker.last_account.buying_power == account.cash
    assert not broker.last_account.trading_blocked


def test_order_constraints_from_the_asset(broker, venue) -> None:
    aapl = broker.order_constraints("AAPL")
    assert aapl.quantity_increment == Decimal("1e-9") and aapl.price_tick == Decimal("0.01")
    whole = broker.order_constraints("BRK.A")
    assert (whole.min_quantity, whole.quantity_increment) == (1, 1)
    venue.double.trading.add_asset(
        "BTC/USD", min_order_size="0.0001", min_trade_increment="0.0001", price_increment="1"
    )
    crypto = broker.order_constraints("BTC/USD")
    assert (crypto.min_quantity, crypto.quantity_increment, crypto.price_tick) == (
        Decimal("0.0001"),
        Decimal("0.0001"),
        1,
    )
    assert broker.order_constraints("NOPE").min_quantity == 1
    before = len(venue.double.requests)
    broker.order_constraints("AAPL")
    assert len(venue.double.requests) == before  # cached


def test_the_monitors_lookup_then_fills_costs_one_lookup(broker, venue, order) -> None:
    placed = broker.submit(order())
    venue.fill(placed.client_order_id, Decimal(1))
    lookups = ("GET", "/v2/orders:by_client_order_id")
    before = venue.double.requests.count(lookups)
    broker.get_order(placed.client_order_id)
    assert len(broker.fills(placed.client_order_id)) == 1
    assert venue.double.requests.count(lookups) - before == 1
    venue.fill(placed.client_order_id)
    assert len(broker.fills(placed.client_order_id)) == 2  # used once: looked up again


def test_numbers_are_sent_in_plain_notation(broker, venue, order) -> None:
    placed = broker.submit(
        order(quantity=Decimal("1E+1"), order_type="limit", limit_price=Decimal("1.05E+2"))
    )
    stored = venue.double.trading.order_by_client_id(placed.client_order_id)
    assert (stored["qty"], stored["limit_price"]) == ("10", "105")


def test_every_broker_event_is_in_the_catalogue(broker, venue, events, order) -> None:
    import json

    from tradekernel.api import Event, encode_line, validate_event

    placed = broker.submit(order())
    venue.set_status(placed.client_order_id, "mystery")
    broker.get_order(placed.client_order_id)  # unknown_status
    venue.fail_next(429, reset_after=1.0)
    broker.account()  # rate_limit + request_retried
    venue.lose_next_response()
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(order())  # outcome_unknown
    kinds = set()
    for stage, kind, fields in events:
        fields = dict(fields)
        severity = fields.pop("severity", "info")
        event = Event(stage=stage, kind=kind, fields=fields, severity=severity)
        assert validate_event(json.loads(encode_line(event))) == [], (kind, fields)
        kinds.add(kind)
    assert kinds == {"unknown_status", "rate_limit", "request_retried", "outcome_unknown"}


def test_server_time_is_the_venues_clock(broker, venue) -> None:
    assert broker.server_time() == venue.now  # the double's clock, read by /v2/clock
    assert ("GET", "/v2/clock") in venue.double.requests
