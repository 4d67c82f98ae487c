"""Opt-in test against Alpaca's real paper API (needs the internet and paper keys).

Run it with::

    APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=... \\
        .venv/bin/python -m pytest plugins/alpaca -m network

It reads the account, positions and AAPL's constraints, places a 1-share AAPL limit buy
at $1 (far below the market: it cannot fill), finds it by client order id from a second
broker instance, cancels it, and cancels it again. Skipped when the keys are not set;
deselect it with ``-m "not network"`` in offline CI. It never runs against the live API.
"""

from __future__ import annotations

import uuid

import pytest
from tradekernel.api import Kernel, OrderRequest, OrderStatus, Settings

pytestmark = pytest.mark.network


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
