"""The double itself: the same state through the MockTransport (no socket) and through
the 127.0.0.1 server; Alpaca's wire format; faults over a real connection."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from tradekernel.api import OrderStatus, SubmitOutcomeUnknown
from tradekernel_alpaca.config import AlpacaConfig
from tradekernel_alpaca.double import AlpacaDouble, serve
from tradekernel_alpaca.http import AlpacaHTTP


def test_mock_transport_opens_no_socket(no_socket, venue, order) -> None:
    broker = venue.broker()
    placed = broker.submit(order())
    venue.fill(placed.client_order_id)
    assert broker.fills(placed.client_order_id) and broker.positions() and broker.account()
    broker.cancel(placed.client_order_id)
    broker.order_constraints("AAPL")
    assert no_socket == []


def test_orders_speak_alpacas_json(venue, order) -> None:
    placed = venue.broker().submit(order(order_type="limit", limit_price="10.5"))
    raw = httpx.Client(transport=venue.double.transport()).get(
        "https://paper-api.alpaca.markets/v2/orders:by_client_order_id",
        params={"client_order_id": placed.client_order_id},
        headers={
            "APCA-API-KEY-ID": venue.double.key_id,
            "APCA-API-SECRET-KEY": venue.double.secret_key,
        },
    )
    body = raw.json()
    assert raw.headers["X-Ratelimit-Limit"] == "200"
    for key in ("qty", "filled_qty", "limit_price"):
        assert isinstance(body[key], str)
    assert body["filled_avg_price"] is None and body["status"] == "accepted"
    assert body["submitted_at"].endswith("Z") and body["type"] == body["order_type"] == "limit"
    assert {"id", "asset_id", "asset_class", "time_in_force", "extended_hours"} <= set(body)


def test_unauthorised_and_unknown_paths_answer_like_alpaca(venue) -> None:
    client = httpx.Client(transport=venue.double.transport())
    denied = client.get("https://paper-api.alpaca.markets/v2/account")
    assert denied.status_code == 401 and denied.json()["code"] == 40110000


@pytest.fixture
def served():
    double = AlpacaDouble()
    with serve(double) as server:
        http = AlpacaHTTP(
            AlpacaConfig(base_url=server.url, read_timeout=5.0, backoff_base=0.01),
            key_id=double.key_id,
            secret_key=double.secret_key,
        )
        from tradekernel_alpaca.broker import AlpacaBroker

        yield double, AlpacaBroker(http)
        http.close()


def test_the_server_serves_the_same_api(served, order) -> None:
    double, broker = served
    placed = broker.submit(order())
    double.trading.fill(placed.client_order_id, Decimal(1))
    assert broker.get_order(placed.client_order_id).status is OrderStatus.PARTIAL_FILL
    assert broker.cancel(placed.client_order_id).status is OrderStatus.CANCELLED
    assert [f.quantity for f in broker.fills(placed.client_order_id)] == [1]


def test_a_response_lost_on_a_real_connection(served, order) -> None:
    double, broker = served
    request = order()
    double.lose_next_response()
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(request)
    assert broker.get_order(request.client_order_id) is not None
    assert double.trading.submits == 1


def test_auto_fill_for_end_to_end_runs(order) -> None:
    double = AlpacaDouble(auto_fill=True, prices={"AAPL": "187.5"})
    with serve(double) as server:
        http = AlpacaHTTP(
            AlpacaConfig(base_url=server.url), key_id=double.key_id, secret_key=double.secret_key
        )
        from tradekernel_alpaca.broker import AlpacaBroker

        broker = AlpacaBroker(http)
        placed = broker.submit(order())
        assert placed.status is OrderStatus.FILLED and placed.avg_fill_price == Decimal("187.5")
        assert broker.positions()[0].quantity == 3
        http.close()
