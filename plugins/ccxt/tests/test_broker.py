"""The ccxt broker over the Binance and Kraken doubles: orders, fills, account, and
the safety rules (an order sent at most once, a lost answer looked up, never resent)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradekernel.api import (
    BrokerRejected,
    OrderConstraints,
    OrderRequest,
    OrderStatus,
    SubmitOutcomeUnknown,
    validate_event,
)
from tradekernel_ccxt.client import ExchangeFailure

from .conftest import broker_over

CID = "tk-0123456789abcdef01234567"


def request(cid: str = CID, **kwargs) -> OrderRequest:
    values = {"symbol": "BTC/USDT", "side": "buy", "quantity": Decimal("0.01")}
    values.update(kwargs)
    return OrderRequest(client_order_id=cid, **values)


def test_submit_then_lifecycle(double):
    broker = broker_over(double)
    order = broker.submit(request(order_type="limit", limit_price=Decimal("29000")))
    assert order.client_order_id == CID
    assert order.status is OrderStatus.WORKING
    assert order.symbol == "BTC/USDT" and order.quantity == Decimal("0.01")
    assert order.limit_price == Decimal("29000")
    assert double.orders_with(CID) == 1

    double.fill(CID, Decimal("0.004"))
    seen = broker_over(double).get_order(CID)  # a restart finds it by client order id
    assert seen.status is OrderStatus.PARTIAL_FILL and seen.filled_quantity == Decimal("0.004")

    double.fill(CID)
    done = broker.get_order(CID)
    assert done.status is OrderStatus.FILLED and done.filled_quantity == Decimal("0.01")
    assert done.avg_fill_price == Decimal("29000")
    fills = broker.fills(CID)
    assert [f.quantity for f in fills] == [Decimal("0.004"), Decimal("0.006")]
    assert all(f.client_order_id == CID and f.price == Decimal("29000") for f in fills)
    assert fills[0].commission == Decimal("0.116")  # 0.1 % in USDT, the quote currency
    assert len({f.fill_id for f in broker.fills()}) == 2


def test_resubmit_returns_the_same_order(double):
    broker = broker_over(double)
    first = broker.submit(request())
    assert broker.submit(request()).broker_order_id == first.broker_order_id
    assert double.submit_requests() == 1  # this instance knows it: looked up, not sent
    # a restart knows nothing: the exchange refuses the id in use, the order is adopted
    again = broker_over(double).submit(request())
    assert again.broker_order_id == first.broker_order_id
    assert double.orders_with(CID) == 1 and double.submit_requests() == 2


def test_unknown_order_is_none(double):
    assert broker_over(double).get_order("tk-ffffffffffffffffffffffff") is None
    assert broker_over(double).fills("tk-ffffffffffffffffffffffff") == []
    assert broker_over(double).cancel("tk-ffffffffffffffffffffffff") is None


def test_cancel(double):
    broker = broker_over(double)
    broker.submit(request(order_type="limit", limit_price=Decimal("29000")))
    cancelled = broker.cancel(CID)
    assert cancelled.status is OrderStatus.CANCELLED
    assert broker.cancel(CID).status is OrderStatus.CANCELLED  # terminal: unchanged
    assert broker.orders(open_only=True) == []
    assert [o.client_order_id for o in broker.orders()] == [CID]


def test_lost_answer_is_unknown_and_found_by_lookup(double):
    events: list = []
    broker = broker_over(double, events=events)
    double.lose_next_response(submit=True)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(request())
    assert double.submit_requests() == 1  # never resent
    assert ("broker", "outcome_unknown") in [(s, k) for s, k, _ in events]
    found = broker_over(double).get_order(CID)
    assert found is not None and found.client_order_id == CID
    assert double.orders_with(CID) == 1


@pytest.mark.parametrize("status", [429, 502, 503])
def test_a_failed_submit_is_unknown_and_not_retried(double, status):
    events: list = []
    broker = broker_over(double, events=events)
    double.fail_next_submit(status, reset_after=2)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(request())
    assert double.submit_requests() == 1 and double.slept == []
    assert double.orders_with(CID) == 0
    assert "outcome_unknown" in [k for _, k, _ in events]


def test_a_resubmit_whose_lookup_fails_sends_nothing(double):
    broker = broker_over(double, read_retries=1)
    broker.submit(request())
    double.fail_next(503, count=2)
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(request())
    assert double.submit_requests() == 1 and double.orders_with(CID) == 1


def test_reads_retry_with_the_injected_sleep(double):
    events: list = []
    broker = broker_over(double, events=events)
    double.fail_next(429, count=2, reset_after=3)
    assert broker.get_order(CID) is None
    assert len(double.slept) == 2 and all(s > 0 for s in double.slept)
    kinds = [k for _, k, _ in events]
    assert kinds.count("request_retried") == 2 and "rate_limit" in kinds
    for _, kind, fields in events:  # each fits the catalogue
        event = {
            "schema": "event.v1",
            "ts": "2025-01-01T00:00:00+00:00",
            "run_id": "",
            "cycle_id": "",
            "stage": "broker",
            "kind": kind,
            "severity": "warning",
            "fields": fields,
        }
        assert validate_event(event) == [], event
    retried = next(f for _, k, f in events if k == "request_retried")
    assert retried["broker"] == f"ccxt-{double.exchange}" and retried["attempt"] == 1


def test_reads_give_up_after_the_bound(double):
    broker = broker_over(double, read_retries=2)
    double.fail_next(503, count=5)
    with pytest.raises(ExchangeFailure) as raised:
        broker.orders()
    assert "ExchangeNotAvailable" in raised.value.names
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert len(double.slept) == 2


def test_refusals_are_rejections_with_codes(double):
    broker = broker_over(double)
    double.reject_next("LOT_SIZE")
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(request())
    assert refused.value.code in ("invalid_order", "bad_request")
    with pytest.raises(BrokerRejected) as poor:
        broker.submit(request("tk-111111111111111111111111", quantity=Decimal("1000")))
    assert poor.value.code == "insufficient_funds"
    with pytest.raises(BrokerRejected) as unknown:
        broker.submit(request(symbol="ETH/USDT"))
    assert unknown.value.code == "symbol_not_configured"
    assert double.orders_with(CID) == 0


def test_a_duplicate_refusal_is_looked_up_and_adopted(double):
    first = broker_over(double).submit(request())
    adopted = broker_over(double).submit(request())
    assert adopted.broker_order_id == first.broker_order_id
    assert double.submit_requests() == 2 and double.orders_with(CID) == 1


def test_secrets_never_leave_even_when_echoed(double):
    events: list = []
    broker = broker_over(double, events=events)
    double.echo_secrets()
    double.reject_next("LOT_SIZE")
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(request())
    double.fail_next(429, count=1)
    broker.get_order(CID)
    texts = [str(refused.value), refused.value.reason, repr(events)]
    for secret in double.secrets:
        assert all(secret not in text for text in texts)
    assert "********" in refused.value.reason


def test_unknown_status_is_working_with_a_warning(binance):
    events: list = []
    broker = broker_over(binance, events=events)
    broker.submit(request(order_type="limit", limit_price=Decimal("29000")))
    binance.set_status(CID, "PENDING_CANCEL")
    order = broker.get_order(CID)
    assert order.status is OrderStatus.WORKING
    warned = [f for _, k, f in events if k == "unknown_status"]
    assert warned and warned[0]["client_order_id"] == CID


@pytest.mark.parametrize(("status", "kernel"), [("EXPIRED", "cancelled"), ("REJECTED", "rejected")])
def test_final_statuses(binance, status, kernel):
    broker = broker_over(binance)
    broker.submit(request(order_type="limit", limit_price=Decimal("29000")))
    binance.set_status(CID, status)
    assert broker.get_order(CID).status == kernel


def test_order_constraints_from_the_markets(double):
    constraints = broker_over(double).order_constraints("BTC/USDT")
    if double.exchange == "binance":
        assert constraints == OrderConstraints(
            min_quantity=Decimal("0.00001"),
            quantity_increment=Decimal("0.00001"),
            min_notional=Decimal(5),
            price_tick=Decimal("0.01"),
        )
    else:
        assert constraints.min_quantity == Decimal("0.00005")
        assert constraints.quantity_increment == Decimal("1E-8")
        assert constraints.price_tick == Decimal("0.1")


@pytest.mark.parametrize("quantity", ["0.000015", "0.000001"])
def test_a_quantity_off_the_precision_is_refused_before_sending(binance, quantity):
    with pytest.raises(BrokerRejected) as refused:
        broker_over(binance).submit(request(quantity=Decimal(quantity)))
    assert refused.value.code == "quantity_precision"
    assert binance.submit_requests() == 0


def test_account_and_positions(double):
    broker = broker_over(double)
    broker.submit(request(quantity=Decimal("0.5")))
    double.fill(CID)
    [position] = broker.positions()
    assert position.symbol == "BTC/USDT" and position.quantity == Decimal("0.5")
    assert position.market_price == Decimal(30000)
    account = broker.account()
    assert account.currency == "USDT"
    assert account.cash == Decimal(100000) - Decimal(15000) - Decimal(15)
    assert account.equity == account.cash + Decimal(15000)


def test_known_client_order_ids_for_the_start_check(double):
    broker = broker_over(double)
    broker.submit(request())
    broker.submit(request("tk-111111111111111111111111"))
    double.fill(CID)
    known = broker_over(double).known_client_order_ids("tk-", 10)
    assert known == ["tk-111111111111111111111111", CID]  # newest first, kernel spelling
    assert broker_over(double).known_client_order_ids("tk-", 1) == ["tk-111111111111111111111111"]
