"""Market data quality: the checks every bar and quote passes before anything trades on it.

:func:`bar_problem` and :func:`quote_problem` judge one item on its own (finite, positive
prices below :data:`MAX_PRICE`, ``Low <= Open, Close <= High``, volume >= 0). A
:class:`DataQuality` screen adds what needs history, per symbol: strictly increasing bar
times, quote times that never go back, and a price band against the previous accepted
close (``[runtime] max_price_move``), quotes no older than ``[runtime] max_quote_age``
before the cycle's market time, and no bar or quote from after it (beyond
:data:`FUTURE_TOLERANCE`). The runtime screens the skill results of every cycle with it
(see docs/runtime.md, "Market data quality"); the paper broker reuses :func:`bar_problem`
so it never fills on a bar the kernel would reject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from attrs import frozen

from .models import Bar, Quote, SkillResult

MAX_PRICE = Decimal("1e12")
"""Prices above this are ``price_out_of_range`` (no instrument trades there; such a value
is a unit error or an overflow waiting to happen)."""

MAX_QUANTITY = Decimal("1e12")
"""Order quantities above this are refused by the paper broker (an overflow, not an order)."""

CODES = (
    "non_finite_price",
    "non_positive_price",
    "price_out_of_range",
    "inconsistent_ohlc",
    "crossed_quote",
    "bad_volume",
    "non_increasing_time",
    "price_outlier",
    "stale_quote",
    "future_time",
)
"""Every data-quality rejection code (docs/runtime.md, "Market data quality")."""

FUTURE_TOLERANCE = timedelta(seconds=30)
"""How far after the cycle's market time a bar or quote may be stamped (clock skew between
the venue and this machine); later is ``future_time``: it would look fresh for as long."""

_ZERO = Decimal(0)


def _price_problem(name: str, value: Decimal) -> tuple[str, str] | None:
    if not value.is_finite():
        return "non_finite_price", f"{name} {value} is not a finite number"
    if value <= _ZERO:
        return "non_positive_price", f"{name} {value} is not positive"
    if value > MAX_PRICE:
        return "price_out_of_range", f"{name} {value} is above {MAX_PRICE:,.0f}"
    return None


def _volume_problem(value: Decimal | None) -> tuple[str, str] | None:
    if value is not None and (not value.is_finite() or value < _ZERO):
        return "bad_volume", f"Volume {value} is not a finite number >= 0"
    return None


def bar_problem(bar: Bar) -> tuple[str, str] | None:
    """``(code, detail)`` when ``bar`` cannot be a real bar on its own, else ``None``."""
    for name, value in (
        ("Open", bar.open),
        ("High", bar.high),
        ("Low", bar.low),
        ("Close", bar.close),
    ):
        if (problem := _price_problem(name, value)) is not None:
            return problem
    low, high = bar.low, bar.high
    if not (low <= bar.open <= high and low <= bar.close <= high):
        return (
            "inconsistent_ohlc",
            f"expected Low <= Open, Close <= High, got Open {bar.open} High {high} "
            f"Low {low} Close {bar.close}",
        )
    return _volume_problem(bar.volume)


def quote_problem(quote: Quote) -> tuple[str, str] | None:
    """``(code, detail)`` when ``quote`` cannot be a real quote on its own, else ``None``."""
    for name, value in (("last", quote.last), ("bid", quote.bid), ("ask", quote.ask)):
        if value is not None and (problem := _price_problem(name, value)) is not None:
            return problem
    if quote.bid is not None and quote.ask is not None and quote.bid > quote.ask:
        return "crossed_quote", f"bid {quote.bid} is above ask {quote.ask}"
    return _volume_problem(quote.volume)


def band_problem(
    low: Decimal, high: Decimal, references: list[Decimal], max_move: Decimal
) -> str | None:
    """Why ``low..high`` is a ``price_outlier``, or ``None``.

    The band around a reference close ``r`` is ``r / (1 + max_move) .. r * (1 + max_move)``
    (1.0: from half to double; symmetric in ratio, so a price off by a factor of 100 is
    caught in both directions). A range is an outlier when it leaves the band of every
    reference. The runtime's references are the last accepted close and the previous sane
    bar's close, so a lone spike is quarantined (and the bar after it, back near the last
    accepted close, is not) while a lasting move (a split) costs one bar: the next bar
    agrees with the one before it. No reference, or ``max_move`` 0: no band.
    """
    if not max_move or not references:
        return None
    factor = 1 + max_move
    for reference in references:
        if high <= reference * factor and low * factor >= reference:
            return None
    span = f"{low}..{high}" if low != high else f"{low}"
    closes = " and ".join(str(r) for r in dict.fromkeys(references))
    return (
        f"{span} leaves the band {1 + max_move:g}x around the previous close {closes} "
        "([runtime] max_price_move)"
    )


def same_bar(a: Bar, b: Bar | None) -> bool:
    """``a`` and ``b`` are the same bar (never raises, even for signalling NaNs)."""
    if a is b:
        return True
    if b is None or a.ts != b.ts or a.symbol != b.symbol:
        return False
    try:
        return a == b
    except ArithmeticError:
        return False


@frozen
class Rejection:
    """One bar or quote the screen refused."""

    symbol: str
    code: str
    detail: str
    item: str
    """``bar`` or ``quote``."""
    ts: datetime | None
    skill: str
    origin: str | None = None
    """Where the data came from (``file:line``) when the feed can tell."""


class DataQuality:
    """Screens the market data in skill results, remembering per symbol what it accepted.

    ``max_move`` is the price band (:func:`band_problem`; 1.0: a bar whose range leaves
    half to double the previous close is a ``price_outlier``; 0 turns the band off).
    ``origin(symbol, ts)`` (optional, from the feed) says where a rejected bar came from.
    A new bar (after the last one seen) is judged with its history, once. Every cycle the
    whole list is also checked on its own terms: any bar that is not the very bar accepted
    at its time (a feed revising history, or a new bar that is not last) must pass
    :func:`bar_problem`, and times must strictly increase through the list. A rejected bar
    stays out of later lists and a quote at its time is refused too.

    ``max_quote_age`` (seconds, 0: off): a quote older than this before the cycle's
    market time (``screen(..., as_of=...)``) is a ``stale_quote``, never a price to trade
    on. Replays quote at the bar's time, so their quotes are never stale. A bar or quote
    stamped after that time (beyond :data:`FUTURE_TOLERANCE`) is ``future_time``, and
    as any rejected item it is no reference for the next one's time.
    """

    def __init__(
        self,
        max_move: float,
        origin: Callable[[str, datetime], str | None] | None = None,
        max_quote_age: float = 0,
    ) -> None:
        self.max_move = Decimal(str(max_move))
        self.origin = origin
        self.max_quote_age = timedelta(seconds=max_quote_age) if max_quote_age else None
        self._seen: dict[str, Bar] = {}
        """The newest bar judged per symbol: bars after it in a list are new."""
        self._bar_ts: dict[str, datetime] = {}
        self._close: dict[str, Decimal] = {}
        """The last accepted close per symbol."""
        self._prior: dict[str, Decimal] = {}
        """The accepted close before the newest accepted bar (the band of its revisions)."""
        self._previous: dict[str, Decimal] = {}
        """The close of the previous bar that was sane on its own (accepted or an outlier)."""
        self._quote: dict[str, Quote] = {}
        self._previous_last: dict[str, Decimal] = {}
        self._bad: dict[str, list[tuple[Bar, str]]] = {}
        """Rejected bars per symbol, while they may still be in a feed's window."""
        self._accepted: dict[str, dict[datetime, Bar]] = {}
        self._clean: dict[str, list[Bar] | None] = {}
        """The last bars list per symbol that passed whole (see :meth:`_unchanged_prefix`)."""
        """Accepted bars per symbol by time, while they may still be in a feed's window."""

    # -- one item, with history -------------------------------------------------------

    def check_bar(
        self, bar: Bar, revision: bool = False, as_of: datetime | None = None
    ) -> tuple[str, str] | None:
        """Judge a bar newer than the symbol's last one; remember it when accepted.

        ``revision``: ``bar`` may be a new version of the newest accepted bar (a bar still
        forming on a live feed: same time, new values). It is judged against the close
        accepted before that bar, and replaces it when sane. ``as_of``: the market time.
        """
        symbol = bar.symbol
        problem = bar_problem(bar) or _future("bar", bar.ts, as_of)
        before = self._bar_ts.get(symbol)
        revising = revision and before is not None and bar.ts == before
        if problem is None:
            if before is not None and bar.ts <= before and not revising:
                problem = (
                    "non_increasing_time",
                    f"bar at {bar.ts.isoformat()} is not after the previous one "
                    f"({before.isoformat()})",
                )
            else:
                if revising:
                    references = [r for r in (self._prior.get(symbol),) if r]
                else:
                    references = [
                        r for r in (self._close.get(symbol), self._previous.get(symbol)) if r
                    ]
                if (why := band_problem(bar.low, bar.high, references, self.max_move)) is not None:
                    problem = "price_outlier", why
                self._previous[symbol] = bar.close
        self._seen[symbol] = bar
        if problem is None:
            if revising:
                self._clear_bad(symbol, bar.ts)
            elif symbol in self._close:
                self._prior[symbol] = self._close[symbol]
            self._bar_ts[symbol] = bar.ts
            self._close[symbol] = bar.close
            self._accepted.setdefault(symbol, {})[bar.ts] = bar
        else:
            self._forget(symbol, bar, problem[0])
        return problem

    def _clear_bad(self, symbol: str, ts: datetime) -> None:
        """Forget the rejected versions of the bar at ``ts`` (a sane revision replaced them)."""
        bad = self._bad.get(symbol)
        if bad:
            bad[:] = [(b, code) for b, code in bad if b.ts != ts]
            if not bad:
                del self._bad[symbol]

    def _forget(self, symbol: str, bar: Bar, code: str) -> None:
        """Remember ``bar`` as rejected (and no longer as accepted)."""
        self._bad.setdefault(symbol, []).append((bar, code))
        accepted = self._accepted.get(symbol)
        if accepted is not None and accepted.get(bar.ts) is bar:
            del accepted[bar.ts]

    def check_quote(self, quote: Quote, as_of: datetime | None = None) -> tuple[str, str] | None:
        """Judge a quote at market time ``as_of``; remember it when accepted (the same
        quote again is accepted, unless it has grown stale)."""
        symbol = quote.symbol
        before = self._quote.get(symbol)
        problem = _future("quote", quote.ts, as_of) or self._stale(quote, as_of)
        if before is quote or problem is not None:
            return problem
        problem = quote_problem(quote)
        if problem is None:
            if before is not None and quote.ts < before.ts:
                problem = (
                    "non_increasing_time",
                    f"quote at {quote.ts.isoformat()} is older than the previous one "
                    f"({before.ts.isoformat()})",
                )
            elif (code := self._bad_code(symbol, quote.ts)) is not None:
                problem = code, f"quote of the bar at {quote.ts.isoformat()}, rejected: {code}"
            elif before is not None and before.last != quote.last:
                previous = self._previous_last.get(symbol)
                references = [before.last] + ([previous] if previous is not None else [])
                why = band_problem(quote.last, quote.last, references, self.max_move)
                if why is not None:
                    problem = "price_outlier", why
                self._previous_last[symbol] = quote.last
        if problem is None:
            self._quote[symbol] = quote
            self._previous_last[symbol] = quote.last
        return problem

    def _stale(self, quote: Quote, as_of: datetime | None) -> tuple[str, str] | None:
        age = self.max_quote_age
        if age is None or as_of is None or as_of - quote.ts <= age:
            return None
        seconds = (as_of - quote.ts).total_seconds()
        return (
            "stale_quote",
            f"quote at {quote.ts.isoformat()} is {seconds:g}s old at {as_of.isoformat()} "
            f"([runtime] max_quote_age {age.total_seconds():g}s)",
        )

    def _bad_code(self, symbol: str, ts: datetime) -> str | None:
        for bar, code in self._bad.get(symbol, ()):
            if bar.ts == ts:
                return code
        return None

    # -- skill results ------------------------------------------------------------------

    def screen(
        self, results: dict[str, SkillResult], as_of: datetime | None = None
    ) -> tuple[dict[str, SkillResult], list[Rejection]]:
        """``results`` with every rejected quote and bar removed, and the rejections;
        ``as_of`` is the cycle's market time (quotes are judged stale against it).

        A symbol with a rejection this cycle is quarantined in every result (its quote and
        bars are dropped), so no intent can be made from it. A result that loses every
        symbol it had becomes a fallback (``ok = False``, ``error = "data_quality"``).
        """
        rejections: list[Rejection] = []
        for name, result in results.items():
            if result.ok and isinstance(result.data, Mapping):
                self._screen_one(name, result.data, rejections, as_of)
        if not rejections and not self._bad:
            return results, rejections
        quarantined: dict[str, set[str]] = {}
        for r in rejections:
            quarantined.setdefault(r.symbol, set()).add(r.code)
        out = dict(results)
        for name, result in results.items():
            data = result.data
            if not (result.ok and isinstance(data, Mapping) and data):
                continue
            kept = {}
            changed = False
            codes: set[str] = set()
            for symbol, value in data.items():
                if symbol in quarantined and _is_market_data(value):
                    changed = True
                    codes |= quarantined[symbol]
                    continue
                if (bad := self._bad.get(symbol)) and _is_bars(value):
                    clean = self._without(symbol, bad, value)
                    changed |= len(clean) != len(value)
                    value = clean
                kept[symbol] = value
            if not changed:
                continue
            if kept:
                out[name] = attrs.evolve(result, data=kept)
            else:
                out[name] = attrs.evolve(
                    result,
                    ok=False,
                    data=None,
                    error="data_quality",
                    fallback_reason="market data rejected: " + ", ".join(sorted(codes)),
                )
        return out, rejections

    def _without(self, symbol: str, bad: list[tuple[Bar, str]], bars: list[Bar]) -> list[Bar]:
        """``bars`` without the rejected ones; forgets rejected bars older than the list."""
        oldest = min(b.ts for b in bars if isinstance(b, Bar))  # a feed need not sort them
        bad[:] = [(b, code) for b, code in bad if b.ts >= oldest]
        if not bad:
            del self._bad[symbol]
            return bars
        return [b for b in bars if not any(same_bar(b, x) for x, _ in bad)]

    def _screen_one(
        self, skill: str, data: Mapping[str, Any], out: list[Rejection], as_of: datetime | None
    ) -> None:
        for symbol, value in data.items():
            if isinstance(value, Quote):
                problem = self.check_quote(value, as_of)
                if problem is not None:
                    origin = self._origin(symbol, value.ts)
                    out.append(Rejection(symbol, *problem, "quote", value.ts, skill, origin))
            elif _is_bars(value):
                self._screen_bars(skill, symbol, value, out, as_of)

    def _screen_bars(
        self, skill: str, symbol: str, bars: list[Bar], out: list[Rejection], as_of: datetime | None
    ) -> None:
        seen = self._seen.get(symbol)
        start = len(bars)
        while start and not same_bar(bars[start - 1], seen):
            start -= 1
        new = bars[start:]
        revision = False
        if seen is not None and start == 0:  # the last judged bar left the list
            new = [b for b in bars if b.ts > seen.ts]
            if not new:  # the newest bar changed: still forming, or a bad feed
                new = bars[-1:]
                revision = new[0].ts == seen.ts
        for bar in new:
            self._reject(skill, symbol, bar, self.check_bar(bar, revision, as_of), out)
        self._screen_list(skill, symbol, bars, out, as_of)

    def _screen_list(
        self, skill: str, symbol: str, bars: list[Bar], out: list[Rejection], as_of: datetime | None
    ) -> None:
        """Check every bar of the list that is not the one accepted at its time (a revised
        or unsorted history), and that times strictly increase through the list."""
        accepted = self._accepted.setdefault(symbol, {})
        bad = self._bad.get(symbol)
        start = self._unchanged_prefix(symbol, bars)
        previous: datetime | None = bars[start - 1].ts if start else None
        last = len(bars) - 1
        clean = True
        for i in range(start, len(bars)):
            bar = bars[i]
            if not isinstance(bar, Bar):
                clean = False
                continue
            known = accepted.get(bar.ts)
            problem = None
            if known is not bar:
                if bad and any(same_bar(bar, x) for x, _ in bad):
                    continue  # rejected before; it is dropped from the list
                if known is None or not same_bar(bar, known):
                    problem = bar_problem(bar) or _future("bar", bar.ts, as_of)
                after = bars[i + 1] if i < last else None
                if problem is None and isinstance(after, Bar) and after.ts <= bar.ts:
                    # an unknown bar out of place is to blame, not the known ones after it
                    problem = _order_problem(bar.ts, after.ts, "before")
            if problem is None and previous is not None and bar.ts <= previous:
                problem = _order_problem(bar.ts, previous, "after")
            if problem is not None:
                clean = False
                self._forget(symbol, bar, problem[0])
                bad = self._bad[symbol]
                self._reject(skill, symbol, bar, problem, out)
                continue
            if known is not bar:
                accepted[bar.ts] = bar  # a sane revision, or a bar never judged before
            previous = bar.ts
        self._clean[symbol] = bars if clean and not bad else None
        if len(accepted) > 2 * len(bars) + 16:  # forget bars that left every window
            oldest = min(b.ts for b in bars if isinstance(b, Bar))
            for ts in [ts for ts in accepted if ts < oldest]:
                del accepted[ts]

    def _unchanged_prefix(self, symbol: str, bars: list[Bar]) -> int:
        """How many leading bars of ``bars`` need no new look: when all but the newest are
        the tail of the last list that passed whole (a rolling window moved by one bar, the
        common case) or the same window whose newest bar was revised (a bar still forming),
        only the newest bar is checked again."""
        before = self._clean.get(symbol)
        keep = len(bars) - 1
        if before is None or keep <= 0 or keep > len(before):
            return 0
        try:  # list equality tests identity first: identical bars cost no comparison
            head = bars[:keep]
            same = head == before[len(before) - keep :]
            if not same and keep < len(before):  # the same window, its newest bar revised
                same = head == before[:keep]
        except ArithmeticError:  # a signalling NaN in a changed bar: look at them all
            return 0
        return keep if same else 0

    def _reject(
        self,
        skill: str,
        symbol: str,
        bar: Bar,
        problem: tuple[str, str] | None,
        out: list[Rejection],
    ) -> None:
        if problem is not None:
            origin = self._origin(symbol, bar.ts)
            out.append(Rejection(symbol, *problem, "bar", bar.ts, skill, origin))

    def _origin(self, symbol: str, ts: datetime) -> str | None:
        if self.origin is None:
            return None
        try:
            return self.origin(symbol, ts)
        except Exception:  # where it came from is a courtesy; never fail the screen on it
            return None


def _future(item: str, ts: datetime, as_of: datetime | None) -> tuple[str, str] | None:
    if as_of is None or ts <= as_of + FUTURE_TOLERANCE:
        return None
    return "future_time", (
        f"{item} at {ts.isoformat()} is {(ts - as_of).total_seconds():g}s after the market "
        f"time {as_of.isoformat()} (tolerance {FUTURE_TOLERANCE.total_seconds():g}s)"
    )


def _order_problem(ts: datetime, other: datetime, where: str) -> tuple[str, str]:
    return (
        "non_increasing_time",
        f"bar at {ts.isoformat()} is not {where} its neighbour in the list ({other.isoformat()})",
    )


def _is_bars(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[-1], Bar)


def _is_market_data(value: Any) -> bool:
    return isinstance(value, Quote) or _is_bars(value)
