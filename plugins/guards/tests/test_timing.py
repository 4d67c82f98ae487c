from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tradekernel.api import Duration, MarketSession
from tradekernel_guards import (
    MaxOrdersPerDayConfig,
    MaxOrdersPerDayGuard,
    OrderRateConfig,
    OrderRateGuard,
    SessionHoursConfig,
    SessionHoursGuard,
    SymbolCooldownConfig,
    SymbolCooldownGuard,
)

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)  # as in conftest


def code(verdict):
    return verdict.code if not verdict.allow else "allow"


def test_max_orders_per_day(h):
    guard = MaxOrdersPerDayGuard(MaxOrdersPerDayConfig(limit=3))
    assert code(guard.check(h.intent(), h.ctx(orders_today=2))) == "allow"
    assert code(guard.check(h.intent(), h.ctx(orders_today=3))) == "max_orders_per_day_reached"


class TestOrderRate:
    guard = OrderRateGuard(OrderRateConfig(max_orders=2, window=Duration(60)))

    def times(self, *seconds_ago: float):
        return [NOW - timedelta(seconds=s) for s in seconds_ago]

    def test_under_and_at_the_limit(self, h):
        assert (
            code(self.guard.check(h.intent(), h.ctx(recent_order_times=self.times(5)))) == "allow"
        )
        verdict = self.guard.check(h.intent(), h.ctx(recent_order_times=self.times(5, 30)))
        assert code(verdict) == "order_rate_exceeded"
        assert "2 orders in the last 1m, limit 2" in verdict.detail

    def test_window_edges(self, h):
        # exactly one window old: no longer counts; a microsecond younger: counts
        exactly = self.times(1, 60)
        assert code(self.guard.check(h.intent(), h.ctx(recent_order_times=exactly))) == "allow"
        inside = [
            NOW - timedelta(seconds=1),
            NOW - timedelta(seconds=60) + timedelta(microseconds=1),
        ]
        assert (
            code(self.guard.check(h.intent(), h.ctx(recent_order_times=inside)))
            == "order_rate_exceeded"
        )
        # an order stamped at as_of itself counts
        assert code(self.guard.check(h.intent(), h.ctx(recent_order_times=self.times(0, 0)))) == (
            "order_rate_exceeded"
        )

    def test_old_orders_ignored_and_no_clock(self, h):
        old = self.times(61, 120, 3600)
        assert code(self.guard.check(h.intent(), h.ctx(recent_order_times=old))) == "allow"
        assert code(self.guard.check(h.intent(), h.ctx(as_of=None))) == "no_clock"


class TestSymbolCooldown:
    guard = SymbolCooldownGuard(SymbolCooldownConfig(cooldown=Duration(300)))

    def test_cooldown(self, h):
        recent = {"AAA": NOW - timedelta(seconds=299)}
        verdict = self.guard.check(h.intent("AAA"), h.ctx(last_trade_time=recent))
        assert code(verdict) == "symbol_cooldown_active"
        assert "299s ago, cooldown 5m" in verdict.detail
        assert code(self.guard.check(h.intent("BBB"), h.ctx(last_trade_time=recent))) == "allow"
        done = {"AAA": NOW - timedelta(seconds=300)}
        assert code(self.guard.check(h.intent("AAA"), h.ctx(last_trade_time=done))) == "allow"

    def test_never_traded_and_no_clock(self, h):
        assert code(self.guard.check(h.intent(), h.ctx(as_of=None))) == "allow"
        recent = {"AAA": NOW}
        assert (
            code(self.guard.check(h.intent(), h.ctx(as_of=None, last_trade_time=recent)))
            == "no_clock"
        )


class TestSessionHours:
    ny = SessionHoursGuard(SessionHoursConfig())

    @pytest.mark.parametrize(
        ("when", "expected"),
        [
            (datetime(2024, 6, 3, 13, 30, tzinfo=UTC), "allow"),  # Mon 09:30 EDT: open
            (datetime(2024, 6, 3, 13, 29, 59, tzinfo=UTC), "outside_session"),
            (datetime(2024, 6, 3, 19, 59, 59, tzinfo=UTC), "allow"),  # 15:59:59 EDT
            (datetime(2024, 6, 3, 20, 0, tzinfo=UTC), "outside_session"),  # 16:00 close
            (datetime(2024, 1, 8, 13, 30, tzinfo=UTC), "outside_session"),  # 08:30 EST
            (datetime(2024, 1, 8, 14, 30, tzinfo=UTC), "allow"),  # 09:30 EST
            (datetime(2024, 6, 8, 15, 0, tzinfo=UTC), "outside_session"),  # Saturday
            (datetime(2024, 6, 10, 1, 0, tzinfo=UTC), "outside_session"),  # Sun 21:00 EDT
        ],
    )
    def test_new_york_with_dst_and_weekends(self, when, expected, h):
        assert code(self.ny.check(h.intent(), h.ctx(as_of=when))) == expected

    def test_other_timezone_and_weekdays(self, h):
        tokyo = SessionHoursGuard(
            SessionHoursConfig(
                timezone="Asia/Tokyo", open="09:00", close="15:00", weekdays=["Saturday"]
            )
        )
        # Sat 10:00 JST is Sat 01:00 UTC; Fri 10:00 JST is Fri 01:00 UTC
        assert (
            code(tokyo.check(h.intent(), h.ctx(as_of=datetime(2024, 6, 8, 1, tzinfo=UTC))))
            == "allow"
        )
        verdict = tokyo.check(h.intent(), h.ctx(as_of=datetime(2024, 6, 7, 1, tzinfo=UTC)))
        assert code(verdict) == "outside_session"
        assert verdict.detail == "Fri 10:00 Asia/Tokyo is outside 09:00-15:00 sat"

    def test_no_clock(self, h):
        assert code(self.ny.check(h.intent(), h.ctx(as_of=None))) == "no_clock"

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
            ({"open": "9h30"}, "open: expected a time like '09:30', got '9h30'"),
            ({"close": "09:00"}, "close: must be later than open (09:30)"),
            ({"weekdays": []}, "weekdays: expected at least one weekday"),
            (
                {"weekdays": ["mon", "funday"]},
                "weekdays: expected names like 'mon' or 'monday', got 'funday'",
            ),
        ],
    )
    def test_config_validation(self, kwargs, message, h):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            SessionHoursConfig(**kwargs)


class VenueFeed:
    """A market data feed that knows the venue's session (as a live feed's ``session``)."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.asked: list[datetime] = []

    def session(self, at: datetime):
        self.asked.append(at)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


OPEN = datetime(2024, 11, 29, 14, 30, tzinfo=UTC)  # the day after Thanksgiving: 09:30 EST
EARLY_CLOSE = datetime(2024, 11, 29, 18, 0, tzinfo=UTC)  # 13:00 EST


def _venue_guard(answer) -> tuple[SessionHoursGuard, VenueFeed]:
    feed = VenueFeed(answer)
    config = SessionHoursConfig(source="market_data")
    return SessionHoursGuard(config, resolve=lambda kind: {"market_data": feed}[kind]), feed


class TestSessionFromTheVenue:
    def session(self, at: datetime, is_open: bool, **kw) -> MarketSession:
        return MarketSession(
            at=at,
            is_open=is_open,
            opens_at=kw.get("opens_at", OPEN),
            closes_at=kw.get("closes_at", EARLY_CLOSE),
            next_open=kw.get("next_open"),
            source="venue /v2/calendar",
        )

    def test_an_early_close_the_table_would_miss_is_denied(self, h):
        at = datetime(2024, 11, 29, 19, 0, tzinfo=UTC)  # 14:00 EST: the table says open
        assert SessionHoursGuard(SessionHoursConfig()).in_session(at)
        nxt = datetime(2024, 12, 2, 14, 30, tzinfo=UTC)
        guard, feed = _venue_guard(self.session(at, False, next_open=nxt))
        verdict = guard.check(h.intent(), h.ctx(as_of=at))
        assert code(verdict) == "outside_session" and feed.asked == [at]
        assert verdict.detail == (
            "the market is closed at Fri 2024-11-29 14:00 America/New_York: today "
            "Fri 2024-11-29 09:30 America/New_York-Fri 2024-11-29 13:00 America/New_York, "
            "next open Mon 2024-12-02 09:30 America/New_York (venue /v2/calendar)"
        )

    def test_open_session_allows_with_its_close(self, h):
        at = datetime(2024, 11, 29, 15, 0, tzinfo=UTC)
        guard, _feed = _venue_guard(self.session(at, True))
        verdict = guard.check(h.intent(), h.ctx(as_of=at))
        assert code(verdict) == "allow"
        assert verdict.detail == "closes Fri 2024-11-29 13:00 America/New_York (venue /v2/calendar)"

    def test_a_holiday_has_no_session(self, h):
        at = datetime(2024, 11, 28, 15, 0, tzinfo=UTC)  # Thanksgiving
        guard, _ = _venue_guard(self.session(at, False, opens_at=None, closes_at=None))
        verdict = guard.check(h.intent(), h.ctx(as_of=at))
        assert code(verdict) == "outside_session" and "no session today" in verdict.detail

    @pytest.mark.parametrize(
        ("answer", "detail"),
        [
            (None, "the feed cannot tell the session"),
            ("open", "the feed cannot tell the session"),
            (RuntimeError("calendar unreadable"), "RuntimeError: calendar unreadable"),
        ],
    )
    def test_a_feed_that_cannot_tell_denies(self, h, answer, detail):
        guard, _ = _venue_guard(answer)
        verdict = guard.check(h.intent(), h.ctx(as_of=OPEN))
        assert code(verdict) == "no_session" and detail in verdict.detail

    def test_a_feed_without_session_denies_and_no_clock_wins(self, h):
        guard = SessionHoursGuard(
            SessionHoursConfig(source="market_data"), resolve=lambda kind: object()
        )
        verdict = guard.check(h.intent(), h.ctx(as_of=OPEN))
        assert code(verdict) == "no_session" and 'source = "table"' in verdict.detail
        assert code(guard.check(h.intent(), h.ctx(as_of=None))) == "no_clock"
