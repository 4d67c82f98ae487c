"""The fields a policy may read: each a name, a type and how its value comes from the
intent and the guard context (docs/policy.md, "Fields").

A value is computed at most once per evaluation (:class:`Env` caches it). A field that
has no value for this intent (no price, no market clock, no account) raises
:class:`Missing` with the reason code the policy then denies with: evaluation fails
closed, as the guards do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from attrs import frozen
from tradekernel.api import (
    TRADING_STATES,
    GuardContext,
    Intent,
    OrderType,
    Side,
    TimeInForce,
    intent_price,
    intent_quantity,
    reduces_position,
    signed,
    to_decimal,
)

NUMBER = "number"
STR = "str"
BOOL = "bool"
TIME = "time"
TYPES = (NUMBER, STR, BOOL, TIME)
"""The scalar types of fields and literals; a list literal has type ``list[<scalar>]``."""

ZERO = Decimal(0)
INFINITY = Decimal("Infinity")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Missing(Exception):
    """A field has no value for this intent: the policy denies with ``code``."""

    def __init__(self, code: str, field: str) -> None:
        super().__init__(f"{field}: no value ({code})")
        self.code = code
        self.field = field


class Clock:
    """The policy's time zone, and the last market time converted to it: every intent
    of a cycle has the cycle's market time, so it is converted once per cycle. The memo
    is one tuple, replaced whole: safe to share between threads."""

    __slots__ = ("memo", "tz")

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.memo: tuple[datetime | None, datetime | None] = (None, None)

    def to_local(self, when: datetime) -> datetime:
        last, local = self.memo
        if local is None or when != last:
            local = when.astimezone(self.tz)
            self.memo = (when, local)
        return local


class Env(dict):
    """One evaluation: the intent, its guard context, and (as a dict) the field values
    read so far. ``env[name]`` computes a field on first use (``__missing__``): a value
    already read costs one dict lookup."""

    __slots__ = ("clock", "ctx", "intent")

    def __init__(self, intent: Intent, ctx: GuardContext, clock: Clock) -> None:
        super().__init__()
        self.intent = intent
        self.ctx = ctx
        self.clock = clock

    def __missing__(self, name: str) -> Any:
        value = self[name] = GETTERS[name](self)
        return value


@frozen
class Field:
    """One documented field."""

    name: str
    type: str
    doc: str
    get: Callable[[Env], Any]
    missing: str = ""
    """The reason code when it has no value (``""``: it always has one)."""
    attr: str = ""
    """For a field that is a plain attribute of the evaluation (``intent.symbol``): its
    dotted path from :class:`Env`, read directly by comparisons with a constant."""
    choices: tuple[str, ...] = ()
    """For a text field with a fixed set of values: them (a literal compared with the
    field must be one of them, checked at load)."""
    upper: bool = False
    """For a text field whose values are upper case (symbols): literals must be too."""


# -- getters ---------------------------------------------------------------------------


def _price(env: Env) -> Decimal:
    price = intent_price(env.intent, env.ctx)
    if price is None:
        raise Missing("no_price", "intent.price")
    return price


def _price_or_none(env: Env) -> Decimal | None:
    try:
        return env["intent.price"]
    except Missing:
        return None


def _quantity(env: Env) -> Decimal:
    if env.intent.quantity is not None:  # the common case needs no price
        return env.intent.quantity
    quantity = intent_quantity(env.intent, _price_or_none(env))
    if quantity is None:
        raise Missing("no_price", "intent.quantity")
    return quantity


def _notional(env: Env) -> Decimal:
    intent = env.intent
    if intent.notional is not None:
        return intent.notional
    if intent.quantity is not None:  # as intent_notional, without a call per step
        try:
            return intent.quantity * env["intent.price"]
        except Missing:
            pass
    raise Missing("no_price", "intent.notional")


def _held(env: Env) -> Decimal:
    position = env.ctx.positions.get(env.intent.symbol)
    return position.quantity if position is not None else ZERO


def _after(env: Env) -> Decimal:
    after = _held(env) + signed(env.intent, env["intent.quantity"])
    env["position.abs_after"] = abs(after)  # its sibling, for free
    return after


def _reduces(env: Env) -> bool:
    position = env.ctx.positions.get(env.intent.symbol)
    if position is None or not position.quantity:
        return False  # nothing held: nothing to reduce (and no price needed)
    return reduces_position(env.intent, env.ctx.positions, price=_price_or_none(env))


def _others_gross(ctx: GuardContext, symbol: str | None) -> Decimal:
    total = ZERO
    for s, p in ctx.positions.items():
        if s != symbol:
            total += abs(p.market_value)
    for p in ctx.other_positions:
        total += abs(p.market_value)
    return total


def _gross_after(env: Env) -> Decimal:
    intent, ctx = env.intent, env.ctx
    price = _price_or_none(env)
    held = _held(env)
    if price is not None:
        symbol_value = abs(env["position.after"]) * price
    elif intent.notional is not None and not held:
        symbol_value = intent.notional  # a new position is worth its notional
    else:
        raise Missing("no_price", "account.gross_after")
    return _others_gross(ctx, intent.symbol) + symbol_value


def _account(name: str, attr: str) -> Callable[[Env], Decimal]:
    def get(env: Env) -> Decimal:
        account = env.ctx.account
        if account is None:
            raise Missing("no_account", name)
        return getattr(account, attr)

    return get


def _quote(name: str, attr: str) -> Callable[[Env], Decimal]:
    def get(env: Env) -> Decimal:
        quote = env.ctx.quote
        value = getattr(quote, attr, None) if quote is not None else None
        if quote is None or quote.symbol != env.intent.symbol or value is None:
            raise Missing("no_price", name)
        return value

    return get


def _spread(env: Env) -> Decimal:
    return env["quote.ask"] - env["quote.bid"]


def _as_of(env: Env, name: str) -> Any:
    as_of = env.ctx.as_of
    if as_of is None:
        raise Missing("no_clock", name)
    return as_of


def _quote_age(env: Env) -> Decimal:
    quote = env.ctx.quote
    if quote is None or quote.symbol != env.intent.symbol:
        raise Missing("no_price", "quote.age_s")
    return Decimal(str((_as_of(env, "quote.age_s") - quote.ts).total_seconds()))


def _local_time(env: Env) -> time:
    as_of = env.ctx.as_of
    if as_of is None:
        raise Missing("no_clock", "clock.time")
    return env.clock.to_local(as_of).time()  # naive: compared with the policy's times


def _weekday(env: Env) -> str:
    as_of = env.ctx.as_of
    if as_of is None:
        raise Missing("no_clock", "clock.weekday")
    return WEEKDAYS[env.clock.to_local(as_of).weekday()]


def _since_trade(env: Env) -> Decimal:
    last = env.ctx.last_trade_time.get(env.intent.symbol)
    if last is None:
        return INFINITY
    return Decimal(str((_as_of(env, "symbol.seconds_since_trade") - last).total_seconds()))


_CONFIDENCE: dict[float, Decimal] = {}


def _confidence(env: Env) -> Decimal:
    value = env.intent.confidence
    found = _CONFIDENCE.get(value)
    if found is None:
        if len(_CONFIDENCE) > 4096:  # strategists give a few distinct values; stay bounded
            _CONFIDENCE.clear()
        found = _CONFIDENCE[value] = Decimal(repr(float(value)))
    return found


def _loss_today(env: Env) -> Decimal:
    ctx = env.ctx
    realized, unrealized = ctx.realized_pnl_today, ctx.unrealized_pnl_today or 0
    if realized.__class__ is int and unrealized.__class__ is int:
        return Decimal(-(realized + unrealized))
    if realized.__class__ is not Decimal:
        realized = to_decimal(realized)
    if unrealized.__class__ is not Decimal:
        unrealized = to_decimal(unrealized)
    return -(realized + unrealized)


def _field(
    name: str,
    type_: str,
    doc: str,
    get: Callable[[Env], Any],
    missing: str = "",
    attr: str = "",
    choices: tuple[str, ...] = (),
    upper: bool = False,
) -> Field:
    return Field(
        name=name,
        type=type_,
        doc=doc,
        get=get,
        missing=missing,
        attr=attr,
        choices=choices,
        upper=upper,
    )


_LIST = [
    _field(
        "intent.symbol",
        STR,
        "the instrument, upper case",
        lambda e: e.intent.symbol,
        attr="intent.symbol",
        upper=True,
    ),
    _field(
        "intent.side",
        STR,
        '`"buy"` or `"sell"`',
        lambda e: str(e.intent.side),
        choices=tuple(str(v) for v in Side),
    ),
    _field(
        "intent.order_type",
        STR,
        '`"market"` or `"limit"`',
        lambda e: str(e.intent.order_type),
        choices=tuple(str(v) for v in OrderType),
    ),
    _field(
        "intent.time_in_force",
        STR,
        "`day`, `gtc` or `ioc`",
        lambda e: str(e.intent.time_in_force),
        choices=tuple(str(v) for v in TimeInForce),
    ),
    _field(
        "intent.price",
        NUMBER,
        "the price the order is valued at: its limit price, else the quote's last price",
        _price,
        "no_price",
    ),
    _field(
        "intent.quantity",
        NUMBER,
        "units to trade (a notional intent's notional / `intent.price`)",
        _quantity,
        "no_price",
    ),
    _field(
        "intent.notional",
        NUMBER,
        "the order's value: its notional, else quantity x `intent.price`",
        _notional,
        "no_price",
    ),
    _field(
        "intent.reduces",
        BOOL,
        "whether it sells part of a long or buys back part of a short, without flipping it",
        _reduces,
    ),
    _field(
        "intent.confidence",
        NUMBER,
        "the strategist's confidence, 0..1",
        _confidence,
    ),
    _field(
        "intent.broker",
        STR,
        'the broker the intent is routed to (`""` when not said)',
        lambda e: e.ctx.broker or "",
    ),
    _field(
        "strategy.name",
        STR,
        "the strategist (strategy instance) that proposed it",
        lambda e: e.intent.strategist,
        attr="intent.strategist",
    ),
    _field(
        "strategy.prompt_version",
        STR,
        'an LLM strategist\'s prompt version (`""` when none)',
        lambda e: e.intent.prompt_version or "",
    ),
    _field(
        "position.quantity", NUMBER, "units held in the symbol now (signed; 0 when none)", _held
    ),
    _field(
        "position.after",
        NUMBER,
        "units held after the order (signed)",
        _after,
        "no_price",
    ),
    _field(
        "position.abs_after",
        NUMBER,
        "|units held after the order|",
        lambda e: abs(e["position.after"]),
        "no_price",
    ),
    _field(
        "position.value_after",
        NUMBER,
        "|units held after the order| x `intent.price`",
        lambda e: e["position.abs_after"] * e["intent.price"],
        "no_price",
    ),
    _field(
        "position.avg_price",
        NUMBER,
        "the position's average entry price (0 when none)",
        lambda e: p.avg_price if (p := e.ctx.positions.get(e.intent.symbol)) is not None else ZERO,
    ),
    _field(
        "account.cash", NUMBER, "the account's cash", _account("account.cash", "cash"), "no_account"
    ),
    _field(
        "account.equity",
        NUMBER,
        "the account's equity",
        _account("account.equity", "equity"),
        "no_account",
    ),
    _field(
        "account.gross",
        NUMBER,
        "gross exposure now: the sum of |position value| (every broker)",
        lambda e: _others_gross(e.ctx, None),
    ),
    _field(
        "account.gross_after",
        NUMBER,
        "gross exposure after the order (the symbol at `intent.price`; a notional order "
        "opening a new position at its notional)",
        _gross_after,
        "no_price",
    ),
    _field(
        "account.loss_today",
        NUMBER,
        "today's loss: -(realized + unrealized P&L of the day)",
        _loss_today,
    ),
    _field(
        "account.pnl_today",
        NUMBER,
        "today's P&L: realized + unrealized",
        lambda e: -_loss_today(e),
    ),
    _field(
        "orders.today",
        NUMBER,
        "orders sent today, this cycle's earlier intents included",
        lambda e: Decimal(e.ctx.orders_today),
        attr="ctx.orders_today",
    ),
    _field(
        "quote.last", NUMBER, "the quote's last price", _quote("quote.last", "last"), "no_price"
    ),
    _field("quote.bid", NUMBER, "the best bid", _quote("quote.bid", "bid"), "no_price"),
    _field("quote.ask", NUMBER, "the best ask", _quote("quote.ask", "ask"), "no_price"),
    _field("quote.spread", NUMBER, "ask - bid", _spread, "no_price"),
    _field(
        "quote.volume",
        NUMBER,
        "units traded so far in the session",
        _quote("quote.volume", "volume"),
        "no_price",
    ),
    _field(
        "quote.age_s",
        NUMBER,
        "seconds from the quote's time to the market clock",
        _quote_age,
        "no_price",
    ),
    _field(
        "clock.time",
        TIME,
        "the market clock's local time of day in the policy's `timezone`",
        _local_time,
        "no_clock",
    ),
    _field(
        "clock.weekday",
        STR,
        "the market clock's local weekday: `mon` ... `sun`",
        _weekday,
        "no_clock",
        choices=WEEKDAYS,
    ),
    _field(
        "control.kill_switch",
        BOOL,
        "whether the operator's kill switch is on",
        lambda e: bool(e.ctx.kill_switch),
        attr="ctx.kill_switch",
    ),
    _field(
        "control.trading_state",
        STR,
        "`active`, `reducing` or `halted`",
        lambda e: e.ctx.trading_state,
        attr="ctx.trading_state",
        choices=tuple(TRADING_STATES),
    ),
    _field(
        "symbol.seconds_since_trade",
        NUMBER,
        "seconds since the symbol last traded (`Infinity` when it never did)",
        _since_trade,
        "no_clock",
    ),
]

FIELDS: dict[str, Field] = {f.name: f for f in _LIST}
"""Every fixed field by name; ``orders.within_<duration>`` fields are made on demand."""
GETTERS: dict[str, Callable[[Env], Any]] = {f.name: f.get for f in _LIST}
"""Each field's getter by name (what :meth:`Env.__missing__` calls)."""

_WITHIN = re.compile(r"orders\.within_([0-9]{1,7})(s|m|h|d)")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_DAYS = 366
"""The longest ``orders.within_<duration>`` window (a year of orders)."""


class FieldError(ValueError):
    """A field name of a known form with a value out of range (a window too long)."""


def field(name: str) -> Field | None:
    """The field called ``name`` (``orders.within_90s``, ``orders.within_1h`` included),
    or ``None`` when there is none."""
    found = FIELDS.get(name)
    if found is not None:
        return found
    match = _WITHIN.fullmatch(name)
    if match is None or int(match.group(1)) == 0:
        return None
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if seconds > MAX_WINDOW_DAYS * 86400:
        raise FieldError(f"{name}: the window is at most {MAX_WINDOW_DAYS} days")
    window = timedelta(seconds=seconds)

    def get(env: Env) -> Decimal:
        cutoff = _as_of(env, name) - window  # an order exactly `window` old no longer counts
        count = 0
        for t in env.ctx.recent_order_times:
            if t > cutoff:
                count += 1
        return Decimal(count)

    made = _field(
        name, NUMBER, f"orders sent in the {seconds}s before the market clock", get, "no_clock"
    )
    FIELDS[name] = made
    GETTERS[name] = get
    return made


MISSING_CODES = ("no_price", "no_clock", "no_account")
"""Every reason code a field without a value gives."""
