"""The market data half of the Alpaca double: data API v2 (``/v2/stocks/...``) and the
trading API's ``/v2/clock`` and ``/v2/calendar``, with state and faults.

It speaks Alpaca's wire format (field names and types as alpaca-py's models and test
fixtures have them): quotes ``{"t", "ax", "ap", "as", "bx", "bp", "bs", "c", "z"}``,
trades ``{"t", "x", "p", "s", "c", "i", "z"}``, bars ``{"t", "o", "h", "l", "c", "v",
"n", "vw"}``, times RFC 3339 with nanoseconds, prices JSON numbers; multi-symbol answers
keyed by symbol, bars paged with an opaque ``next_page_token``; errors
``{"code": 42210000, "message": ...}`` with Alpaca's statuses.

State: minute bars per symbol (longer timeframes are aggregated from them as Alpaca
does), the latest quote and trade (quoted at the double's clock unless frozen), the
exchange calendar. Faults: :meth:`DataAPI.fail_next` (429 with ``Retry-After`` and
``X-RateLimit-Reset``, 5xx), :meth:`DataAPI.stale_quote` (a symbol whose quote stops
updating), :meth:`DataAPI.malform_next` (a truncated, mistyped or non-finite body).

Not modelled: corporate actions and adjustments, trade conditions and tapes beyond one
fixed value, auctions, the websocket stream, crypto and options data, a real SIP/IEX
difference (both feeds serve the same prices; only the SIP subscription check differs).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from .market_time import (
    MALFORMATIONS,
    NEW_YORK,
    CalendarDay,
    ManualClock,
    malformed_body,
    offset_time,
    rfc3339,
    weekday_calendar,
)

__all__ = [
    "MALFORMATIONS",
    "CalendarDay",
    "DataAPI",
    "ManualClock",
    "feed_on",
    "market",
    "rfc3339",
    "timeframe_minutes",
    "weekday_calendar",
]

TIMEFRAME = re.compile(r"^(\d{1,2})(Min|T|Hour|H|Day|D|Week|W|Month|M)\Z")
_UNITS = {"Min": "Min", "T": "Min", "Hour": "Hour", "H": "Hour", "Day": "Day", "D": "Day"}
_UNITS.update({"Week": "Week", "W": "Week", "Month": "Month", "M": "Month"})


def timeframe_minutes(value: str) -> int | None:
    """Minutes of an Alpaca timeframe (``5Min``, ``1Hour``, ``1Day``), ``None`` when the
    venue would refuse it. A day is a calendar day here (bars labelled at New York
    midnight); weeks and months are not modelled."""
    match = TIMEFRAME.match(value)
    if not match:
        return None
    amount, unit = int(match.group(1)), _UNITS[match.group(2)]
    if unit == "Min" and 1 <= amount <= 59:
        return amount
    if unit == "Hour" and 1 <= amount <= 23:
        return amount * 60
    if unit == "Day" and amount == 1:
        return 24 * 60
    return None


@dataclass
class _Symbol:
    bars: list[dict[str, Any]] = field(default_factory=list)
    """Minute bars, oldest first, in wire format (``t`` as a datetime until sent)."""
    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0
    frozen_at: datetime | None = None
    """When set, the quote and trade stay at this time (a stale quote)."""
    trade_id: int = 1


class DataAPI:
    """The data API and the market clock of one Alpaca account, with state.

    ``clock`` gives the double's "now" (shared with the feed under test for live-like
    runs); ``key_id``/``secret_key``: the credentials it accepts. ``sip``: whether the
    account's subscription permits recent SIP data (Alpaca's free plan does not).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        key_id: str = "PKTEST0000000000",
        secret_key: str = "double-secret-0000000000000000",
        calendar: list[CalendarDay] | None = None,
        sip: bool = False,
        rate_limit: int = 200,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.key_id = key_id
        self.secret_key = secret_key
        self.sip = sip
        self.rate_limit = rate_limit
        today = self.clock().astimezone(NEW_YORK).date()
        self.calendar = calendar or weekday_calendar(
            today - timedelta(days=400), today + timedelta(days=400)
        )
        self.symbols: dict[str, _Symbol] = {}
        self.requests: list[tuple[str, str]] = []
        """Every request served, as ``(path, query)``, for request counting."""
        self._faults: list[tuple[int, float | None]] = []
        self._malform: list[str] = []
        self._lock = threading.RLock()
        self._window: list[datetime] = []

    # -- state --------------------------------------------------------------------------

    def add_bar(
        self,
        symbol: str,
        ts: datetime,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: int = 1000,
    ) -> None:
        """Append (or revise, at the same minute) a minute bar; the quote follows its close."""
        with self._lock:
            state = self.symbols.setdefault(symbol, _Symbol())
            bar = {"t": ts, "o": open, "h": high, "l": low, "c": close, "v": volume}
            bar.update(n=max(1, volume // 100), vw=round((high + low + close) / 3, 4))
            if state.bars and state.bars[-1]["t"] == ts:
                state.bars[-1] = bar
            else:
                state.bars.append(bar)
            state.last = close
            state.bid = round(close - 0.01, 4)
            state.ask = round(close + 0.01, 4)

    def seed(self, symbol: str, start: datetime, minutes: int, price: float = 100.0) -> None:
        """``minutes`` deterministic minute bars from ``start``: a gentle zigzag (so
        strategies see crossings) around ``price``."""
        for i in range(minutes):
            close = round(price * (1 + 0.02 * math.sin(i / 7)), 2)
            opened = round(price * (1 + 0.02 * math.sin((i - 1) / 7)), 2)
            high, low = max(opened, close) + 0.05, min(opened, close) - 0.05
            self.add_bar(symbol, start + timedelta(minutes=i), opened, high, low, close, 1000 + i)

    def set_quote(self, symbol: str, bid: float, ask: float, last: float | None = None) -> None:
        """Set the symbol's best bid and ask (and last trade price)."""
        with self._lock:
            state = self.symbols.setdefault(symbol, _Symbol())
            state.bid, state.ask = bid, ask
            if last is not None:
                state.last = last

    def stale_quote(self, symbol: str, age: timedelta) -> None:
        """From now on the symbol's quote and trade stay ``age`` old at the time of this
        call: the venue stopped updating it (a halt, a feed outage)."""
        with self._lock:
            self.symbols.setdefault(symbol, _Symbol()).frozen_at = self.clock() - age

    def fail_next(self, status: int, *, count: int = 1, reset_after: float | None = None) -> None:
        """The next ``count`` requests answer HTTP ``status`` (429 or 5xx); with
        ``reset_after``, ``Retry-After`` and ``X-RateLimit-Reset`` say when to come back."""
        with self._lock:
            self._faults.extend([(status, reset_after)] * count)

    def malform_next(self, how: str = "truncated") -> None:
        """The next answer's body is broken (one of :data:`MALFORMATIONS`)."""
        if how not in MALFORMATIONS:
            raise ValueError(f"how: expected one of {MALFORMATIONS}, got {how!r}")
        with self._lock:
            self._malform.append(how)

    def data_requests(self) -> int:
        """How many requests reached the double."""
        return len(self.requests)

    # -- serving ------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An ``httpx`` transport answering as Alpaca would (every other path: 404)."""
        return httpx.MockTransport(lambda request: self.handle(request) or _not_found())

    def handles(self, path: str) -> bool:
        """Whether ``path`` is one this double answers."""
        return path.startswith("/v2/stocks/") or path in ("/v2/clock", "/v2/calendar")

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        """The answer to ``request``, or ``None`` when its path is not a data path."""
        path = request.url.path
        if not self.handles(path):
            return None
        with self._lock:
            self.requests.append((path, str(request.url.query, "ascii")))
            now = self.clock()
            headers = self._budget(now)
            if (
                request.headers.get("APCA-API-KEY-ID") != self.key_id
                or request.headers.get("APCA-API-SECRET-KEY") != self.secret_key
            ):
                return _error(401, 40110000, "request is not authorized", headers)
            if request.method != "GET":
                return _error(405, 40510000, "method not allowed", headers)
            fault = self.take_fault(now)
            if fault is not None:
                status, fault_headers, body = fault
                headers.update(fault_headers)
                return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)
            status, content = self.answer(path, dict(request.url.params))
            return httpx.Response(status, content=content, headers=headers)

    def take_fault(self, now: datetime) -> tuple[int, dict[str, str], Any] | None:
        """The next injected failure (:meth:`fail_next`) as status, headers and body, or
        ``None``. A 429 says when the window resets (``X-RateLimit-Reset``, a Unix time,
        and no ``Retry-After``, as Alpaca answers); a 5xx says ``Retry-After``."""
        with self._lock:
            if not self._faults:
                return None
            status, reset = self._faults.pop(0)
        headers: dict[str, str] = {}
        if status == 429:
            headers["X-RateLimit-Remaining"] = "0"
            if reset is not None:
                headers["X-RateLimit-Reset"] = str(math.ceil(now.timestamp() + reset))
            return status, headers, {"message": "too many requests."}
        if reset is not None:
            headers["Retry-After"] = str(math.ceil(reset))
        return status, headers, {"message": "internal server error"}

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        """Status and body of a data request already authenticated (faults included:
        a pending malformation breaks this body)."""
        with self._lock:
            try:
                status, body = self._route(path, params, self.clock())
            except _Refused as exc:
                status, body = exc.status, exc.body()
            if self._malform and status == 200:
                return status, malformed_body(body, self._malform.pop(0))
            return status, json.dumps(body).encode()

    def _budget(self, now: datetime) -> dict[str, str]:
        minute = now - timedelta(minutes=1)
        self._window = [t for t in self._window if t > minute] + [now]
        reset = int((now + timedelta(minutes=1)).timestamp())
        return {
            "Content-Type": "application/json; charset=UTF-8",
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - len(self._window))),
            "X-RateLimit-Reset": str(reset),
        }

    def _route(self, path: str, params: dict[str, str], now: datetime) -> tuple[int, Any]:
        if path == "/v2/clock":
            return 200, self._clock_json(now)
        if path == "/v2/calendar":
            return 200, self._calendar_json(params, now)
        parts = path.split("/")[3:]  # after /v2/stocks/
        feed = params.get("feed", "iex")
        if feed not in ("iex", "sip", "delayed_sip", "boats", "overnight", "otc"):
            raise _Refused(400, 40010001, f"invalid feed: {feed}")
        if feed == "sip" and not self.sip:
            raise _Refused(403, None, "subscription does not permit querying recent SIP data")
        if parts == ["snapshots"]:
            return 200, {s: self._snapshot(s, now) for s in self._symbols(params) if s in self}
        if parts in (["quotes", "latest"], ["trades", "latest"]):
            what = parts[0]
            one = self._quote if what == "quotes" else self._trade
            return 200, {what: {s: one(s, now) for s in self._symbols(params) if s in self}}
        if parts == ["bars"]:
            return 200, self._bars(self._symbols(params), params, now)
        if len(parts) == 3 and parts[1:] in (["quotes", "latest"], ["trades", "latest"]):
            symbol = self._symbol(parts[0])
            if symbol not in self:
                raise _Refused(404, 40410000, f"no {parts[1][:-1]} found for {symbol}")
            key = "quote" if parts[1] == "quotes" else "trade"
            one = self._quote if parts[1] == "quotes" else self._trade
            return 200, {"symbol": symbol, key: one(symbol, now)}
        if len(parts) == 2 and parts[1] == "bars":
            symbol = self._symbol(parts[0])
            body = self._bars([symbol], params, now)
            return 200, {
                "bars": body["bars"].get(symbol, []),
                "symbol": symbol,
                "next_page_token": body["next_page_token"],
            }
        raise _Refused(404, 40410000, "endpoint not found")

    def __contains__(self, symbol: str) -> bool:
        return symbol in self.symbols and bool(self.symbols[symbol].bars)

    @staticmethod
    def _symbol(value: str) -> str:
        if not re.match(r"^[A-Z][A-Z0-9.]{0,10}$", value):
            raise _Refused(400, 40010001, f"invalid symbol: {value[:20]}")
        return value

    def _symbols(self, params: dict[str, str]) -> list[str]:
        raw = params.get("symbols", "")
        if not raw:
            raise _Refused(400, 40010001, "symbols is required")
        return [self._symbol(s) for s in raw.split(",")]

    def _at(self, symbol: str, now: datetime) -> datetime:
        frozen = self.symbols[symbol].frozen_at
        return frozen if frozen is not None else now

    def _quote(self, symbol: str, now: datetime) -> dict[str, Any]:
        state = self.symbols[symbol]
        return {
            "t": rfc3339(self._at(symbol, now)),
            "ax": "V",
            "ap": state.ask,
            "as": 3,
            "bx": "V",
            "bp": state.bid,
            "bs": 2,
            "c": ["R"],
            "z": "C",
        }

    def _trade(self, symbol: str, now: datetime) -> dict[str, Any]:
        state = self.symbols[symbol]
        state.trade_id += 1
        return {
            "t": rfc3339(self._at(symbol, now)),
            "x": "V",
            "p": state.last,
            "s": 100,
            "c": ["@"],
            "i": state.trade_id,
            "z": "C",
        }

    def _snapshot(self, symbol: str, now: datetime) -> dict[str, Any]:
        minutes = [b for b in self.symbols[symbol].bars if b["t"] <= now]
        daily = _aggregate(minutes, 24 * 60)
        return {
            "latestTrade": self._trade(symbol, now),
            "latestQuote": self._quote(symbol, now),
            "minuteBar": _bar_json(minutes[-1]) if minutes else None,
            "dailyBar": _bar_json(daily[-1]) if daily else None,
            "prevDailyBar": _bar_json(daily[-2]) if len(daily) > 1 else None,
        }

    def _bars(self, symbols: list[str], params: dict[str, str], now: datetime) -> dict[str, Any]:
        minutes = timeframe_minutes(params.get("timeframe", ""))
        if minutes is None:
            raise _Refused(400, 40010001, "invalid timeframe")
        try:
            limit = int(params.get("limit", "1000"))
        except ValueError:
            raise _Refused(400, 40010001, "invalid limit") from None
        if not 1 <= limit <= 10000:
            raise _Refused(422, 42210000, "invalid limit: must be between 1 and 10000")
        sort = params.get("sort", "asc")
        if sort not in ("asc", "desc"):
            raise _Refused(400, 40010001, "invalid sort")
        start = _param_time(params, "start") or datetime.combine(
            now.astimezone(NEW_YORK).date(), time(0), NEW_YORK
        )
        end = _param_time(params, "end") or now
        rows: list[tuple[str, dict[str, Any]]] = []
        for symbol in sorted(set(symbols)):
            if symbol not in self:
                continue
            bars = _aggregate(self.symbols[symbol].bars, minutes)
            bars = [b for b in bars if start <= b["t"] <= min(end, now)]
            if sort == "desc":
                bars.reverse()
            rows.extend((symbol, b) for b in bars)
        offset = _page_offset(params.get("page_token"))
        page = rows[offset : offset + limit]
        out: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            out.setdefault(symbol, []).append(_bar_json(bar))
        more = offset + limit < len(rows)
        token = base64.b64encode(f"{offset + limit}".encode()).decode() if more else None
        return {"bars": out, "next_page_token": token}

    def _clock_json(self, now: datetime) -> dict[str, Any]:
        sessions = [d.bounds() for d in self.calendar]
        is_open = any(o <= now < c for o, c in sessions)
        next_open = next((o for o, _ in sessions if o > now), now + timedelta(days=365))
        next_close = next((c for _, c in sessions if c > now), now + timedelta(days=365))
        return {
            "timestamp": offset_time(now),
            "is_open": is_open,
            "next_open": offset_time(next_open),
            "next_close": offset_time(next_close),
        }

    def _calendar_json(self, params: dict[str, str], now: datetime) -> list[dict[str, str]]:
        try:
            start = date.fromisoformat(params.get("start") or now.date().isoformat())
            end = date.fromisoformat(params.get("end") or start.isoformat())
        except ValueError:
            raise _Refused(400, 40010001, "invalid date format") from None
        return [d.json() for d in self.calendar if start <= d.day <= end]


class _Refused(Exception):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        if self.code is None:
            return {"message": self.message}
        return {"code": self.code, "message": self.message}


def _error(status: int, code: int | None, message: str, headers: dict[str, str]) -> httpx.Response:
    body: dict[str, Any] = {"message": message}
    if code is not None:
        body = {"code": code, "message": message}
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def _not_found() -> httpx.Response:
    return httpx.Response(404, json={"code": 40410000, "message": "endpoint not found"})


def _param_time(params: dict[str, str], key: str) -> datetime | None:
    raw = params.get(key)
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _Refused(400, 40010001, f"invalid {key}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(base64.b64decode(token.encode(), validate=True).decode()))
    except (ValueError, UnicodeDecodeError):
        raise _Refused(400, 40010001, "invalid page token") from None


def _aggregate(minutes: list[dict[str, Any]], period: int) -> list[dict[str, Any]]:
    """Minute bars rolled up into ``period``-minute bars (days start at New York
    midnight, as Alpaca labels daily bars), each labelled with its start."""
    if period == 1:
        return list(minutes)
    out: list[dict[str, Any]] = []
    for bar in minutes:
        if period == 24 * 60:
            local = bar["t"].astimezone(NEW_YORK)
            label = datetime.combine(local.date(), time(0), NEW_YORK).astimezone(UTC)
        else:
            epoch = int(bar["t"].timestamp() // 60)
            label = datetime.fromtimestamp((epoch - epoch % period) * 60, UTC)
        if out and out[-1]["t"] == label:
            last = out[-1]
            last.update(h=max(last["h"], bar["h"]), l=min(last["l"], bar["l"]), c=bar["c"])
            last.update(v=last["v"] + bar["v"], n=last["n"] + bar["n"])
        else:
            out.append(dict(bar, t=label))
    return out


def _bar_json(bar: dict[str, Any]) -> dict[str, Any]:
    return dict(bar, t=rfc3339(bar["t"], nanos=False))


def feed_on(venue: DataAPI, *, sleep: Callable[[float], None] | None = None, **config: Any):
    """An Alpaca market data feed talking to ``venue`` through an ``httpx`` mock transport
    (no socket), on the venue's clock, with its own unbounded rate limiter; ``sleep``
    records retry waits instead of sleeping; ``config``: ``AlpacaDataConfig`` keys."""
    from ..http import AlpacaHTTP, RateLimiter
    from ..marketdata import AlpacaDataConfig, AlpacaMarketData

    settings = AlpacaDataConfig(**config)
    http = AlpacaHTTP(
        settings,
        key_id=venue.key_id,
        secret_key=venue.secret_key,
        transport=venue.transport(),
        sleep=sleep or (lambda seconds: None),
        limiter=RateLimiter(100_000),
        wall_clock=lambda: venue.clock().timestamp(),
    )
    return AlpacaMarketData(settings, http, clock=venue.clock)


# -- the routes of the shared double (one server for the trading and the data API) ------


def market(double: Any) -> DataAPI:
    """The market data state of an :class:`~tradekernel_alpaca.double.AlpacaDouble` (made
    on first use, on the double's clock and credentials): seed bars, stale quotes and
    malformed bodies through it; 429/5xx faults through the double's ``fail_next``."""
    with double.lock:
        state = double.extensions.get("data")
        if state is None:
            state = double.extensions["data"] = DataAPI(
                clock=double.clock, key_id=double.key_id, secret_key=double.secret_key
            )
        return state


def _reply(double: Any, request: Any) -> Any:
    from .core import Reply

    state = market(double)
    state.requests.append((request.path, "&".join(f"{k}={v}" for k, v in request.query.items())))
    fault = state.take_fault(state.clock())  # its faults hold on the shared double too
    if fault is not None:
        status, headers, body = fault
        return Reply(status, body, headers)
    status, content = state.answer(request.path, dict(request.query))
    try:
        body = json.loads(content)
    except ValueError:  # a truncated or non-JSON body: a string cannot carry it as is
        body = content.decode("utf-8", "replace")
    return Reply(status, body)


def _register() -> None:
    try:
        from .core import route
    except ImportError:  # the data double alone (no trading double in this install)
        return
    route("GET", r"/v2/stocks/[^\s]+")(_reply)
    route("GET", "/v2/clock")(_reply)
    route("GET", "/v2/calendar")(_reply)


_register()
