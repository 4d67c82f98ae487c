"""Opt-in test against Alpaca's real paper API (needs the internet and paper keys).

Run it with::

    APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=... \\
        .venv/bin/python -m pytest plugins/alpaca -m network

The first test reads the account, positions and AAPL's constraints, places a 1-share
AAPL limit buy at $1 (far below the market: it cannot fill), submits it again (adopted,
not doubled), cancels it, and cancels it again. The second builds the broker and the
market data feed as a run does and reads the account, the market clock and session and
a latest quote, places a limit buy at a fifth of the price under a ``tk-`` id, looks it
up by client order id, cancels it (waiting for Alpaca's asynchronous ``canceled``) and
cancels it again. Skipped when the keys are not set;
deselect it with ``-m "not network"`` in offline CI. It never runs against the live API.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradekernel.api import Kernel, OrderRequest, OrderStatus, Settings

pytestmark = pytest.mark.network
SYMBOL = "AAPL"


def test_live_paper_round_trip(tmp_path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nbroker = "alpaca"\nmetrics_sinks = []\nnotifiers = []\n'
        '[broker.alpaca]\nbase_url = "https://paper-api.alpaca.markets"\n'
    )
    settings = Settings.load(config)  # the keys come from the real environment
    if not (settings.secret("APCA_API_KEY_ID") and settings.secret("APCA_API_SECRET_KEY")):
        pytest.skip("APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set")
    with Kernel(settings) as kernel:
        broker = kernel.component("broker")
        assert broker.live_capable is False
        assert broker.account().equity >= 0
        broker.positions()
        assert broker.order_constraints("AAPL").price_tick is not None
        request = OrderRequest(
            client_order_id=f"tk-{uuid.uuid4().hex[:24]}",
            symbol="AAPL",
            side="buy",
            quantity=1,
            order_type="limit",
            limit_price=1,
            time_in_force="day",
        )
        placed = broker.submit(request)
        assert placed.client_order_id == request.client_order_id
        assert broker.submit(request).broker_order_id == placed.broker_order_id  # adopted
        cancelled = broker.cancel(request.client_order_id)
        assert cancelled is not None
        assert cancelled.status in (OrderStatus.CANCELLED, OrderStatus.WORKING)
        assert broker.cancel(request.client_order_id) is not None


def test_live_paper_clock_quote_lookup_and_cancel_twice(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nbroker = "alpaca"\nmarket_data = "alpaca"\n'
        "metrics_sinks = []\nnotifiers = []\n"
        f'[runtime]\nwatchlist = ["{SYMBOL}"]\n',
        "utf-8",
    )
    settings = Settings.load(config)  # the keys come from the real environment
    if not (settings.secret("APCA_API_KEY_ID") and settings.secret("APCA_API_SECRET_KEY")):
        pytest.skip("APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set")
    with Kernel(settings) as kernel:
        broker = kernel.component("broker")
        feed = kernel.component("market_data")
        assert broker.live_capable is False  # the paper API

        account = broker.account()
        assert account.equity >= 0 and account.currency == "USD"

        now = feed.advance()
        session = feed.session(now)
        assert session.at == now and isinstance(session.is_open, bool)

        quote = feed.quote(SYMBOL)
        assert quote is not None and quote.last > 0 and quote.ts.tzinfo is not None
        # a buy at a fifth of the price never fills (and whole cents, as Alpaca requires)
        limit = max(Decimal("1.00"), (quote.last / 5).quantize(Decimal("0.01")))

        coid = f"tk-{uuid.uuid4().hex[:24]}"
        placed = broker.submit(
            OrderRequest(
                client_order_id=coid,
                symbol=SYMBOL,
                side="buy",
                quantity=1,
                order_type="limit",
                limit_price=limit,
                time_in_force="day",
            )
        )
        try:
            assert placed.client_order_id == coid and placed.broker_order_id
            assert placed.status is OrderStatus.WORKING
            found = broker.get_order(coid)
            assert found is not None and found.broker_order_id == placed.broker_order_id
            assert found.limit_price == limit and found.quantity == 1
            assert found.submitted_at is None or found.submitted_at <= datetime.now(UTC)
        finally:
            cancelled = broker.cancel(coid)
        # Alpaca cancels asynchronously: pending_cancel (still working) for a moment
        deadline = time.monotonic() + 15
        while cancelled is not None and not cancelled.terminal and time.monotonic() < deadline:
            time.sleep(0.5)
            cancelled = broker.get_order(coid)
        assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
        again = broker.cancel(coid)  # idempotent: a finished order is not an error
        assert again is not None and again.status is OrderStatus.CANCELLED
        assert broker.get_order(f"tk-{uuid.uuid4().hex[:24]}") is None  # unknown: 404
