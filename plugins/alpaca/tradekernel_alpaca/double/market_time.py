"""The data double's clock, calendar and wire helpers: New York trading days (holidays
and early closes), Alpaca's time formats, a clock tests move by hand, and the broken
bodies :meth:`~tradekernel_alpaca.double.data.DataAPI.malform_next` sends."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
"""The exchange's time zone: calendar times and daily bars are New York time."""

MALFORMATIONS = ("truncated", "not_json", "wrong_types", "nan", "huge", "negative", "escape")
"""What :meth:`DataAPI.malform_next` can make of the next body."""


def rfc3339(when: datetime, nanos: bool = True) -> str:
    """``when`` as Alpaca writes it: UTC with ``Z``, nanoseconds for quotes and trades."""
    when = when.astimezone(UTC)
    if not nanos:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}123Z"


def offset_time(when: datetime) -> str:
    """A clock time as ``/v2/clock`` writes it: New York time with its offset."""
    return when.astimezone(NEW_YORK).isoformat()


@dataclass
class CalendarDay:
    """One trading day of the exchange calendar (New York local times)."""

    day: date
    open: time = time(9, 30)
    close: time = time(16, 0)

    def json(self) -> dict[str, str]:
        return {
            "date": self.day.isoformat(),
            "open": self.open.strftime("%H:%M"),
            "close": self.close.strftime("%H:%M"),
            "session_open": "0400",
            "session_close": "2000",
            "settlement_date": (self.day + timedelta(days=1)).isoformat(),
        }

    def bounds(self) -> tuple[datetime, datetime]:
        """The session's open and close, UTC."""
        opens = datetime.combine(self.day, self.open, NEW_YORK).astimezone(UTC)
        closes = datetime.combine(self.day, self.close, NEW_YORK).astimezone(UTC)
        return opens, closes


def weekday_calendar(start: date, end: date, holidays: dict[date, time | None] | None = None):
    """Weekdays from ``start`` to ``end``: 09:30-16:00 New York, except ``holidays``
    (``None``: closed; a time: an early close)."""
    holidays = holidays or {}
    days = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            if day not in holidays:
                days.append(CalendarDay(day))
            elif holidays[day] is not None:
                days.append(CalendarDay(day, close=holidays[day]))
        day += timedelta(days=1)
    return days


class ManualClock:
    """A clock a test moves by hand, shared by the double and the feed under test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward (``minutes=1``, ``seconds=30`` ...) and return it."""
        self.now += timedelta(**delta)
        return self.now


def malformed_body(body: Any, how: str) -> bytes:
    text = json.dumps(body)
    if how == "truncated":
        return text[: max(1, len(text) // 2)].encode()
    if how == "not_json":
        return b"<html><body>502 Bad Gateway</body></html>"
    replacements = {
        "wrong_types": lambda v: "abc" if isinstance(v, float) else ["x"],
        "nan": lambda v: float("nan") if isinstance(v, float) else v,
        "huge": lambda v: 1e300 if isinstance(v, float) else v,
        "negative": lambda v: -abs(v) if isinstance(v, float) else v,
        "escape": lambda v: "\x1b[2J\x1b]0;pwned\x07" if isinstance(v, str) else v,
    }
    return json.dumps(_walk(body, replacements[how])).encode()


def _walk(value: Any, change: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, change) for v in value]
    return change(value)
