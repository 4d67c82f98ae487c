"""The domain model: market data, orders, intents, decisions, verdicts and events.

Money, prices and quantities are :class:`decimal.Decimal` everywhere (see
docs/architecture.md, "Numbers"). Timestamps are timezone-aware UTC datetimes.
Every class here is a frozen attrs class; :mod:`tradekernel.serde` turns them into
plain JSON-able dicts and back, strictly.
"""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from attrs import field, frozen

INTENT_SCHEMA = "intent.v1"
EVENT_SCHEMA = "event.v1"
SKILL_SCHEMA = "skill.v1"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only clock the kernel reads)."""
    return datetime.now(UTC)


def to_decimal(value: Any) -> Decimal:
    """Convert int, str or float to Decimal without binary-float noise (0.1 -> Decimal('0.1'))."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _opt_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(enum.StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"


CLIENT_ORDER_ID_PREFIX = "tk-"
"""Every client order id this kernel sends starts with it (see ``Intent.client_order_id``)."""


class OrderStatus(enum.StrEnum):
    """Normalised order status. Brokers map their own states onto these five."""

    WORKING = "working"
    PARTIAL_FILL = "partial_fill"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


@frozen
class Quote:
    symbol: str
    ts: datetime
    last: Decimal = field(converter=to_decimal)
    bid: Decimal | None = field(default=None, converter=_opt_decimal)
    ask: Decimal | None = field(default=None, converter=_opt_decimal)
    volume: Decimal | None = field(default=None, converter=_opt_decimal)


@frozen
class Bar:
    symbol: str
    ts: datetime
    open: Decimal = field(converter=to_decimal)
    high: Decimal = field(converter=to_decimal)
    low: Decimal = field(converter=to_decimal)
    close: Decimal = field(converter=to_decimal)
    volume: Decimal = field(default=Decimal(0), converter=to_decimal)


@frozen
class Position:
    symbol: str
    quantity: Decimal = field(converter=to_decimal)
    avg_price: Decimal = field(converter=to_decimal)
    market_price: Decimal | None = field(default=None, converter=_opt_decimal)

    @property
    def market_value(self) -> Decimal:
        price = self.market_price if self.market_price is not None else self.avg_price
        return self.quantity * price

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.market_price is None:
            return Decimal(0)
        return (self.market_price - self.avg_price) * self.quantity


@frozen
class Account:
    """A broker account snapshot."""

    cash: Decimal = field(converter=to_decimal)
    equity: Decimal = field(converter=to_decimal)
    realized_pnl: Decimal = field(default=Decimal(0), converter=to_decimal)
    currency: str = "USD"


@frozen
class OrderRequest:
    """What the executor hands a broker: one order, keyed by a deterministic client order id."""

    client_order_id: str
    symbol: str
    side: Side = field(converter=Side)
    quantity: Decimal = field(converter=to_decimal)
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    limit_price: Decimal | None = field(default=None, converter=_opt_decimal)
    time_in_force: TimeInForce = field(default=TimeInForce.DAY, converter=TimeInForce)
    intent_id: str | None = None


@frozen
class Fill:
    """One execution. ``fill_id`` is the broker's fill or trade id: fills are deduplicated on it."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side = field(converter=Side)
    quantity: Decimal = field(converter=to_decimal)
    price: Decimal = field(converter=to_decimal)
    ts: datetime = field(factory=utcnow)
    commission: Decimal = field(default=Decimal(0), converter=to_decimal)
    broker_order_id: str | None = None


@frozen
class Order:
    """A broker order as the kernel sees it."""

    client_order_id: str
    symbol: str
    side: Side = field(converter=Side)
    quantity: Decimal = field(converter=to_decimal)
    status: OrderStatus = field(converter=OrderStatus)
    broker_order_id: str | None = None
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    limit_price: Decimal | None = field(default=None, converter=_opt_decimal)
    filled_quantity: Decimal = field(default=Decimal(0), converter=to_decimal)
    avg_fill_price: Decimal | None = field(default=None, converter=_opt_decimal)
    reason: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def progress(self) -> Decimal:
        """Filled share of the order, 0..1."""
        if not self.quantity:
            return Decimal(0)
        return self.filled_quantity / self.quantity


def _canonical(value: Decimal | None) -> str | None:
    """One spelling per number (``1``, ``1.0`` and ``1.00`` are the same quantity)."""
    return None if value is None else format(value.normalize(), "f")


def canonical_json(data: Any) -> str:
    """Stable JSON text (sorted keys, no spaces) used for digests and ids."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def digest(data: Any) -> str:
    """SHA-256 hex digest of :func:`canonical_json` of ``data``."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


@frozen
class Intent:
    """A strategist's proposal to trade (schema ``intent.v1``).

    Exactly one of ``quantity`` and ``notional`` is set. ``id`` is derived from the
    content and ``as_of`` (the market time the decision saw), so the same cycle
    inputs always produce the same intent id: use :meth:`create`.
    """

    id: str
    symbol: str
    side: Side = field(converter=Side)
    quantity: Decimal | None = field(default=None, converter=_opt_decimal)
    notional: Decimal | None = field(default=None, converter=_opt_decimal)
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    limit_price: Decimal | None = field(default=None, converter=_opt_decimal)
    time_in_force: TimeInForce = field(default=TimeInForce.DAY, converter=TimeInForce)
    rationale: str = ""
    confidence: float = 1.0
    strategist: str = ""
    prompt_version: str | None = None
    schema_version: str = INTENT_SCHEMA
    as_of: datetime | None = None
    created_at: datetime = field(factory=utcnow)

    def __attrs_post_init__(self) -> None:
        if (self.quantity is None) == (self.notional is None):
            raise ValueError("intent: exactly one of quantity and notional must be set")
        amount = self.quantity if self.quantity is not None else self.notional
        if amount is None or not amount.is_finite() or amount <= 0:
            raise ValueError(f"intent: amount must be a positive number, got {amount}")
        if self.order_type is OrderType.LIMIT and (
            self.limit_price is None or self.limit_price <= 0
        ):
            raise ValueError("intent: a limit order needs a positive limit_price")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"intent: confidence must be within 0..1, got {self.confidence}")
        if not self.symbol or self.symbol != self.symbol.strip().upper():
            raise ValueError(
                f"intent: symbol must be upper-case and non-empty, got {self.symbol!r}"
            )

    @classmethod
    def create(cls, *, symbol: str, side: Side | str, **kwargs: Any) -> Intent:
        """Build an intent whose id is the digest of its content (without ``created_at``)."""
        probe = cls(id="pending", symbol=symbol, side=side, **kwargs)
        content = {
            "symbol": probe.symbol,
            "side": str(probe.side),
            "quantity": _canonical(probe.quantity),
            "notional": _canonical(probe.notional),
            "order_type": str(probe.order_type),
            "limit_price": _canonical(probe.limit_price),
            "time_in_force": str(probe.time_in_force),
            "strategist": probe.strategist,
            "prompt_version": probe.prompt_version,
            "schema_version": probe.schema_version,
            "as_of": probe.as_of.isoformat() if probe.as_of else None,
        }
        return cls(id="int_" + digest(content)[:24], symbol=symbol, side=side, **kwargs)

    @property
    def client_order_id(self) -> str:
        """The deterministic broker client order id for this intent."""
        return CLIENT_ORDER_ID_PREFIX + self.id.removeprefix("int_")


@frozen
class Decision:
    """A strategist's answer: intents to propose, or a hold with a reason."""

    intents: tuple[Intent, ...] = field(default=(), converter=tuple)
    hold_reason: str | None = None
    error_type: str | None = None
    detail: str = ""

    @classmethod
    def hold(cls, reason: str, *, error_type: str | None = None, detail: str = "") -> Decision:
        return cls(intents=(), hold_reason=reason, error_type=error_type, detail=detail)

    @property
    def is_hold(self) -> bool:
        return not self.intents


@frozen
class GuardVerdict:
    """One guard's answer on one intent. ``code`` is a stable, documented reason code."""

    guard: str
    allow: bool
    code: str
    detail: str = ""

    @classmethod
    def allowed(cls, guard: str, code: str = "ok", detail: str = "") -> GuardVerdict:
        return cls(guard=guard, allow=True, code=code, detail=detail)

    @classmethod
    def denied(cls, guard: str, code: str, detail: str = "") -> GuardVerdict:
        return cls(guard=guard, allow=False, code=code, detail=detail)


@frozen
class SkillResult:
    """The outcome of one skill call (schema ``skill.v1``)."""

    name: str
    ok: bool
    data: Any = None
    error: str | None = None
    fallback_reason: str | None = None
    latency_ms: float = 0.0
    source: str = ""
    version: str = "1"
    schema: str = SKILL_SCHEMA


class Severity(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@frozen
class Event:
    """Everything observable (schema ``event.v1``); see docs/events.md."""

    stage: str
    kind: str
    fields: dict[str, Any] = field(factory=dict)
    ts: datetime = field(factory=utcnow)
    run_id: str = ""
    cycle_id: str = ""
    severity: Severity = field(default=Severity.INFO, converter=Severity)
    schema: str = EVENT_SCHEMA


@frozen
class IntentTransition:
    """One change of an intent's state, as journaled (passed to ``on_intent_transition``)."""

    intent_id: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str = ""
    ts: datetime = field(factory=utcnow)
    payload: dict[str, Any] = field(factory=dict)
