"""The clock and rolling windows shared by every feed in this package.

A feed is a stream of *steps*: ``(timestamp, bars at that timestamp)``, in increasing
time order. :class:`BarFeed` pulls one step per :meth:`BarFeed.advance` and keeps only
the last ``window`` bars of each symbol, so memory stays flat however long the stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from loguru import logger
from tradekernel.api import Bar, ConfigError, Quote, atomic_write

Step = tuple[datetime, list[Bar]]

_BPS = Decimal(10000)
_SPREAD_QUANTUM = Decimal("0.0001")


def at_most(limit: float | Decimal, *, inclusive: bool = True) -> Callable[[Any, Any, Any], None]:
    """attrs validator: the value is at most ``limit`` (below it, when not inclusive)."""

    def check(_inst: Any, attribute: Any, value: Any) -> None:
        if value is not None and (value > limit or (not inclusive and value == limit)):
            bound = "at most" if inclusive else "below"
            shown = f"{Decimal(str(limit)):,f}"
            raise ValueError(f"{attribute.name}: expected {bound} {shown}, got {value!r}")

    return check


HALF_SPREAD_BPS = 10000
"""``half_spread_bps`` is below this (10,000 bps = 100%: a bid of zero or less)."""

half_spread = at_most(HALF_SPREAD_BPS, inclusive=False)
"""The validator of every feed's ``half_spread_bps`` (after ``non_negative``)."""


class BarFeed:
    """A market data feed over a stream of bar steps (implements ``MarketData``).

    ``advance()`` moves the clock to the next timestamp and returns it (``None`` once the
    stream is exhausted; ``now()`` then stays at the last timestamp). When the stream
    raises (a replay row that cannot be read), the feed keeps that error as
    :attr:`failure` and raises it again on every later advance: a broken file never
    looks like the end of the data. Quotes are derived
    from the latest bar: ``last`` is its close, ``bid``/``ask`` are ``half_spread_bps``
    below/above it. Each symbol keeps a rolling window of its last ``window`` bars.
    """

    def __init__(
        self,
        steps: Iterable[Step],
        symbols: Iterable[str],
        *,
        window: int = 500,
        half_spread_bps: float | Decimal = 0,
    ) -> None:
        if window < 1:
            raise ValueError(f"window: expected a positive number, got {window!r}")
        self._steps: Iterator[Step] = iter(steps)
        self._symbols = list(symbols)
        self._window = window
        self._half_spread = Decimal(str(half_spread_bps)) / _BPS
        # Plain lists trimmed back to ``window`` once they reach twice that: slicing the
        # tail of a list is far cheaper than copying a deque on every bars() call.
        self._history: dict[str, list[Bar]] = {s: [] for s in self._symbols}
        self._quotes: dict[str, Quote] = {}
        self._now: datetime | None = None
        self._exhausted = False
        self._failure: Exception | None = None
        self._lock = threading.RLock()
        self._resume: Path | None = None
        self._resume_after: datetime | None = None
        self._peek = False

    # -- the clock ----------------------------------------------------------------------

    def symbols(self) -> list[str]:
        """Every symbol this feed can produce, in configured order."""
        return list(self._symbols)

    def now(self) -> datetime | None:
        """The current timestamp (``None`` before the first :meth:`advance`)."""
        return self._now

    @property
    def exhausted(self) -> bool:
        """True once :meth:`advance` has returned ``None``."""
        return self._exhausted

    @property
    def failure(self) -> Exception | None:
        """The error the stream raised (every later :meth:`advance` raises it again)."""
        return self._failure

    def resume_from(self, path: Path) -> None:
        """Continue where the last process on this state stopped (a paper account that
        persists must not see the market start over): every new timestamp is remembered
        in ``path``, and the first :meth:`advance` skips the bars up to the remembered
        one, still filling the rolling windows. Delete ``path`` to start over."""
        self._resume = path
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))["last_ts"]
            self._resume_after = datetime.fromisoformat(saved)
        except FileNotFoundError:
            self._resume_after = None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: unreadable market clock ({exc}); delete it to start over"
            ) from None

    @property
    def resume_path(self) -> Path | None:
        """The file that remembers the market clock (``None`` when not resuming)."""
        return self._resume

    def hold_clock(self) -> None:
        """For diagnostic runs (``skills smoke``, ``strategist smoke``): the next advance
        lands on the remembered bar instead of the one after it, and nothing is written,
        so the agent's market clock (and what its paper broker fills) does not move."""
        self._peek = True

    def advance(self) -> datetime | None:
        """Move to the next timestamp and return it, or ``None`` when the stream ends."""
        with self._lock:
            ts = self._step()
            after, self._resume_after = self._resume_after, None
            while (
                ts is not None
                and after is not None
                and (ts < after or (ts == after and not self._peek))
            ):
                ts = self._step()
            if ts is not None and self._resume is not None and not self._peek:
                try:
                    atomic_write(self._resume, json.dumps({"last_ts": ts.isoformat()}))
                except OSError as exc:  # the bar is served anyway; a restart may replay it
                    logger.warning("cannot remember the market clock in {}: {}", self._resume, exc)
            return ts

    def _step(self) -> datetime | None:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._exhausted:
                return None
            try:
                step = next(self._steps, None)
            except Exception as exc:  # a generator that raised is finished: keep the cause
                self._failure = exc
                raise
            if step is None:
                self._exhausted = True
                return None
            ts, bars = step
            limit = 2 * self._window
            quotes = self._quotes
            for bar in bars:
                history = self._history.get(bar.symbol)
                if history is None:  # a symbol discovered late: still served
                    history = self._history[bar.symbol] = []
                    self._symbols.append(bar.symbol)
                history.append(bar)
                if len(history) >= limit:
                    del history[: -self._window]
                quotes.pop(bar.symbol, None)
            self._now = ts
            return ts

    # -- reading --------------------------------------------------------------------------

    def current_bar(self, symbol: str) -> Bar | None:
        """The bar of ``symbol`` at exactly :meth:`now`, or ``None``."""
        history = self._history.get(symbol)
        if not history:
            return None
        bar = history[-1]
        return bar if bar.ts == self._now else None

    def last_bar(self, symbol: str) -> Bar | None:
        """The latest bar of ``symbol`` up to now (it may be older than now)."""
        history = self._history.get(symbol)
        return history[-1] if history else None

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        """The last ``limit`` bars of ``symbol`` up to and including now, oldest first
        (at most ``window`` bars)."""
        history = self._history.get(symbol)
        if not history or limit <= 0:
            return []
        with self._lock:
            return history[-min(limit, self._window) :]

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol`` (``None`` before its first bar)."""
        cached = self._quotes.get(symbol)
        if cached is not None:
            return cached
        with self._lock:
            history = self._history.get(symbol)
            if not history:
                return None
            bar = history[-1]
            last = bar.close
            bid = ask = last
            if self._half_spread and last.is_finite():
                try:
                    offset = (last * self._half_spread).quantize(_SPREAD_QUANTUM)
                    bid, ask = last - offset, last + offset
                except ArithmeticError:  # an absurd price: the kernel's screen rejects it
                    pass
            quote = Quote(symbol=symbol, ts=bar.ts, last=last, bid=bid, ask=ask, volume=bar.volume)
            self._quotes[symbol] = quote
            return quote

    def window_sizes(self) -> dict[str, int]:
        """How many bars each symbol holds in memory right now (bounded by 2 x window)."""
        return {s: len(h) for s, h in self._history.items()}

    def close(self) -> None:
        """Release the underlying stream (open files of a replay)."""
        close = getattr(self._steps, "close", None)
        if callable(close):
            close()
