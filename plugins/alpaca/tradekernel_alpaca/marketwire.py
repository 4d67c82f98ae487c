"""Parsers of Alpaca's market data answers (data API v2 snapshots and bars, the trading
API's clock and calendar). Pure functions over :func:`.wire.parse_json` output; each
raises :class:`.wire.BadResponse` naming the field when an answer is not what the API
promises. Numbers that parse but cannot be prices are passed on (signed) for the
kernel's data-quality screen to name."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tradekernel.api import Bar, Quote

from .wire import BadResponse, array, decimal, obj, text, timestamp

NEW_YORK = ZoneInfo("America/New_York")
"""The exchange's time zone (calendar times are New York local times)."""

SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,10}\Z")
"""A ticker the feed asks for (anything else is answered empty without a request)."""
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])\Z")


def parse_snapshot(symbol: str, data: Any) -> Quote | None:
    """The :class:`Quote` of one ``/v2/stocks/snapshots`` entry: ``last`` the latest trade
    price, bid and ask from the latest quote (0 is Alpaca's empty side: ``None``), volume
    the day bar's; its time is the OLDER of the trade's and the quote's (a price is as old
    as its stalest part). ``None`` without a latest trade."""
    snap = obj(data, f"{symbol} snapshot")
    trade = snap.get("latestTrade")
    if trade is None:
        return None
    trade = obj(trade, f"{symbol} latestTrade")
    last = decimal(trade, "p", signed=True)
    ts = timestamp(trade, "t")
    bid = ask = None
    if (raw := snap.get("latestQuote")) is not None:
        quote = obj(raw, f"{symbol} latestQuote")
        bid = _side(decimal(quote, "bp", required=False, signed=True))
        ask = _side(decimal(quote, "ap", required=False, signed=True))
        quoted = timestamp(quote, "t", required=False)
        if quoted is not None and (bid is not None or ask is not None):
            ts = min(ts, quoted)  # type: ignore[type-var]
    volume = None
    if (day := snap.get("dailyBar")) is not None:
        volume = decimal(obj(day, f"{symbol} dailyBar"), "v", required=False, signed=True)
    return Quote(symbol=symbol, ts=ts, last=last, bid=bid, ask=ask, volume=volume)


def _side(value: Decimal | None) -> Decimal | None:
    return None if value is not None and value == 0 else value


def parse_bar(symbol: str, data: Any) -> Bar:
    """One bar ``{"t", "o", "h", "l", "c", "v", ...}``: prices passed on as sent (signed)
    for the kernel's screen; a missing field or a non-number is :class:`BadResponse`."""
    bar = obj(data, f"{symbol} bar")
    values = {k: decimal(bar, k, signed=True) for k in ("o", "h", "l", "c", "v")}
    return Bar(
        symbol=symbol,
        ts=timestamp(bar, "t"),
        open=values["o"],
        high=values["h"],
        low=values["l"],
        close=values["c"],
        volume=values["v"],
    )


def parse_bars(body: Any) -> dict[str, list[Bar]]:
    """``{"bars": {"AAPL": [bar, ...]}, "next_page_token": ...}`` by symbol (a ``null``
    ``bars``, as Alpaca sends for no data, is none)."""
    bars = obj(body, "bars response").get("bars")
    if bars is None:
        return {}
    out: dict[str, list[Bar]] = {}
    for symbol, rows in obj(bars, "bars").items():
        if not isinstance(symbol, str) or not SYMBOL.match(symbol):
            raise BadResponse("bars: not a valid symbol key")
        out[symbol] = [parse_bar(symbol, row) for row in array(rows, f"{symbol} bars")]
    return out


def parse_clock(body: Any) -> tuple[datetime, bool, datetime, datetime]:
    """``/v2/clock``: ``(timestamp, is_open, next_open, next_close)``, times UTC."""
    clock = obj(body, "clock")
    is_open = clock.get("is_open")
    if not isinstance(is_open, bool):
        raise BadResponse("is_open: expected true or false")
    stamp, opens, closes = (timestamp(clock, k) for k in ("timestamp", "next_open", "next_close"))
    return stamp, is_open, opens, closes  # type: ignore[return-value]


def parse_calendar(body: Any) -> dict[date, tuple[datetime, datetime]]:
    """``/v2/calendar``: each trading day's open and close (New York ``HH:MM``), as UTC
    datetimes by date. A close not after the open is :class:`BadResponse`."""
    out: dict[date, tuple[datetime, datetime]] = {}
    for row in array(body, "calendar"):
        entry = obj(row, "calendar day")
        raw = text(entry, "date")
        try:
            day = date.fromisoformat(raw or "")
        except ValueError:
            raise BadResponse("date: expected YYYY-MM-DD") from None
        opens, closes = (_local(day, text(entry, k) or "", k) for k in ("open", "close"))
        if closes <= opens:
            raise BadResponse(f"close: not after open on {day}")
        out[day] = (opens, closes)
    return out


def _local(day: date, value: str, key: str) -> datetime:
    match = _HHMM.match(value)
    if not match:
        raise BadResponse(f"{key}: expected HH:MM")
    try:
        local = time(int(match.group(1)), int(match.group(2)))
        return datetime.combine(day, local, NEW_YORK).astimezone(UTC)
    except (OverflowError, ValueError):
        raise BadResponse(f"{key}: time out of range on {day}") from None
