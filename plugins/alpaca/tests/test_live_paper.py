"""Opt-in test against Alpaca's real PAPER API (needs the internet and a paper account's
keys; places and cancels one order that cannot fill).

Run it with::

    APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=... \\
        .venv/bin/python -m pytest plugins/alpaca -m network

It is skipped when the keys are not set, and deselect it with ``-m "not network"`` in
offline CI. The broker and the feed are built by the kernel from the configuration below
(the default paper URL: the live API is refused without live mode and its
acknowledgement), the keys read through Settings as in any run."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradekernel.api import Kernel, OrderRequest, OrderStatus, Settings

pytestmark = pytest.mark.network
SYMBOL = "AAPL"


def test_live_paper_account_clock_quote_and_an_order_cancelled_twice(tmp_path):
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
