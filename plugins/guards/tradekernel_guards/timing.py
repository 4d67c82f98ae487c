"""Guards on when and how often: orders per day, order rate, symbol cooldown, session hours.

They read the market clock ``ctx.as_of`` (never the wall clock), so backtests and
replays see the same verdicts as live runs. Without a clock they deny ``no_clock``.
``session_hours`` takes the session from a hand-written table or, with ``source =
"market_data"``, from the selected market data feed (the venue's clock and calendar).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from attrs import define, field
from tradekernel.api import (
    Duration,
    GuardContext,
    GuardVerdict,
    Intent,
    MarketSession,
    positive,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _no_clock(name: str) -> GuardVerdict:
    return GuardVerdict.denied(name, "no_clock", "no market time (as_of) to check against")


@define
class MaxOrdersPerDayConfig:
    """``[guard.max_orders_per_day]``: how many orders may be sent per trading day."""

    limit: int = field(validator=positive)


class MaxOrdersPerDayGuard:
    """Denies once ``ctx.orders_today`` has reached ``limit``."""

    codes = ("max_orders_per_day_reached",)

    def __init__(self, config: MaxOrdersPerDayConfig, name: str = "max_orders_per_day") -> None:
        self.limit = config.limit
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        if ctx.orders_today >= self.limit:
            return GuardVerdict.denied(
                self.name,
                "max_orders_per_day_reached",
                f"{ctx.orders_today} orders today, limit {self.limit}",
            )
        return GuardVerdict.allowed(self.name, detail=f"{ctx.orders_today} orders today")


@define
class OrderRateConfig:
    """``[guard.order_rate]``: at most ``max_orders`` orders in any ``window``."""

    max_orders: int = field(default=5, validator=positive)
    window: Duration = field(default=Duration(60), validator=positive)


class OrderRateGuard:
    """Denies when ``max_orders`` orders were sent within the last ``window`` before
    ``ctx.as_of``. An order exactly ``window`` old no longer counts."""

    codes = ("order_rate_exceeded", "no_clock")

    def __init__(self, config: OrderRateConfig, name: str = "order_rate") -> None:
        self.max_orders = config.max_orders
        self.window = float(config.window)
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        now = ctx.as_of
        if now is None:
            return _no_clock(self.name)
        recent = sum(1 for t in ctx.recent_order_times if (now - t).total_seconds() < self.window)
        if recent >= self.max_orders:
            return GuardVerdict.denied(
                self.name,
                "order_rate_exceeded",
                f"{recent} orders in the last {Duration(self.window)}, limit {self.max_orders}",
            )
        return GuardVerdict.allowed(self.name, detail=f"{recent} orders in window")


@define
class SymbolCooldownConfig:
    """``[guard.symbol_cooldown]``: the minimum time between two orders in one symbol."""

    cooldown: Duration = field(default=Duration(300), validator=positive)


class SymbolCooldownGuard:
    """Denies an order in a symbol traded less than ``cooldown`` before ``ctx.as_of``
    (from ``ctx.last_trade_time``)."""

    codes = ("symbol_cooldown_active", "no_clock")

    def __init__(self, config: SymbolCooldownConfig, name: str = "symbol_cooldown") -> None:
        self.cooldown = float(config.cooldown)
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        last = ctx.last_trade_time.get(intent.symbol)
        if last is None:
            return GuardVerdict.allowed(self.name)
        if ctx.as_of is None:
            return _no_clock(self.name)
        elapsed = (ctx.as_of - last).total_seconds()
        if elapsed < self.cooldown:
            return GuardVerdict.denied(
                self.name,
                "symbol_cooldown_active",
                f"{intent.symbol} traded {elapsed:g}s ago, cooldown {Duration(self.cooldown)}",
            )
        return GuardVerdict.allowed(self.name)


def _parse_time(value: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected a time like '09:30', got {value!r}") from None
    if parsed.tzinfo is not None:
        raise ValueError(f"give a local time without offset (set timezone), got {value!r}")
    return parsed


def _check_timezone(_inst: object, attribute: attrs.Attribute, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{attribute.name}: unknown time zone {value!r} (use an IANA name like "
            "'America/New_York')"
        ) from None


def _check_time(_inst: object, attribute: attrs.Attribute, value: str) -> None:
    try:
        _parse_time(value)
    except ValueError as exc:
        raise ValueError(f"{attribute.name}: {exc}") from None


def _check_close(inst: SessionHoursConfig, attribute: attrs.Attribute, value: str) -> None:
    _check_time(inst, attribute, value)
    if _parse_time(value) <= _parse_time(inst.open):
        raise ValueError(f"{attribute.name}: must be later than open ({inst.open}), got {value!r}")


_FULL_NAMES = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}


def _weekdays(value: list[str]) -> list[str]:
    names = [d.strip().lower() for d in value]
    return [_FULL_NAMES.get(d, d) for d in names]


def _check_weekdays(_inst: object, attribute: attrs.Attribute, value: list[str]) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: expected at least one weekday")
    bad = [d for d in value if d not in WEEKDAYS]
    if bad:
        raise ValueError(f"{attribute.name}: expected names like 'mon' or 'monday', got {bad[0]!r}")


@define
class SessionHoursConfig:
    """``[guard.session_hours]``: trade only between ``open`` and ``close`` local time
    in ``timezone`` on ``weekdays`` (``source = "table"``), or only while the venue's
    session is open as the market data feed reports it (``source = "market_data"``:
    holidays and early closes included; ``timezone`` then only formats the details)."""

    source: Literal["table", "market_data"] = "table"
    timezone: str = field(default="America/New_York", validator=_check_timezone)
    open: str = field(default="09:30", validator=_check_time)
    close: str = field(default="16:00", validator=_check_close)
    weekdays: list[str] = field(
        factory=lambda: ["mon", "tue", "wed", "thu", "fri"],
        converter=_weekdays,
        validator=_check_weekdays,
    )


class SessionHoursGuard:
    """Denies intents whose market time ``ctx.as_of`` falls outside the session:
    ``open <= local time < close`` on one of ``weekdays``, or, with ``source =
    "market_data"``, outside the venue's session as the feed's ``session(at)`` reports it
    (a feed that cannot tell denies ``no_session``: fail closed)."""

    codes = ("outside_session", "no_clock", "no_session")
    wants_resolve = True
    """The factory passes ``resolve`` (the component context's) to reach the feed."""

    def __init__(
        self,
        config: SessionHoursConfig,
        name: str = "session_hours",
        resolve: Callable[[str], Any] | None = None,
    ) -> None:
        self.tz = ZoneInfo(config.timezone)
        self.open = _parse_time(config.open)
        self.close = _parse_time(config.close)
        self.weekdays = frozenset(WEEKDAYS.index(d) for d in config.weekdays)
        self.config = config
        self.name = name
        self._resolve = resolve

    def in_session(self, when: datetime) -> bool:
        """Whether the aware datetime ``when`` falls inside the session of the table."""
        local = when.astimezone(self.tz)
        return local.weekday() in self.weekdays and self.open <= local.time() < self.close

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        if ctx.as_of is None:
            return _no_clock(self.name)
        if self.config.source == "market_data":
            return self._check_venue(ctx.as_of)
        if self.in_session(ctx.as_of):
            return GuardVerdict.allowed(self.name)
        local = ctx.as_of.astimezone(self.tz)
        cfg = self.config
        return GuardVerdict.denied(
            self.name,
            "outside_session",
            f"{local:%a %H:%M} {cfg.timezone} is outside {cfg.open}-{cfg.close} "
            f"{','.join(cfg.weekdays)}",
        )

    def _check_venue(self, at: datetime) -> GuardVerdict:
        feed = self._resolve("market_data") if self._resolve is not None else None
        ask = getattr(feed, "session", None)
        if not callable(ask):
            return GuardVerdict.denied(
                self.name,
                "no_session",
                f"the market data feed ({type(feed).__name__}) does not report the venue's "
                'session (session(at)); use source = "table"',
            )
        try:
            session = ask(at)
        except Exception as exc:  # the venue could not say: fail closed, name why
            return GuardVerdict.denied(
                self.name, "no_session", f"session unknown: {type(exc).__name__}: {exc}"
            )
        if not isinstance(session, MarketSession):
            return GuardVerdict.denied(self.name, "no_session", "the feed cannot tell the session")
        where = f" ({session.source})" if session.source else ""
        if session.is_open:
            until = f"closes {self._local(session.closes_at)}" if session.closes_at else "open"
            return GuardVerdict.allowed(self.name, detail=until + where)
        hours = (
            f"today {self._local(session.opens_at)}-{self._local(session.closes_at)}"
            if session.opens_at and session.closes_at
            else "no session today"
        )
        after = f", next open {self._local(session.next_open)}" if session.next_open else ""
        return GuardVerdict.denied(
            self.name,
            "outside_session",
            f"the market is closed at {self._local(at)}: {hours}{after}{where}",
        )

    def _local(self, when: datetime | None) -> str:
        if when is None:
            return "?"
        return f"{when.astimezone(self.tz):%a %Y-%m-%d %H:%M} {self.config.timezone}"
