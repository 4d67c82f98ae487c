"""``market_data:ccxt``: a live feed from ``fetch_ticker`` and ``fetch_ohlcv``.

The clock is the wall clock: ``advance`` returns the time now. A quote carries the
exchange's own ticker time (the receive time when the exchange gives none), so the
kernel's staleness screen judges the data, not the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from tradekernel.api import Bar, Quote

from .config import CcxtConfig
from .numbers import BadAnswer, number, optional_price, price
from .orders import timestamp
from .reads import Reader


class CcxtMarketData:
    """A ``MarketData`` over one ccxt exchange's public endpoints."""

    def __init__(
        self,
        config: CcxtConfig,
        exchange: Any,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str, BaseException, int, float], None] | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        """``clock`` gives the time ``advance`` returns; ``sleep`` waits between retries."""
        self.config = config
        self.exchange = exchange
        self.clock = clock
        self._now: datetime | None = None
        self.read = Reader(
            config.read_retries, sleep=sleep, on_retry=on_retry or _ignore, scrub=redact
        )

    def symbols(self) -> list[str]:
        """The configured symbols."""
        return list(self.config.symbols)

    def now(self) -> datetime | None:
        """The time of the last :meth:`advance`."""
        return self._now

    def advance(self) -> datetime | None:
        """The time now (a live feed is never exhausted)."""
        self._now = self.clock()
        return self._now

    def quote(self, symbol: str) -> Quote | None:
        """The exchange's ticker of ``symbol``; ``None`` for a symbol not configured or
        an unusable ticker."""
        if symbol not in self.config.symbols:
            return None
        ticker = self.read("fetch_ticker", lambda: self.exchange.fetch_ticker(symbol))
        try:
            return _quote(symbol, ticker, self.clock())
        except BadAnswer as exc:
            logger.warning("{}: an unusable ticker of {}: {}", self.exchange.id, symbol, exc)
            return None

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        """The last ``limit`` candles of ``symbol`` (``timeframe``), oldest first, none
        later than :meth:`now`."""
        if symbol not in self.config.symbols or limit <= 0:
            return []
        rows = self.read(
            "fetch_ohlcv",
            lambda: self.exchange.fetch_ohlcv(symbol, self.config.timeframe, None, limit),
        )
        if not isinstance(rows, list):
            return []
        bars: dict[datetime, Bar] = {}
        for row in rows:
            try:
                bar = _bar(symbol, row)
            except BadAnswer as exc:
                logger.warning("{}: an unusable candle of {}: {}", self.exchange.id, symbol, exc)
                continue
            if self._now is None or bar.ts <= self._now:
                bars[bar.ts] = bar
        return [bars[ts] for ts in sorted(bars)][-limit:]

    def current_bar(self, symbol: str) -> Bar | None:
        """The latest candle (possibly still forming)."""
        bars = self.bars(symbol, 1)
        return bars[-1] if bars else None

    def close(self) -> None:
        """Release the HTTP session."""
        session = getattr(self.exchange, "session", None)
        if session is not None and hasattr(session, "close"):
            session.close()


def _ignore(*_args: Any) -> None:
    return None


def _quote(symbol: str, ticker: Any, received: datetime) -> Quote:
    if not isinstance(ticker, dict):
        raise BadAnswer(f"ticker: expected an object, got {type(ticker).__name__}")
    last = ticker.get("last")
    if last is None:
        last = ticker.get("close")
    volume = ticker.get("baseVolume")
    return Quote(
        symbol=symbol,
        ts=timestamp(ticker.get("timestamp"), "ticker timestamp") or received,
        last=price(last, "ticker last"),
        bid=optional_price(ticker.get("bid"), "ticker bid"),
        ask=optional_price(ticker.get("ask"), "ticker ask"),
        volume=None if volume is None else number(volume, "ticker baseVolume"),
    )


def _bar(symbol: str, row: Any) -> Bar:
    if not isinstance(row, list | tuple) or len(row) < 6:
        raise BadAnswer("candle: expected [time, open, high, low, close, volume]")
    ts = timestamp(row[0], "candle time")
    if ts is None:
        raise BadAnswer("candle time: missing")
    return Bar(
        symbol=symbol,
        ts=ts,
        open=price(row[1], "candle open"),
        high=price(row[2], "candle high"),
        low=price(row[3], "candle low"),
        close=price(row[4], "candle close"),
        volume=number(row[5], "candle volume"),
    )
