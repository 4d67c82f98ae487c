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
"""The schema name every :class:`Intent` carries (``Intent.schema_version``)."""
EVENT_SCHEMA = "event.v1"
"""The schema name every :class:`Event` carries (``Event.schema``; docs/events.md)."""
SKILL_SCHEMA = "skill.v1"
"""The schema name every :class:`SkillResult` carries (``SkillResult.schema``)."""


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
    """The side of an order, fill or intent."""

    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    """Market (fill at the going price) or limit (at ``limit_price`` or better)."""

    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(enum.StrEnum):
    """How long an order stays working: the trading day, until cancelled, or
    immediate-or-cancel (what does not fill at once is cancelled)."""

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
        """Whether the order is done: filled, cancelled or rejected."""
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


@frozen
class Quote:
    """The latest price of one symbol, as a market data feed reports it."""

    symbol: str
    """The instrument, upper case (``AAPL``, ``BTC-USD``)."""
    ts: datetime
    """When the price was observed (UTC)."""
    last: Decimal = field(converter=to_decimal)
    """The last traded price, in the account currency per unit."""
    bid: Decimal | None = field(default=None, converter=_opt_decimal)
    """The best bid (price per unit), when the feed has one."""
    ask: Decimal | None = field(default=None, converter=_opt_decimal)
    """The best ask (price per unit), when the feed has one."""
    volume: Decimal | None = field(default=None, converter=_opt_decimal)
    """Units traded so far in the session, when the feed reports it."""


@frozen
class Bar:
    """One OHLCV bar (candle) of one symbol; prices per unit in the account currency."""

    symbol: str
    """The instrument, upper case."""
    ts: datetime
    """The bar's time as the feed labels it (UTC); bars of a symbol are in time order."""
    open: Decimal = field(converter=to_decimal)
    """The first traded price of the interval."""
    high: Decimal = field(converter=to_decimal)
    """The highest traded price of the interval."""
    low: Decimal = field(converter=to_decimal)
    """The lowest traded price of the interval."""
    close: Decimal = field(converter=to_decimal)
    """The last traded price of the interval (so far, for a bar still forming)."""
    volume: Decimal = field(default=Decimal(0), converter=to_decimal)
    """Units traded in the interval."""


@frozen
class Position:
    """A holding of one symbol, as the broker reports it."""

    symbol: str
    """The instrument, upper case."""
    quantity: Decimal = field(converter=to_decimal)
    """Units held: positive long, negative short."""
    avg_price: Decimal = field(converter=to_decimal)
    """The average entry price per unit (account currency)."""
    market_price: Decimal | None = field(default=None, converter=_opt_decimal)
    """The current price per unit, when the broker knows it."""

    @property
    def market_value(self) -> Decimal:
        """``quantity`` x the market price (the entry price when unknown), signed."""
        price = self.market_price if self.market_price is not None else self.avg_price
        return self.quantity * price

    @property
    def unrealized_pnl(self) -> Decimal:
        """(market price - entry price) x ``quantity``; 0 without a market price."""
        if self.market_price is None:
            return Decimal(0)
        return (self.market_price - self.avg_price) * self.quantity


@frozen
class Account:
    """A broker account snapshot."""

    cash: Decimal = field(converter=to_decimal)
    """Cash balance, in ``currency``."""
    equity: Decimal = field(converter=to_decimal)
    """Cash plus the market value of every position, in ``currency``."""
    realized_pnl: Decimal = field(default=Decimal(0), converter=to_decimal)
    """Profit and loss realized by closed trades, in ``currency``."""
    currency: str = "USD"
    """The ISO 4217 code of the account currency every amount is in."""


@frozen
class OrderRequest:
    """What the executor hands a broker: one order, keyed by a deterministic client order id."""

    client_order_id: str
    """The idempotency key (``Intent.client_order_id``): a resubmission with the same id
    must not create a second order."""
    symbol: str
    """The instrument, upper case."""
    side: Side = field(converter=Side)
    """Buy or sell."""
    quantity: Decimal = field(converter=to_decimal)
    """Units to trade, positive, already rounded to the broker's ``OrderConstraints``."""
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    """Market or limit."""
    limit_price: Decimal | None = field(default=None, converter=_opt_decimal)
    """The worst acceptable price per unit, for a limit order."""
    time_in_force: TimeInForce = field(default=TimeInForce.DAY, converter=TimeInForce)
    """How long the order stays working."""
    intent_id: str | None = None
    """The intent the order executes."""


@frozen
class Fill:
    """One execution. ``fill_id`` is the broker's fill or trade id: fills are deduplicated on it."""

    fill_id: str
    """The broker's fill or trade id, unique per execution."""
    client_order_id: str
    """The order the execution belongs to."""
    symbol: str
    """The instrument, upper case."""
    side: Side = field(converter=Side)
    """Buy or sell."""
    quantity: Decimal = field(converter=to_decimal)
    """Units executed, positive."""
    price: Decimal = field(converter=to_decimal)
    """The execution price per unit (account currency)."""
    ts: datetime = field(factory=utcnow)
    """When it executed (UTC)."""
    commission: Decimal = field(default=Decimal(0), converter=to_decimal)
    """Fees charged for it (account currency, zero or more)."""
    broker_order_id: str | None = None
    """The broker's own id of the order, when it has one."""


@frozen
class Order:
    """A broker order as the kernel sees it."""

    client_order_id: str
    """The kernel's idempotency key (``OrderRequest.client_order_id``)."""
    symbol: str
    """The instrument, upper case."""
    side: Side = field(converter=Side)
    """Buy or sell."""
    quantity: Decimal = field(converter=to_decimal)
    """Units ordered, positive."""
    status: OrderStatus = field(converter=OrderStatus)
    """Where the order stands, normalised."""
    broker_order_id: str | None = None
    """The broker's own id of the order, when it has one."""
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    """Market or limit."""
    limit_price: Decimal | None = field(default=None, converter=_opt_decimal)
    """The worst acceptable price per unit, for a limit order."""
    filled_quantity: Decimal = field(default=Decimal(0), converter=to_decimal)
    """Units executed so far (0 up to ``quantity``)."""
    avg_fill_price: Decimal | None = field(default=None, converter=_opt_decimal)
    """The average execution price per unit, once anything filled."""
    reason: str | None = None
    """Why the broker rejected or cancelled it, when it did."""
    submitted_at: datetime | None = None
    """When the broker accepted it (UTC)."""
    updated_at: datetime | None = None
    """When its status last changed (UTC)."""

    @property
    def terminal(self) -> bool:
        """Whether the order is done (see ``OrderStatus.terminal``)."""
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

    At most one of ``quantity`` and ``notional`` is set; an intent with neither is
    *unsized* (a direction, or a ``target_weight``) and is given a quantity by the
    strategy's sizer before anything else sees it (docs/portfolio.md, "Sizing").
    ``id`` is derived from the content and ``as_of`` (the market time the decision
    saw), so the same cycle inputs always produce the same intent id: use :meth:`create`.
    """

    id: str
    """``int_`` + 24 hex digits of the content digest (:meth:`create`)."""
    symbol: str
    """The instrument, upper case and non-empty."""
    side: Side = field(converter=Side)
    """Buy or sell."""
    quantity: Decimal | None = field(default=None, converter=_opt_decimal)
    """Units to trade, positive; or ``None`` when ``notional`` is set."""
    notional: Decimal | None = field(default=None, converter=_opt_decimal)
    """The amount to trade in the account currency, positive; or ``None`` when
    ``quantity`` is set (the runtime converts it to units at the current price)."""
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    """Market or limit."""
    limit_price: Decimal | None = field(default=None, converter=_opt_decimal)
    """The worst acceptable price per unit; required (positive) for a limit order."""
    time_in_force: TimeInForce = field(default=TimeInForce.DAY, converter=TimeInForce)
    """How long the order stays working."""
    rationale: str = ""
    """Why the strategist proposes it (shown to the operator as inert text)."""
    confidence: float = 1.0
    """The strategist's confidence, 0..1."""
    strategist: str = ""
    """The name of the strategist that proposed it."""
    prompt_version: str | None = None
    """The prompt version of an LLM strategist, for audit; for a netted intent,
    ``net:`` and the digest of its inputs' ids (part of its id)."""
    schema_version: str = INTENT_SCHEMA
    """Always :data:`INTENT_SCHEMA`."""
    as_of: datetime | None = None
    """The market time the decision saw (UTC); part of the id."""
    created_at: datetime = field(factory=utcnow)
    """When the object was made (UTC); not part of the id."""
    target_weight: Decimal | None = field(default=None, converter=_opt_decimal)
    """For an intent the strategist leaves unsized: the position wanted in ``symbol``, as
    a fraction (0..1) of the strategy's budget, reached by buying (``buy``) or selling
    (``sell``) toward it; a sizer turns it into ``quantity`` (docs/portfolio.md,
    "Sizing"). ``None``: no weight (a quantity, a notional, or a direction only)."""
    stop_price: Decimal | None = field(default=None, converter=_opt_decimal)
    """Where the strategist would stop out, per unit (positive), for sizers that risk a
    fraction of the budget over the stop distance; ``None``: none given."""
    sizing: dict[str, str] | None = field(default=None, hash=False)
    """How a sizer chose ``quantity`` for an intent that came unsized: the sizer's name,
    the method and every input, as text (``{"sizer": "kelly", "budget": "10000", ...}``).
    ``None`` for an intent whose strategist gave the amount. Not part of the id (the
    chosen quantity is)."""

    def __attrs_post_init__(self) -> None:
        if self.quantity is not None and self.notional is not None:
            raise ValueError("intent: quantity and notional must not both be set")
        if self.target_weight is not None:
            weight = self.target_weight
            if not weight.is_finite() or not 0 <= weight <= 1:
                raise ValueError(f"intent: target_weight must be within 0..1, got {weight}")
            if self.sized:
                raise ValueError("intent: a target_weight is for an intent without an amount")
        if self.stop_price is not None and (
            not self.stop_price.is_finite() or self.stop_price <= 0
        ):
            raise ValueError(f"intent: stop_price must be a positive number, got {self.stop_price}")
        amount = self.quantity if self.quantity is not None else self.notional
        if self.sized and (amount is None or not amount.is_finite() or amount <= 0):
            raise ValueError(f"intent: amount must be a positive number, got {amount}")
        if self.sizing is not None and self.quantity is None:
            raise ValueError("intent: a sizing record needs the quantity it chose")
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
        # Set only when given, so the id of every intent without them is unchanged.
        if probe.target_weight is not None:
            content["target_weight"] = _canonical(probe.target_weight)
        if probe.stop_price is not None:
            content["stop_price"] = _canonical(probe.stop_price)
        return cls(id="int_" + digest(content)[:24], symbol=symbol, side=side, **kwargs)

    @property
    def sized(self) -> bool:
        """Whether the intent says how much (a ``quantity`` or a ``notional``): one
        without is a direction or a ``target_weight`` that a sizer must size before any
        guard, approval or order (``tradekernel.portfolio.sizing``)."""
        return self.quantity is not None or self.notional is not None

    @property
    def client_order_id(self) -> str:
        """The deterministic broker client order id for this intent."""
        return CLIENT_ORDER_ID_PREFIX + self.id.removeprefix("int_")


def _to_tuple(values: Any) -> tuple[Any, ...]:
    """``tuple(values)``, as a Python function: attrs reads a converter's signature, and
    the signature of a builtin such as ``tuple`` is parsed from text with the tokenizer,
    whose regular expressions cost milliseconds to compile at start-up."""
    return tuple(values)


@frozen
class Decision:
    """A strategist's answer: intents to propose, or a hold with a reason."""

    intents: tuple[Intent, ...] = field(default=(), converter=_to_tuple)
    """The proposed intents; empty for a hold."""
    hold_reason: str | None = None
    """Why nothing is proposed (a stable code such as ``no_signal``), for a hold."""
    error_type: str | None = None
    """What failed, when the hold is due to a failure (``refusal``, ``timeout``, ...)."""
    detail: str = ""
    """Free-text detail for the operator."""

    @classmethod
    def hold(cls, reason: str, *, error_type: str | None = None, detail: str = "") -> Decision:
        """A decision to propose nothing, with its reason."""
        return cls(intents=(), hold_reason=reason, error_type=error_type, detail=detail)

    @property
    def is_hold(self) -> bool:
        """Whether no intent is proposed."""
        return not self.intents


def _non_negative(_: object, attribute: Any, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value}")


@frozen
class GuardVerdict:
    """One guard's answer on one intent. ``code`` is a stable, documented reason code."""

    guard: str
    """The name of the guard that answered."""
    allow: bool
    """Whether the intent may proceed."""
    code: str
    """The stable reason code (``ok`` when allowed; ``no_price``, ... when denied)."""
    detail: str = ""
    """Free-text detail for the operator."""
    rule: str = ""
    """The id of the rule that decided, for rule-based guards (``""``: not rule-based)."""
    version: str = ""
    """The version of the rules that decided (a policy's version), ``""`` when unversioned."""
    approvals: int = field(default=0, validator=_non_negative)
    """Distinct approvals the intent needs before it may execute (0: no requirement
    beyond the approval mode)."""

    @classmethod
    def allowed(cls, guard: str, code: str = "ok", detail: str = "") -> GuardVerdict:
        """An allowing verdict."""
        return cls(guard=guard, allow=True, code=code, detail=detail)

    @classmethod
    def denied(cls, guard: str, code: str, detail: str = "") -> GuardVerdict:
        """A denying verdict with its reason code."""
        return cls(guard=guard, allow=False, code=code, detail=detail)


@frozen
class SkillResult:
    """The outcome of one skill call (schema ``skill.v1``)."""

    name: str
    """The skill's name (``area.verb``)."""
    ok: bool
    """Whether the call succeeded."""
    data: Any = None
    """What the skill returned (JSON-able), when it succeeded."""
    error: str | None = None
    """What went wrong, when it failed."""
    fallback_reason: str | None = None
    """The stable code the runtime records when it went on without this result."""
    latency_ms: float = 0.0
    """How long the call took, in milliseconds."""
    source: str = ""
    """Where the data came from (the providing plugin or feed)."""
    version: str = "1"
    """The skill's version."""
    schema: str = SKILL_SCHEMA
    """Always :data:`SKILL_SCHEMA`."""


class Severity(enum.StrEnum):
    """How much an event matters, lowest first."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@frozen
class Event:
    """Everything observable (schema ``event.v1``); see docs/events.md."""

    stage: str
    """The part of the system that emitted it (``executor``, ``risk``, ``approval``, ...)."""
    kind: str
    """What happened, within the stage (``submitted``, ``verdict``, ...)."""
    fields: dict[str, Any] = field(factory=dict)
    """The event's data, JSON-able, as the catalogue lists it for ``stage.kind``."""
    ts: datetime = field(factory=utcnow)
    """When it happened (UTC)."""
    run_id: str = ""
    """The run (process invocation) it belongs to."""
    cycle_id: str = ""
    """The trading cycle it belongs to, if any."""
    severity: Severity = field(default=Severity.INFO, converter=Severity)
    """How much it matters."""
    schema: str = EVENT_SCHEMA
    """Always :data:`EVENT_SCHEMA`."""


@frozen
class IntentTransition:
    """One change of an intent's state, as journaled (passed to ``on_intent_transition``)."""

    intent_id: str
    """The intent that changed."""
    from_state: str | None
    """The state it left; ``None`` when it was just proposed."""
    to_state: str
    """The state it entered (``blocked``, ``pending_approval``, ``approved``, ``submitted``,
    ...; docs/state.md)."""
    actor: str
    """Who made the change (``runtime``, ``guards``, ``executor``, an operator's name, ...)."""
    reason: str = ""
    """Why, as a stable code or short text."""
    ts: datetime = field(factory=utcnow)
    """When (UTC)."""
    payload: dict[str, Any] = field(factory=dict)
    """What the journal records with it (JSON-able)."""
