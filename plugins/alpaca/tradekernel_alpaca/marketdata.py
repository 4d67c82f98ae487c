"""``market_data:alpaca``: a live feed on Alpaca's data API v2 (US equities).

One cycle costs few requests whatever the watchlist: the quotes of every watchlist symbol
come from one ``/v2/stocks/snapshots`` call (latest trade, latest quote, day bar), the
bars from one multi-symbol ``/v2/stocks/bars`` call that asks only for the bars since the
last one held (each symbol's rolling window is filled once, newest first). Both are
cached for the cycle (the cycle is the market clock step: one :meth:`advance`, and the
kernel's ``current_cycle_id()``). The venue's session comes from ``/v2/calendar`` (once
per New York day) and ``/v2/clock`` (again only when its next open or close has passed).

Every answer is hostile input (:mod:`.wire`, parsed by :mod:`.marketwire`): a body that
is not what the API promises is a clear :class:`~.http.AlpacaError` naming the field; a
number that parses but cannot be a price (zero, negative, above the kernel's range) is
passed on in the :class:`Quote` or :class:`Bar` for the kernel's data-quality screen to
reject and name. A quote older than ``[runtime] max_quote_age`` is the screen's
``stale_quote``: never a price to trade on.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from attrs import define, field
from tradekernel.api import Bar, MarketSession, Quote, current_cycle_id, utcnow

from .config import AlpacaConfig
from .marketwire import (
    NEW_YORK,
    SYMBOL,
    parse_bars,
    parse_calendar,
    parse_clock,
    parse_snapshot,
)
from .wire import BadResponse, obj, parse_json

if TYPE_CHECKING:
    from .http import AlpacaHTTP

MAX_LIMIT = 10_000
"""Alpaca's largest page of bars."""

_TIMEFRAME = re.compile(r"^([1-9][0-9]?)(Min|Hour|Day)\Z")


def timeframe_seconds(value: str) -> int:
    """Seconds of an Alpaca timeframe: ``1Min``..``59Min``, ``1Hour``..``23Hour``, ``1Day``.
    Raises :class:`ValueError` for anything else."""
    match = _TIMEFRAME.match(value) if isinstance(value, str) else None
    amount = int(match.group(1)) if match else 0
    unit = match.group(2) if match else ""
    limits = {"Min": (59, 60), "Hour": (23, 3600), "Day": (1, 86400)}
    if not match or amount > limits[unit][0]:
        raise ValueError(f"timeframe: expected 1Min..59Min, 1Hour..23Hour or 1Day, got {value!r}")
    return amount * limits[unit][1]


def _timeframe(_inst: object, _attribute: Any, value: str) -> None:
    timeframe_seconds(value)


def _symbols(_inst: object, attribute: Any, value: list[str]) -> None:
    bad = [s for s in value if not isinstance(s, str) or not SYMBOL.match(s)]
    if bad:
        raise ValueError(
            f"{attribute.name}: expected tickers like 'AAPL' or 'BRK.B', got {bad[0]!r}"
        )


def _between(low: int, high: int) -> Callable[[object, Any, int], None]:
    def check(_inst: object, attribute: Any, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(
                f"{attribute.name}: expected a whole number {low}..{high}, got {value!r}"
            )

    return check


@define(kw_only=True)
class AlpacaDataConfig(AlpacaConfig):
    """``[market_data.alpaca]``: the broker's connection keys (credentials by environment
    variable name, URLs, timeouts, rate limit, read retries) plus what to watch.

    The quote age limit is the kernel's ``[runtime] max_quote_age`` (a stale quote is
    rejected by the data-quality screen, whatever the feed)."""

    symbols: list[str] = field(factory=list, validator=_symbols)
    """The symbols the feed serves (empty: ``[runtime] watchlist``)."""
    timeframe: str = field(default="1Min", validator=_timeframe)
    """The bar timeframe: ``1Min``..``59Min``, ``1Hour``..``23Hour`` or ``1Day``."""
    feed: Literal["iex", "sip", "delayed_sip"] = "iex"
    """Alpaca's data feed: ``iex`` (free), ``sip`` (all exchanges, a paid subscription)
    or ``delayed_sip`` (SIP 15 minutes late: its quotes are stale by design)."""
    window: int = field(default=500, validator=_between(1, MAX_LIMIT))
    """Bars kept per symbol; a longer ``bars(limit)`` asks the venue again."""
    max_pages: int = field(default=10, validator=_between(1, 1000))
    """Pages of bars read per call at most (10,000 bars each)."""
    clock_max_age: int = field(default=5, validator=_between(1, 60))
    """Minutes a ``/v2/clock`` answer is used at most: it is read again after that, or
    sooner when the open or close it announced has passed."""


class AlpacaMarketData:
    """A live ``MarketData`` feed on Alpaca (see the module docstring).

    ``advance()`` reads the wall clock (``clock``) and starts a new cycle of the caches;
    ``quote``, ``bars`` and ``current_bar`` answer as of that time; ``session(at)`` is the
    venue's session. :attr:`requests_by_cycle` counts the HTTP requests of each cycle."""

    def __init__(
        self,
        config: AlpacaDataConfig,
        http: AlpacaHTTP,
        *,
        symbols: list[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.http = http
        self.clock = clock
        self._symbols = list(config.symbols or symbols or [])
        self._step = timedelta(seconds=timeframe_seconds(config.timeframe))
        self._now: datetime | None = None
        self._epoch = 0
        self._lock = threading.RLock()
        self._quotes: dict[str, Quote | None] = {}
        self._quotes_key: tuple[int, str] | None = None
        self._windows: dict[str, list[Bar]] = {}
        self._bars_key: dict[str, tuple[int, str]] = {}
        """The cycle each window was last brought up to."""
        self.page_size = MAX_LIMIT
        """Bars asked per page when updating the windows (Alpaca's largest)."""
        self._depth: dict[str, int] = {}
        """How many bars each window was filled with (a longer ``bars`` fills again)."""
        self._calendar: dict[date, tuple[datetime, datetime] | None] = {}
        self._calendar_day: date | None = None
        self._clock: tuple[datetime, bool, datetime, datetime] | None = None
        self._clock_read_at: datetime | None = None
        self._clock_doubt: str | None = None
        """Why the cached clock answer is not trusted (``None``: trusted)."""
        self._failed: dict[str, tuple[tuple[int, str], Exception]] = {}
        """The error of each endpoint that failed, by the cycle it failed in."""
        self.requests_by_cycle: dict[str, int] = {}
        """HTTP requests (every attempt) per cycle key (the kernel's cycle id, else
        ``step-<n>``); the last 100 cycles."""

    # -- the clock ----------------------------------------------------------------------

    def symbols(self) -> list[str]:
        """The configured symbols (the watchlist when none are configured)."""
        return list(self._symbols)

    def now(self) -> datetime | None:
        """The time of the last :meth:`advance` (UTC)."""
        return self._now

    def advance(self) -> datetime | None:
        """A live feed's step: the current time; the caches start a new cycle."""
        with self._lock:
            self._now = self.clock().astimezone(UTC)
            self._epoch += 1
            return self._now

    def _cycle(self) -> tuple[int, str]:
        return self._epoch, current_cycle_id()

    def _get(self, path: str, params: dict[str, Any], api: str = "data") -> Any:
        """The parsed body of a successful read; :class:`AlpacaError` otherwise."""
        from .http import AlpacaError

        key = self._cycle()
        failed = self._failed.get(path)
        if failed is not None and failed[0] == key:
            raise failed[1]  # once a cycle: a failing venue is not asked again until the next
        before = self.http.requests
        try:
            body = self._read(path, params, api)
        except AlpacaError as exc:
            self._failed[path] = (key, exc)
            raise
        finally:
            self._count(self.http.requests - before)
        return body

    def _read(self, path: str, params: dict[str, Any], api: str) -> Any:
        from .http import AlpacaError

        response = self.http.read("GET", path, params=params, api=api)
        if response.status_code != 200:
            try:
                body = parse_json(response.content)
            except BadResponse:
                body = None
            message = body.get("message") if isinstance(body, dict) else None
            detail = self.http.clean(str(message)[:200]) if message else "no message"
            raise AlpacaError(
                f"alpaca: GET {path}: HTTP {response.status_code}: {detail}",
                status=response.status_code,
            )
        try:
            return parse_json(response.content)
        except BadResponse as exc:
            raise AlpacaError(f"alpaca: GET {path}: bad response: {exc}") from None

    def _count(self, n: int) -> None:
        key = current_cycle_id() or f"step-{self._epoch}"
        with self._lock:
            self.requests_by_cycle[key] = self.requests_by_cycle.get(key, 0) + n
            while len(self.requests_by_cycle) > 100:
                del self.requests_by_cycle[next(iter(self.requests_by_cycle))]

    # -- quotes -------------------------------------------------------------------------

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol`` (from the cycle's snapshot), ``None`` when the
        venue has none or the symbol is not a ticker."""
        if not isinstance(symbol, str) or not SYMBOL.match(symbol):
            return None
        with self._lock:
            key = self._cycle()
            if self._quotes_key != key:
                self._quotes, self._quotes_key = {}, key
                wanted = list(dict.fromkeys([*self._symbols, symbol]))
            elif symbol in self._quotes:
                return self._quotes[symbol]
            else:
                wanted = [symbol]
            body = self._safe(obj, self._snapshots(wanted), "snapshots")
            for name in wanted:
                self._quotes[name] = None
            for name, snapshot in body.items():
                if name in wanted:
                    self._quotes[name] = self._safe(parse_snapshot, name, snapshot)
            return self._quotes.get(symbol)

    def _snapshots(self, symbols: list[str]) -> Any:
        params = {"symbols": ",".join(symbols), "feed": self.config.feed}
        return self._get("/v2/stocks/snapshots", params)

    def _safe(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)``; a :class:`BadResponse` (or an arithmetic error a parser let
        through, such as an overflowing time) becomes an :class:`AlpacaError`."""
        from .http import AlpacaError

        try:
            return call(*args)
        except BadResponse as exc:
            raise AlpacaError(f"alpaca: bad market data: {self.http.clean(str(exc))}") from None
        except ArithmeticError as exc:
            what = getattr(call, "__name__", "answer")
            raise AlpacaError(f"alpaca: bad market data: {what}: {type(exc).__name__}") from None

    # -- bars ---------------------------------------------------------------------------

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        """Up to the last ``limit`` bars of ``symbol`` (the last one may be forming),
        oldest first; ``[]`` for an unknown symbol."""
        if not isinstance(symbol, str) or not SYMBOL.match(symbol) or limit < 1:
            return []
        with self._lock:
            self._refresh_bars(symbol, min(int(limit), MAX_LIMIT))
            window = self._windows.get(symbol, [])
            return window[-limit:]

    def current_bar(self, symbol: str) -> Bar | None:
        """The bar whose interval holds :meth:`now` (still forming), or ``None``."""
        bars = self.bars(symbol, 1)
        now = self._now
        if not bars or now is None or not bars[-1].ts <= now < bars[-1].ts + self._step:
            return None
        return bars[-1]

    def _refresh_bars(self, symbol: str, limit: int) -> None:
        """Bring the windows up to the cycle: a symbol never seen (or asked for more bars
        than its window was filled with) is filled on its own; once per cycle every
        other window is updated in one multi-symbol read."""
        key = self._cycle()
        if symbol not in self._windows or limit > self._depth[symbol]:
            depth = max(limit, min(self.config.window, 100))
            self._windows[symbol] = self._fill(symbol, depth)
            self._depth[symbol] = depth
            self._bars_key[symbol] = key
            return
        if self._bars_key.get(symbol) != key:
            stale = [s for s in self._windows if self._bars_key.get(s) != key]
            self._update(stale)
            for name in stale:
                self._bars_key[name] = key

    def _fill(self, symbol: str, limit: int) -> list[Bar]:
        now = self._now or self.clock()
        lookback = self._step * limit * 3 + timedelta(days=5)  # nights, weekends, holidays
        params = {
            "symbols": symbol,
            "timeframe": self.config.timeframe,
            "start": _rfc3339(now - lookback),
            "end": _rfc3339(now),
            "limit": limit,
            "sort": "desc",
            "feed": self.config.feed,
        }
        got = self._pages(params, limit)
        bars = sorted(got.get(symbol, []), key=lambda b: b.ts)
        return _newest(bars, now)[-max(limit, self.config.window) :]

    def _update(self, symbols: list[str]) -> None:
        """Bars since the oldest newest-bar of ``symbols`` in one multi-symbol read; the
        newest bar held comes back revised while it is still forming."""
        now = self._now or self.clock()
        since = min(self._windows[s][-1].ts if self._windows[s] else now for s in symbols)
        params = {
            "symbols": ",".join(symbols),
            "timeframe": self.config.timeframe,
            "start": _rfc3339(since),
            "end": _rfc3339(now),
            "limit": self.page_size,
            "sort": "asc",
            "feed": self.config.feed,
        }
        got = self._pages(params, None)
        for symbol in symbols:
            window = self._windows[symbol]
            for bar in sorted(got.get(symbol, []), key=lambda b: b.ts):
                if bar.ts > now:
                    continue
                if window and bar.ts == window[-1].ts:
                    window[-1] = bar  # the forming bar, revised
                elif not window or bar.ts > window[-1].ts:
                    window.append(bar)
            keep = max(self.config.window, self._depth.get(symbol, 0))
            if len(window) > 2 * keep:
                del window[: len(window) - keep]

    def _pages(self, params: dict[str, Any], want: int | None) -> dict[str, list[Bar]]:
        out: dict[str, list[Bar]] = {}
        for _ in range(self.config.max_pages):
            body = self._safe(obj, self._get("/v2/stocks/bars", params), "bars response")
            for symbol, bars in self._safe(parse_bars, body).items():
                out.setdefault(symbol, []).extend(bars)
            token = body.get("next_page_token")
            if token is None or (want is not None and sum(map(len, out.values())) >= want):
                break
            if not isinstance(token, str) or not 0 < len(token) <= 512:
                self._safe(_raise, "next_page_token: expected a short string")
            params = dict(params, page_token=token)
        return out

    # -- the venue's session ------------------------------------------------------------

    def session(self, at: datetime) -> MarketSession:
        """The venue's session around ``at``: open and close of ``at``'s New York trading
        day from ``/v2/calendar`` (read once per day), whether it is open from
        ``/v2/clock`` while its answer still holds (it says when it changes next), else
        from the calendar. Raises :class:`~.http.AlpacaError` when the venue cannot say."""
        at = at.astimezone(UTC)
        day = at.astimezone(NEW_YORK).date()
        with self._lock:
            self._load_calendar(day)
            today = self._calendar.get(day)
            is_open = today is not None and today[0] <= at < today[1]
            source = "alpaca /v2/calendar"
            clock = self._venue_clock(at)
            if clock is not None:
                self._cross_check(clock, today, is_open)
                is_open, source = clock[1], "alpaca /v2/clock"
            later = sorted(o for o, _ in filter(None, self._calendar.values()) if o > at)
            next_open = later[0] if later else (clock[2] if clock else None)
        return MarketSession(
            at=at,
            is_open=is_open,
            opens_at=today[0] if today else None,
            closes_at=today[1] if today else None,
            next_open=next_open,
            source=source,
        )

    def _load_calendar(self, day: date) -> None:
        """Make sure ``day`` is in the calendar cache: the cache holds what was read on
        the feed's current New York day (a new day reads again), each read covering a
        week before ``day`` to two weeks after it (so the next open is known)."""
        today = (self._now or self.clock()).astimezone(NEW_YORK).date()
        if self._calendar_day != today:
            self._calendar, self._calendar_day = {}, today
        if day in self._calendar:
            return
        start, end = day - timedelta(days=7), day + timedelta(days=14)
        params = {"start": start.isoformat(), "end": end.isoformat()}
        body = self._get("/v2/calendar", params, api="trading")
        days = self._safe(parse_calendar, body)
        for each in _dates(start, end):
            self._calendar[each] = days.get(each)

    def _venue_clock(self, at: datetime) -> tuple[datetime, bool, datetime, datetime] | None:
        """The cached ``/v2/clock`` answer when it still describes ``at`` (read again after
        ``clock_max_age`` minutes, or once its next open or close has passed); ``None``
        for a time it cannot describe. An answer that is not plausible raises
        :class:`~.http.AlpacaError` (the session is unknown: guards fail closed)."""
        now = self._now or self.clock()
        if abs((at - now).total_seconds()) > 60:
            return None  # not the present: the calendar answers
        clock, read_at = self._clock, self._clock_read_at
        aged = read_at is None or now - read_at > timedelta(minutes=self.config.clock_max_age)
        if clock is None or aged or (self._clock_doubt is None and not _describes(clock, at)):
            clock = self._safe(parse_clock, self._get("/v2/clock", {}, "trading"))
            self._clock, self._clock_read_at, self._clock_doubt = clock, now, None
            doubt = _implausible(clock, now)
            if doubt is not None:
                self._distrust(clock, doubt)
        if self._clock_doubt is not None:
            return self._distrusted()
        return clock if _describes(clock, at) else None

    def _cross_check(
        self,
        clock: tuple[datetime, bool, datetime, datetime],
        today: tuple[datetime, datetime] | None,
        calendar_open: bool,
    ) -> None:
        """Distrust a clock that says open when the calendar says closed, or that says
        open until after the calendar's close (a clock saying closed is believed: a halt
        the calendar did not know keeps the session closed)."""
        if not clock[1]:
            return
        if not calendar_open:
            self._distrust(clock, "is_open is true but the calendar has the market closed")
        elif today is not None and clock[3] > today[1] + timedelta(seconds=60):
            self._distrust(clock, "next_close is after the calendar's close")
        else:
            return
        self._distrusted()

    def _distrust(self, clock: tuple[datetime, bool, datetime, datetime], why: str) -> None:
        self._clock_doubt = why
        self.http.emit(
            "clock_distrusted",
            severity="warning",
            reason=why,
            is_open=clock[1],
            next_open=_rfc3339(clock[2]),
            next_close=_rfc3339(clock[3]),
        )

    def _distrusted(self) -> Any:
        from .http import AlpacaError

        raise AlpacaError(f"alpaca: /v2/clock not trusted: {self._clock_doubt}")

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()


CLOCK_MAX_AHEAD = timedelta(days=5)
"""The furthest a plausible next open or close lies after the clock's time (a long
weekend with a holiday is 4 days)."""
CLOCK_MAX_SKEW = timedelta(minutes=15)
"""The largest difference between the clock's time and ours that is believed."""


def _implausible(clock: tuple[datetime, bool, datetime, datetime], now: datetime) -> str | None:
    """Why a ``/v2/clock`` answer cannot be true at ``now``, or ``None``."""
    stamp, _, next_open, next_close = clock
    if abs(stamp - now) > CLOCK_MAX_SKEW:
        return f"timestamp {_rfc3339(stamp)} is not now ({_rfc3339(now)})"
    for name, when in (("next_open", next_open), ("next_close", next_close)):
        if not timedelta(seconds=-60) <= when - stamp <= CLOCK_MAX_AHEAD:
            return f"{name} {_rfc3339(when)} is not within {CLOCK_MAX_AHEAD.days} days ahead"
    return None


def _describes(clock: tuple[datetime, bool, datetime, datetime], at: datetime) -> bool:
    return clock[0] - timedelta(seconds=60) <= at < min(clock[2], clock[3])


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _newest(bars: list[Bar], now: datetime) -> list[Bar]:
    """``bars`` without those stamped after ``now`` and without repeated times."""
    out: list[Bar] = []
    for bar in bars:
        if bar.ts > now:
            continue
        if out and bar.ts == out[-1].ts:
            out[-1] = bar
        else:
            out.append(bar)
    return out


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raise(message: str) -> None:
    raise BadResponse(message)


def make_market_data(config: AlpacaDataConfig, ctx: Any, **client: Any) -> AlpacaMarketData:
    """The ``market_data:alpaca`` component: an :class:`~.http.AlpacaHTTP` with the
    credentials read through ``ctx.secret`` (``client``: test hooks such as ``transport``
    and ``sleep``; ``clock``: the feed's wall clock)."""
    from .factory import make_http

    clock = client.pop("clock", utcnow)
    runtime = getattr(ctx.settings, "runtime", None)
    watchlist = list(getattr(runtime, "watchlist", []) or [])
    http = make_http(config, ctx, name=ctx.name or "alpaca", **client)
    return AlpacaMarketData(config, http, symbols=watchlist, clock=clock)
