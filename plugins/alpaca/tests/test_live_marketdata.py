"""Opt-in test against Alpaca's real data API and paper trading API (needs the internet
and a free paper account's keys; read-only, costs nothing).

Run it with::

    APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=... \\
        .venv/bin/python -m pytest plugins/alpaca -m network

It is skipped when the keys are not set; deselect it with ``-m "not network"`` offline.
"""

from __future__ import annotations

import pytest
from tradekernel.api import Kernel, MarketSession, Quote, Settings, bar_problem, quote_problem

pytestmark = pytest.mark.network


def test_live_quote_bars_and_session(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nmarket_data = "alpaca"\nmetrics_sinks = []\nnotifiers = []\n'
        '[runtime]\nwatchlist = ["AAPL", "SPY"]\n'
        '[market_data.alpaca]\ntimeframe = "1Day"\n',
        encoding="utf-8",
    )
    settings = Settings.load(config)  # the keys come from the real environment
    if not (settings.secret("APCA_API_KEY_ID") and settings.secret("APCA_API_SECRET_KEY")):
        pytest.skip("APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set")
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
