"""The venue's session from /v2/clock and /v2/calendar (holidays, early closes, how
often they are read), and the market data parsers fuzzed with hostile JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import Bar, MarketSession, Quote
from tradekernel_alpaca.double.data import DataAPI, ManualClock, feed_on, weekday_calendar
from tradekernel_alpaca.http import AlpacaError
from tradekernel_alpaca.marketwire import (
    parse_bars,
    parse_calendar,
    parse_clock,
    parse_snapshot,
)
from tradekernel_alpaca.wire import BadResponse, parse_json

THANKSGIVING = date(2024, 11, 28)
EARLY_CLOSE = date(2024, 11, 29)
HOLIDAYS = {THANKSGIVING: None, EARLY_CLOSE: time(13, 0)}


def venue(now: datetime) -> DataAPI:
    calendar = weekday_calendar(date(2024, 11, 1), date(2024, 12, 31), HOLIDAYS)
    api = DataAPI(clock=ManualClock(now), calendar=calendar)
    api.seed("AAA", now - timedelta(minutes=5), 10)
    return api


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def paths(api: DataAPI) -> list[str]:
    return [p for p, _ in api.requests]


def test_an_open_session_from_the_clock_with_the_days_hours():
    api = venue(utc(29, 15))  # 10:00 New York, the day after Thanksgiving
    feed = feed_on(api)
    now = feed.advance()
    session = feed.session(now)
    assert isinstance(session, MarketSession) and session.is_open
    assert session.source == "alpaca /v2/clock"
    assert (session.opens_at, session.closes_at) == (utc(29, 14, 30), utc(29, 18))  # 13:00 EST
    assert session.next_open == utc(2, 14, 30, month=12)
    assert paths(api) == ["/v2/calendar", "/v2/clock"]
    assert "start=2024-11-22" in api.requests[0][1] and "end=2024-12-13" in api.requests[0][1]


def test_the_early_close_ends_the_session_and_the_clock_is_read_again_only_then():
    api = venue(utc(29, 15))
    feed = feed_on(api, clock_max_age=60)
    for minutes in (0, 60, 120, 60):  # 10:00, 11:00, 13:00, 14:00 New York
        api.clock.advance(minutes=minutes)
        session = feed.session(feed.advance())
    assert not session.is_open and session.next_open == utc(2, 14, 30, month=12)
    assert paths(api) == ["/v2/calendar", "/v2/clock", "/v2/clock"]  # again past 13:00


def test_the_clock_is_read_again_after_clock_max_age_minutes():
    api = venue(utc(29, 15))
    feed = feed_on(api)  # the default: 5 minutes
    for minutes in (0, 3, 3, 3):  # 10:00, 10:03, 10:06, 10:09
        api.clock.advance(minutes=minutes)
        assert feed.session(feed.advance()).is_open
    assert paths(api).count("/v2/clock") == 2  # 10:00 and 10:06


def test_a_holiday_has_no_hours_and_past_times_use_the_calendar():
    api = venue(utc(29, 15))
    feed = feed_on(api)
    feed.advance()
    holiday = feed.session(utc(28, 16))
    assert not holiday.is_open and holiday.opens_at is None and holiday.closes_at is None
    assert holiday.source == "alpaca /v2/calendar" and holiday.next_open == utc(29, 14, 30)
    monday = feed.session(utc(25, 15))
    assert monday.is_open and monday.closes_at == utc(25, 21)
    assert paths(api).count("/v2/clock") == 0  # no clock for a time that is not now
    assert paths(api).count("/v2/calendar") == 1  # both days in the range read for the first
    feed.session(utc(1, 15))  # a day outside it
    assert paths(api).count("/v2/calendar") == 2
    api.clock.advance(days=1)
    feed.session(feed.advance())  # a new New York day reads the calendar again
    assert paths(api).count("/v2/calendar") == 3


def test_a_closed_venue_the_calendar_calls_open_is_closed():
    """The clock wins for the present: a closure the calendar read earlier did not know
    (an exchange-wide halt, a day of mourning) keeps the session closed."""
    api = venue(utc(26, 15))
    feed = feed_on(api)
    now = feed.advance()
    assert feed.session(now - timedelta(minutes=20)).is_open  # the day's calendar, cached
    api.calendar = [d for d in api.calendar if d.day != date(2024, 11, 26)]  # the venue: shut
    session = feed.session(now)
    assert not session.is_open and session.source == "alpaca /v2/clock"
    assert session.closes_at == utc(26, 21)  # the calendar's hours, as read


@pytest.mark.parametrize(
    "body",
    [
        [{"date": "2024-11-29", "open": "13:00", "close": "09:30"}],
        [{"date": "29/11/2024", "open": "09:30", "close": "16:00"}],
        [{"date": "2024-11-29", "open": "9h30", "close": "16:00"}],
        {"date": "2024-11-29"},
    ],
)
def test_a_malformed_calendar_is_a_clear_error(body):
    with pytest.raises(BadResponse):
        parse_calendar(parse_json(json.dumps(body)))


def test_a_malformed_clock_answer_is_an_error_not_a_session():
    api = venue(utc(29, 15))
    feed = feed_on(api)
    now = feed.advance()
    feed.session(utc(25, 15))  # the calendar is read and cached
    api.malform_next("wrong_types")
    with pytest.raises(AlpacaError, match="bad market data"):
        feed.session(now)
    for bad in ({"is_open": "true"}, {"timestamp": "now", "is_open": True}):
        with pytest.raises(BadResponse):
            parse_clock(parse_json(json.dumps(bad)))


# -- hostile JSON, fuzzed ---------------------------------------------------------------

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["2024-06-03T15:00:00Z", "2024-06-03T15:00:00.123456789-04:00", "1e999"]),
)
_json = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
_number = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(["12.5", "-1", "0", "1e400", "NaN", "abc", ""]),
)
_time = st.one_of(
    st.sampled_from(["2024-06-03T15:00:00Z", "2024-06-03T15:00:00.999999999Z", "tomorrow"]),
    st.none(),
    st.integers(),
)
_bar = st.fixed_dictionaries({"t": _time, **{k: _number for k in "ohlcv"}})
_snapshot = st.fixed_dictionaries(
    {
        "latestTrade": st.one_of(st.none(), st.fixed_dictionaries({"t": _time, "p": _number})),
        "latestQuote": st.one_of(
            st.none(), st.fixed_dictionaries({"t": _time, "bp": _number, "ap": _number})
        ),
        "dailyBar": st.one_of(st.none(), _bar),
    }
)


def _through_the_wire(value):
    try:
        return parse_json(json.dumps(value, default=str))
    except BadResponse:
        return None


@settings(max_examples=300, deadline=None)
@given(st.one_of(_snapshot, _json))
def test_a_snapshot_is_a_quote_none_or_a_bad_response(value):
    body = _through_the_wire(value)
    try:
        quote = parse_snapshot("AAA", body)
    except BadResponse as exc:
        assert str(exc)
        return
    assert quote is None or isinstance(quote, Quote)
    if quote is not None:
        assert quote.ts.tzinfo is not None and quote.last.is_finite()
        for price in (quote.last, quote.bid, quote.ask, quote.volume):
            assert price is None or (isinstance(price, Decimal) and abs(price) <= Decimal("1e15"))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.fixed_dictionaries({"bars": st.fixed_dictionaries({"AAA": st.lists(_bar, max_size=3)})}),
        _json,
    )
)
def test_a_bars_body_is_bars_or_a_bad_response(value):
    body = _through_the_wire(value)
    try:
        out = parse_bars(body)
    except BadResponse:
        return
    for symbol, bars in out.items():
        assert all(isinstance(b, Bar) and b.symbol == symbol and b.ts.tzinfo for b in bars)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_clock_and_calendar_are_parsed_or_refused(value):
    body = _through_the_wire(value)
    try:
        stamp, is_open, opens, closes = parse_clock(body)
        assert isinstance(is_open, bool) and stamp.tzinfo and opens.tzinfo and closes.tzinfo
    except BadResponse:
        pass
    try:
        days = parse_calendar(body)
    except BadResponse:
        return
    assert all(opens.tzinfo and opens < closes for opens, closes in days.values())


# -- times out of datetime's range ------------------------------------------------------


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_time_past_datetimes_range_is_a_bad_response_naming_the_field(stamp):
    with pytest.raises(BadResponse, match="t: time out of range"):
        parse_snapshot("AAA", parse_json(json.dumps({"latestTrade": {"p": "1.5", "t": stamp}})))
    clock = {"timestamp": stamp, "is_open": True, "next_open": stamp, "next_close": stamp}
    with pytest.raises(BadResponse, match="timestamp: time out of range"):
        parse_clock(parse_json(json.dumps(clock)))
    with pytest.raises(BadResponse, match="close: time out of range"):
        parse_calendar(parse_json('[{"date": "9999-12-31", "open": "09:30", "close": "23:59"}]'))


def test_an_arithmetic_error_in_any_feed_parser_is_an_alpaca_error():
    feed = feed_on(venue(utc(29, 15)))

    def overflowing(_body):
        raise OverflowError("date value out of range")

    with pytest.raises(AlpacaError, match="bad market data: overflowing: OverflowError"):
        feed._safe(overflowing, {})


# -- a lying /v2/clock --------------------------------------------------------------------


def _lying_feed(clock_answer):
    """A feed on a scripted venue: weekday calendar 09:30-16:00 New York, ``clock_answer(now)``
    for /v2/clock; returns (feed, now holder, events, clock reads)."""
    import httpx
    from tradekernel_alpaca.http import AlpacaHTTP, RateLimiter
    from tradekernel_alpaca.marketdata import AlpacaDataConfig, AlpacaMarketData

    state = {"now": datetime(2026, 1, 5, 15, 0, tzinfo=UTC), "clock": 0}  # Monday 10:00 NY
    events: list = []

    def handler(request):
        if request.url.path == "/v2/clock":
            state["clock"] += 1
            return httpx.Response(200, json=clock_answer(state["now"]))
        start = date.fromisoformat(request.url.params["start"])
        end = date.fromisoformat(request.url.params["end"])
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return httpx.Response(
            200,
            json=[
                {"date": d.isoformat(), "open": "09:30", "close": "16:00"}
                for d in days
                if d.weekday() < 5
            ],
        )

    config = AlpacaDataConfig(symbols=["AAA"])
    http = AlpacaHTTP(
        config,
        key_id="PKCLOCKKEY000000001",
        secret_key="clock-secret-0123456789abcdef",
        emit=lambda stage, kind, **f: events.append((stage, kind, f)),
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        limiter=RateLimiter(10_000),
    )
    return AlpacaMarketData(config, http, clock=lambda: state["now"]), state, events


def _z(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def test_a_clock_announcing_a_close_years_ahead_is_not_trusted():
    def answer(now):
        far = _z(now + timedelta(days=3650))
        return {"timestamp": _z(now), "is_open": True, "next_open": far, "next_close": far}

    feed, state, events = _lying_feed(answer)
    with pytest.raises(AlpacaError, match="not trusted: next_open"):
        feed.session(feed.advance())
    kinds = [(stage, kind) for stage, kind, _ in events]
    assert kinds == [("broker", "clock_distrusted")]
    state["now"] = datetime(2026, 1, 10, 23, 0, tzinfo=UTC)  # Saturday night
    with pytest.raises(AlpacaError, match="not trusted"):
        feed.session(feed.advance())
    assert state["clock"] == 2  # read again (older than clock_max_age), still lying


def test_a_clock_saying_open_on_a_closed_calendar_day_is_not_trusted():
    def answer(now):
        return {
            "timestamp": _z(now),
            "is_open": True,
            "next_open": _z(now + timedelta(days=2)),
            "next_close": _z(now + timedelta(hours=1)),
        }

    feed, state, events = _lying_feed(answer)
    state["now"] = datetime(2026, 1, 10, 23, 0, tzinfo=UTC)  # Saturday
    with pytest.raises(AlpacaError, match="calendar has the market closed"):
        feed.session(feed.advance())
    assert events[-1][1] == "clock_distrusted" and events[-1][2]["is_open"] is True


def test_a_clock_open_past_the_calendars_close_or_far_from_now_is_not_trusted():
    def late_close(now):
        return {
            "timestamp": _z(now),
            "is_open": True,
            "next_open": _z(now + timedelta(days=1)),
            "next_close": _z(now + timedelta(hours=10)),  # 20:00 NY, the calendar says 16:00
        }

    feed, _, _ = _lying_feed(late_close)
    with pytest.raises(AlpacaError, match="after the calendar's close"):
        feed.session(feed.advance())

    def ancient(now):
        return {
            "timestamp": "0001-01-01T00:00:30Z",
            "is_open": True,
            "next_open": _z(now + timedelta(days=1)),
            "next_close": _z(now + timedelta(hours=1)),
        }

    feed, _, _ = _lying_feed(ancient)
    with pytest.raises(AlpacaError, match=r"timestamp .* is not now"):
        feed.session(feed.advance())


def test_an_honest_clock_is_trusted():
    def answer(now):
        return {
            "timestamp": _z(now),
            "is_open": True,
            "next_open": _z(now + timedelta(days=1)),
            "next_close": _z(now + timedelta(hours=6)),  # 16:00 NY
        }

    feed, _, events = _lying_feed(answer)
    session = feed.session(feed.advance())
    assert session.is_open and session.source == "alpaca /v2/clock" and events == []
