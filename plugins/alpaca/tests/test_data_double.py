"""One double serves the trading and the data API: through the httpx mock transport and
through the real HTTP server on 127.0.0.1 (the broker and the feed share it, its faults
and its rate-limit headers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tradekernel_alpaca.double import AlpacaDouble, serve
from tradekernel_alpaca.double.data import ManualClock, market
from tradekernel_alpaca.http import AlpacaError, AlpacaHTTP, RateLimiter
from tradekernel_alpaca.marketdata import AlpacaDataConfig, AlpacaMarketData

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)  # Monday 11:00 New York


def _double() -> AlpacaDouble:
    double = AlpacaDouble(clock=ManualClock(NOW))
    market(double).seed("AAPL", NOW - timedelta(minutes=30), 60, price=190.0)
    return double


def _feed(double: AlpacaDouble, url: str | None = None, waits: list[float] | None = None):
    urls = {"base_url": url, "data_url": url} if url else {}
    config = AlpacaDataConfig(symbols=["AAPL"], max_read_attempts=3, **urls)
    http = AlpacaHTTP(
        config,
        key_id=double.key_id,
        secret_key=double.secret_key,
        transport=None if url else double.transport(),
        sleep=(waits if waits is not None else []).append,
        limiter=RateLimiter(100_000),
        wall_clock=lambda: double.clock().timestamp(),
    )
    return AlpacaMarketData(config, http, clock=double.clock)


def _check_feed(double: AlpacaDouble, feed: AlpacaMarketData, waits: list[float]) -> None:
    now = feed.advance()
    double.fail_next(503, reset_after=4)
    quote = feed.quote("AAPL")
    assert quote is not None and quote.ts == now and quote.bid < quote.ask
    assert waits == [4.0]  # the double's Retry-After, honoured
    bars = feed.bars("AAPL", 20)
    assert len(bars) == 20 and bars[-1].ts == now
    session = feed.session(now)
    assert session.is_open and session.source == "alpaca /v2/clock"
    assert feed.http.rate_limit is not None and feed.http.rate_limit[1] == 200
    paths = [p for _m, p in double.requests]
    assert paths == ["/v2/stocks/snapshots"] * 2 + ["/v2/stocks/bars", "/v2/calendar", "/v2/clock"]
    market(double).malform_next("nan")
    feed.advance()
    with pytest.raises(AlpacaError, match="bad response"):
        feed.quote("AAPL")


def test_one_double_serves_both_apis_through_the_mock_transport():
    double = _double()
    waits: list[float] = []
    _check_feed(double, _feed(double, waits=waits), waits)
    assert double.trading is not None  # the same account's trading state


def test_the_feed_through_the_real_server_on_127_0_0_1():
    double = _double()
    waits: list[float] = []
    with serve(double) as server:
        feed = _feed(double, server.url, waits)
        try:
            _check_feed(double, feed, waits)
            double.fail_next(503, count=3)
            feed.advance()
            with pytest.raises(AlpacaError, match="after 3 attempt"):
                feed.quote("AAPL")
        finally:
            feed.close()


def test_a_truncated_body_through_the_shared_double_is_an_error():
    double = _double()
    feed = _feed(double)
    feed.advance()
    market(double).malform_next("truncated")
    with pytest.raises(AlpacaError, match="bad market data: snapshots: expected a JSON object"):
        feed.quote("AAPL")


@pytest.mark.parametrize("served", [False, True], ids=["mock transport", "127.0.0.1"])
@pytest.mark.parametrize("injected", ["data", "account"])
def test_an_injected_429_reset_wins_over_the_rate_headers(served, injected):
    """A 429 injected on the data part (``market(double).fail_next``) or on the account
    (``double.fail_next``) keeps its own ``X-RateLimit-Reset``, whatever the spelling:
    the client waits exactly until it, not the rate window's end nor a backoff."""
    double = _double()
    waits: list[float] = []
    with serve(double) as server:
        feed = _feed(double, server.url if served else None, waits)
        try:
            feed.advance()
            (market(double) if injected == "data" else double).fail_next(429, reset_after=7)
            assert feed.quote("AAPL") is not None
        finally:
            feed.close()
    assert waits == [7.0]
    paths = [p for _m, p in double.requests]
    assert paths[-2:] == ["/v2/stocks/snapshots"] * 2  # refused once, then answered
