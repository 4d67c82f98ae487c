"""The Alpaca market data feed against the data-API double (httpx mock transport, no
socket): quotes from one snapshot call, bars filled once then updated in one call a
cycle, the forming bar revised, request counts, retries and faults, hostile bodies."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import Bar, MarketSession, Quote
from tradekernel.testing import MarketDataContract
from tradekernel_alpaca.double.data import MALFORMATIONS, DataAPI, ManualClock, feed_on
from tradekernel_alpaca.http import AlpacaError, AlpacaHTTP, AlpacaUnavailable, RateLimiter
from tradekernel_alpaca.marketdata import AlpacaDataConfig, AlpacaMarketData, timeframe_seconds

OPEN = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)  # Monday 09:30 New York
NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)  # 11:00: 90 minute bars so far
SYMBOLS = ["AAA", "BBB", "CCC"]


def venue(symbols: list[str] = SYMBOLS, now: datetime = NOW) -> DataAPI:
    api = DataAPI(clock=ManualClock(now))
    for i, symbol in enumerate(symbols):
        api.seed(symbol, OPEN, 390, price=100.0 + 50 * i)  # the whole session, served as due
    return api


def step(api: DataAPI, feed, minutes: int = 1) -> datetime:
    api.clock.advance(minutes=minutes)
    return feed.advance()


def cycle_requests(api: DataAPI, feed, symbols: list[str], limit: int = 50) -> int:
    before = api.data_requests()
    for symbol in symbols:
        feed.quote(symbol)
    for symbol in symbols:
        feed.bars(symbol, limit)
    return api.data_requests() - before


def test_quotes_come_from_one_snapshot_per_cycle():
    api = venue()
    feed = feed_on(api, symbols=SYMBOLS)
    feed.advance()
    quote = feed.quote("BBB")
    assert isinstance(quote, Quote) and quote.symbol == "BBB" and quote.ts == NOW
    assert quote.bid < quote.last < quote.ask and isinstance(quote.last, Decimal)
    assert quote.volume is not None and quote.volume > 0
    assert [feed.quote(s).symbol for s in SYMBOLS] == SYMBOLS  # from the cache
    assert [path for path, _ in api.requests] == ["/v2/stocks/snapshots"]
    assert "symbols=AAA%2CBBB%2CCCC" in api.requests[0][1] and "feed=iex" in api.requests[0][1]
    step(api, feed)
    feed.quote("AAA")
    assert api.data_requests() == 2  # a new cycle asks again


def test_requests_per_cycle_do_not_grow_with_the_watchlist():
    symbols = [f"S{i}" for i in range(10)]
    api = venue(symbols)
    feed = feed_on(api, symbols=symbols)
    feed.advance()
    first = cycle_requests(api, feed, symbols)
    counts = []
    for _ in range(5):
        step(api, feed)
        counts.append(cycle_requests(api, feed, symbols))
    assert first == 1 + len(symbols)  # a snapshot, and each window filled once
    assert counts == [2] * 5  # then a snapshot and one multi-symbol bars read a cycle
    assert sorted(feed.requests_by_cycle.values()) == sorted([first, *counts])


def test_bars_fill_once_then_follow_the_forming_bar():
    api = venue(["AAA"])
    feed = feed_on(api, symbols=["AAA"])
    feed.advance()
    bars = feed.bars("AAA", 30)
    assert len(bars) == 30 and all(isinstance(b, Bar) for b in bars)
    assert bars[-1].ts == NOW and [b.ts for b in bars] == sorted(b.ts for b in bars)
    assert feed.current_bar("AAA") == bars[-1]
    api.add_bar("AAA", NOW, 100, 130, 99, 129.5, 5000)  # the forming minute moves
    assert feed.bars("AAA", 30)[-1] == bars[-1]  # cached within the cycle
    now = step(api, feed, minutes=0)
    revised = feed.bars("AAA", 30)
    assert revised[-1].ts == NOW and revised[-1].close == Decimal("129.5")
    assert revised[:-1] == bars[:-1]
    now = step(api, feed, minutes=3)
    later = feed.bars("AAA", 30)
    assert later[-1].ts == now and len(later) == 30 and later[-4].close == Decimal("129.5")
    fill, *updates = [q for p, q in api.requests if p == "/v2/stocks/bars"]
    assert "sort=desc" in fill and "limit=100" in fill
    assert all("sort=asc" in q and "symbols=AAA" in q for q in updates)


def test_a_longer_history_than_held_is_read_again():
    api = venue(["AAA"])
    feed = feed_on(api, symbols=["AAA"], window=20)
    feed.advance()
    assert len(feed.bars("AAA", 10)) == 10
    assert len(feed.bars("AAA", 80)) == 80
    assert len(feed.bars("AAA", 500)) == 91  # all the venue has since the open
    assert len(feed.bars("AAA", 500)) == 91  # and it is not asked again this cycle
    assert api.data_requests() == 3


def test_bars_are_paged_with_next_page_token():
    api = venue(["AAA", "BBB"])
    feed = feed_on(api, symbols=["AAA", "BBB"])
    feed.advance()
    feed.bars("AAA", 5), feed.bars("BBB", 5)
    feed.page_size = 3
    step(api, feed, minutes=4)  # 4 new bars (and the last one revised) for each: 10 rows
    before = api.data_requests()
    assert [b.ts for b in feed.bars("AAA", 5)][-1] == NOW + timedelta(minutes=4)
    assert api.data_requests() - before == 4  # pages of 3
    assert [b.ts for b in feed.bars("BBB", 5)][-1] == NOW + timedelta(minutes=4)
    assert any("page_token=" in q for _p, q in api.requests)


@pytest.mark.parametrize("timeframe", ["5Min", "1Hour", "1Day"])
def test_longer_timeframes(timeframe):
    api = venue(["AAA"])
    feed = feed_on(api, symbols=["AAA"], timeframe=timeframe)
    feed.advance()
    bars = feed.bars("AAA", 10)
    seconds = timeframe_seconds(timeframe)
    assert bars and all(b.ts <= NOW for b in bars)
    assert all((b.ts - a.ts).total_seconds() == seconds for a, b in itertools.pairwise(bars))
    current = feed.current_bar("AAA")
    assert current is not None and current.ts <= NOW < current.ts + timedelta(seconds=seconds)


def test_unknown_and_hostile_symbols_are_empty_without_asking_for_hostile_ones():
    api = venue(["AAA"])
    feed = feed_on(api, symbols=["AAA"])
    feed.advance()
    for symbol in ("\x1b[2J", "", "aaa", "A" * 40, "AAA,BBB"):
        assert feed.quote(symbol) is None and feed.bars(symbol, 5) == []
    assert api.data_requests() == 0
    assert feed.quote("NOPE") is None and feed.bars("NOPE", 5) == []
    assert feed.current_bar("NOPE") is None


def test_a_quote_the_venue_stopped_updating_keeps_its_old_time():
    api = venue(["AAA"])
    api.stale_quote("AAA", timedelta(minutes=20))
    feed = feed_on(api, symbols=["AAA"])
    feed.advance()
    quote = feed.quote("AAA")
    assert quote.ts == NOW - timedelta(minutes=20)  # the kernel's screen: stale_quote


def test_the_quote_is_as_old_as_its_oldest_part():
    from tradekernel_alpaca.marketwire import parse_snapshot
    from tradekernel_alpaca.wire import parse_json

    snap = {
        "latestTrade": {"t": "2024-06-03T14:00:00.123456789Z", "p": 10.5, "s": 1},
        "latestQuote": {"t": "2024-06-03T15:00:00Z", "bp": 0, "ap": 10.6, "bs": 0, "as": 1},
        "dailyBar": None,
    }
    snap = parse_json(json.dumps(snap))
    quote = parse_snapshot("AAA", snap)
    assert quote.ts == datetime(2024, 6, 3, 14, 0, 0, 123456, tzinfo=UTC)
    assert quote.bid is None and quote.ask == Decimal("10.6")  # 0: an empty side
    assert parse_snapshot("AAA", {"latestQuote": snap["latestQuote"]}) is None


def test_retries_honour_retry_after_then_give_up():
    api = venue(["AAA"])
    waits: list[float] = []
    feed = feed_on(api, symbols=["AAA"], sleep=waits.append, max_read_attempts=3)
    feed.advance()
    api.fail_next(429, reset_after=7)
    api.fail_next(503)
    assert feed.quote("AAA") is not None
    assert waits == [7.0, 1.0] and api.data_requests() == 3
    assert feed.requests_by_cycle["step-1"] == 3  # every attempt counts against the budget
    step(api, feed)
    api.fail_next(500, count=3)
    with pytest.raises(AlpacaUnavailable, match="after 3 attempt"):
        feed.quote("AAA")
    asked = api.data_requests()
    with pytest.raises(AlpacaUnavailable):  # the paper broker, the guard: not asked again
        feed.quote("BBB")
    assert api.data_requests() == asked
    step(api, feed)
    assert feed.quote("AAA") is not None  # the next cycle asks again


def test_an_error_answer_is_a_clear_error():
    api = DataAPI(clock=ManualClock(NOW), sip=False)
    api.seed("AAA", OPEN, 10)
    feed = feed_on(api, symbols=["AAA"], feed="sip")
    feed.advance()
    with pytest.raises(AlpacaError, match="HTTP 403: subscription does not permit"):
        feed.quote("AAA")
    iex = feed_on(api, symbols=["AAA"])
    api.key_id = "PKOTHERKEY000000"  # the key was revoked
    with pytest.raises(AlpacaError, match="HTTP 401: request is not authorized"):
        iex.bars("AAA", 5)


@pytest.mark.parametrize("how", MALFORMATIONS)
def test_a_malformed_body_is_an_error_or_a_value_for_the_screen(how):
    from tradekernel.api import quote_problem

    api = venue(["AAA"])
    feed = feed_on(api, symbols=["AAA"])
    feed.advance()
    api.malform_next(how)
    if how == "negative":  # parses: the kernel's screen names it, no trade on it
        quote = feed.quote("AAA")
        assert quote_problem(quote)[0] == "non_positive_price"
        return
    with pytest.raises(AlpacaError) as caught:
        feed.quote("AAA")
    message = str(caught.value)
    assert "\x1b" not in message and "\x07" not in message and "\n" not in message
    assert message.startswith("alpaca: ")
    step(api, feed)
    assert feed.quote("AAA") is not None  # the next cycle asks again


def test_config_errors_name_the_key():
    for kwargs, message in (
        ({"timeframe": "2Day"}, "timeframe: expected 1Min"),
        ({"timeframe": "60Min"}, "timeframe"),
        ({"symbols": ["aapl"]}, "symbols: expected tickers"),
        ({"window": 0}, "window: expected a whole number"),
    ):
        with pytest.raises(ValueError, match=message):
            AlpacaDataConfig(**kwargs)


class TestAlpacaFeedContract(MarketDataContract):
    """The kernel's market data contract, on the double during a session."""

    steps = 3

    def make_component(self, factory):
        api = venue(["AAA", "BBB"])
        feed = feed_on(api, symbols=["AAA", "BBB"])
        clock_advance = feed.advance

        def advance():  # the venue's time moves with the feed's steps
            api.clock.advance(minutes=1)
            return clock_advance()

        feed.advance = advance
        return feed


_any_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.sampled_from(["2024-06-03T15:00:00Z", "AAA", "bars", "latestTrade"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["AAA", "bars", "latestTrade", "latestQuote", "t", "p", "o", "h"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None)
@given(body=_any_json, status=st.sampled_from([200, 200, 200, 400, 404, 422]))
def test_any_answer_is_a_quote_bars_or_a_clear_error(body, status):
    """Whatever the venue answers, the feed returns kernel models or raises AlpacaError."""
    content = json.dumps(body).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=content))
    config = AlpacaDataConfig(symbols=["AAA"], max_read_attempts=1)
    http = AlpacaHTTP(
        config, key_id="k", secret_key="s", transport=transport, limiter=RateLimiter(10**6)
    )
    feed = AlpacaMarketData(config, http, clock=lambda: NOW)
    feed.advance()
    for call in (
        lambda: feed.quote("AAA"),
        lambda: feed.bars("AAA", 5),
        lambda: feed.session(NOW),
    ):
        try:
            value = call()
        except AlpacaError as exc:
            assert str(exc).startswith("alpaca: ") and "\n" not in str(exc)
            continue
        assert value is None or isinstance(value, Quote | list | MarketSession)
        if isinstance(value, list):
            assert all(isinstance(b, Bar) for b in value)
