"""Opt-in tests against Alpaca's real paper trading API and data API (need the internet
and a free paper account's keys; they cost nothing).

Run them with::

    APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=... \\
        .venv/bin/python -m pytest plugins/alpaca -m network

The broker test builds the broker and the feed as a run does, reads the account,
positions, AAPL's constraints, the market clock and session and a latest quote, places a
1-share limit buy at a fifth of the price (it cannot fill) under a ``tk-`` id, submits
it again (adopted, not doubled), looks it up by client order id, cancels it (waiting for
Alpaca's asynchronous ``canceled``), cancels it again, and looks up an unknown id. The
data test reads a quote, 20 daily bars and the session. Skipped when the keys are not
set; deselect them with ``-m "not network"`` in offline CI. They never run against the
live API.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tradekernel.api import (
    Kernel,
    MarketSession,
    OrderRequest,
    OrderStatus,
    Quote,
    Settings,
    bar_problem,
    quote_problem,
)

pytestmark = pytest.mark.network
SYMBOL = "AAPL"


def live_settings(tmp_path: Path, sections: str) -> Settings:
    """Settings of a kernel in ``tmp_path`` with ``sections`` added, the keys from the
    real environment; skips the test when they are not set."""
    config = tmp_path / "plugins.toml"
    config.write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n{sections}', "utf-8")
    settings = Settings.load(config)
    if not (settings.secret("APCA_API_KEY_ID") and settings.secret("APCA_API_SECRET_KEY")):
        pytest.skip("APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set")
    return settings


def test_live_paper_round_trip(tmp_path):
    settings = live_settings(
        tmp_path,
        '[components]\nbroker = "alpaca"\nmarket_data = "alpaca"\n'
        f'metrics_sinks = []\nnotifiers = []\n[runtime]\nwatchlist = ["{SYMBOL}"]\n',
    )
    with Kernel(settings) as kernel:
        broker = kernel.component("broker")
        feed = kernel.component("market_data")
        assert broker.live_capable is False  # the paper API

        account = broker.account()
        assert account.equity >= 0 and account.currency == "USD"
        broker.positions()
        assert broker.order_constraints(SYMBOL).price_tick is not None

        now = feed.advance()
        session = feed.session(now)
        assert session.at == now and isinstance(session.is_open, bool)

        quote = feed.quote(SYMBOL)
        assert quote is not None and quote.last > 0 and quote.ts.tzinfo is not None
        # a buy at a fifth of the price never fills (and whole cents, as Alpaca requires)
        limit = max(Decimal("1.00"), (quote.last / 5).quantize(Decimal("0.01")))

        coid = f"tk-{uuid.uuid4().hex[:24]}"
        request = OrderRequest(
            client_order_id=coid,
            symbol=SYMBOL,
            side="buy",
            quantity=1,
            order_type="limit",
            limit_price=limit,
            time_in_force="day",
        )
        placed = broker.submit(request)
        try:
            assert placed.client_order_id == coid and placed.broker_order_id
            assert placed.status is OrderStatus.WORKING
            assert broker.submit(request).broker_order_id == placed.broker_order_id  # adopted
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


def test_live_quote_bars_and_session(tmp_path):
    settings = live_settings(
        tmp_path,
        '[components]\nmarket_data = "alpaca"\nmetrics_sinks = []\nnotifiers = []\n'
        '[runtime]\nwatchlist = ["AAPL", "SPY"]\n'
        '[market_data.alpaca]\ntimeframe = "1Day"\n',
    )
    with Kernel(settings) as kernel:
        feed = kernel.component("market_data")
        now = feed.advance()
        quote = feed.quote("AAPL")
        assert isinstance(quote, Quote) and quote_problem(quote) is None
        bars = feed.bars("SPY", 20)
        assert len(bars) == 20 and all(bar_problem(b) is None for b in bars)
        assert [b.ts for b in bars] == sorted(b.ts for b in bars) and bars[-1].ts <= now
        session = feed.session(now)
        assert isinstance(session, MarketSession) and session.next_open is not None
        assert sum(feed.requests_by_cycle.values()) <= 6
