"""What each kind of component must provide: the contracts plugins implement.

A plugin registers a *factory* per component (see :mod:`tradekernel.hookspecs`); the
kernel calls ``factory(config, ctx)`` with the component's typed config (or ``None``
when it declares no config class) and a :class:`ComponentContext`. The returned object
must satisfy the matching protocol below. Protocols are structural: no base class is
required.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import converters, define, field, frozen

from .models import (
    Account,
    Bar,
    Decision,
    Event,
    Fill,
    GuardVerdict,
    Intent,
    Order,
    OrderRequest,
    Position,
    Quote,
    SkillResult,
    to_decimal,
)

if TYPE_CHECKING:
    from .llm import ChatRequest, ChatResponse


KINDS = (
    "broker",
    "market_data",
    "llm_provider",
    "strategist",
    "scanner",
    "skill",
    "guard",
    "notifier",
    "metrics_sink",
)
"""Every component kind, in the order ``plugins list`` shows them."""


class SubmitOutcomeUnknown(Exception):
    """Raised by :meth:`Broker.submit` when the request may have reached the broker but
    no answer came back (timeout, dropped connection). The executor then looks the order
    up by client order id and never resubmits blindly."""


class BrokerRejected(Exception):
    """Raised by :meth:`Broker.submit` when the broker refused the order before accepting it."""

    def __init__(self, reason: str, code: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _non_negative_decimal(_inst: object, attribute: Any, value: Decimal | None) -> None:
    if value is not None and (not value.is_finite() or value < 0):
        raise ValueError(f"{attribute.name}: expected a finite number of zero or more, got {value}")


def _increment(_inst: object, attribute: Any, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{attribute.name}: expected a positive number, got {value}")


@frozen
class OrderConstraints:
    """What a broker accepts for one symbol. The runtime rounds every intent's quantity
    down to ``quantity_increment`` and drops it (``quantity_below_minimum``,
    ``notional_below_minimum``) when too small, before the guards; limit prices are
    rounded to ``price_tick`` (buys down, sells up). A broker declares them with an
    optional ``order_constraints(symbol) -> OrderConstraints`` method; a broker without
    one gets :data:`DEFAULT_ORDER_CONSTRAINTS`."""

    min_quantity: Decimal = field(
        default=Decimal(0), converter=to_decimal, validator=_non_negative_decimal
    )
    """The smallest quantity (after rounding) an order may have."""
    quantity_increment: Decimal = field(
        default=Decimal("0.00000001"), converter=to_decimal, validator=_increment
    )
    """Quantities are multiples of this (1: whole shares)."""
    min_notional: Decimal = field(
        default=Decimal(0), converter=to_decimal, validator=_non_negative_decimal
    )
    """The smallest quantity x price an order may have (0: none)."""
    price_tick: Decimal | None = field(
        default=None, converter=converters.optional(to_decimal), validator=_non_negative_decimal
    )
    """Limit prices are multiples of this (``None`` or 0: any price)."""


DEFAULT_ORDER_CONSTRAINTS = OrderConstraints()
"""For brokers that declare none: quantities in steps of 0.00000001 (so dust such as
``1e-30`` rounds to nothing and is dropped), no minimum notional, any limit price."""


@runtime_checkable
class Broker(Protocol):
    """Places and tracks orders. ``submit`` must be idempotent on ``client_order_id``.

    Optional: ``order_constraints(symbol) -> OrderConstraints`` (see
    :class:`OrderConstraints`; without it the runtime uses
    :data:`DEFAULT_ORDER_CONSTRAINTS`).

    Optional: ``known_client_order_ids(prefix: str, limit: int) -> list[str]``: up to
    ``limit`` client order ids starting with ``prefix`` that the broker holds orders for
    (any status), newest first. The runtime asks it at every start and refuses to adopt
    a store that does not know one of them (the state was lost together with its anchor,
    or replaced by an older copy). A broker without it is not asked."""

    live_capable: bool

    def submit(self, request: OrderRequest) -> Order: ...
    def get_order(self, client_order_id: str) -> Order | None: ...
    def cancel(self, client_order_id: str) -> Order | None: ...
    def orders(self, *, open_only: bool = False) -> list[Order]: ...
    def fills(self, client_order_id: str | None = None) -> list[Fill]: ...
    def positions(self) -> list[Position]: ...
    def account(self) -> Account: ...


@runtime_checkable
class MarketData(Protocol):
    """A market data feed on a clock. ``advance`` moves replay feeds one step; live feeds
    return the current time. ``None`` means the feed is exhausted."""

    def symbols(self) -> list[str]: ...
    def now(self) -> datetime | None: ...
    def advance(self) -> datetime | None: ...
    def quote(self, symbol: str) -> Quote | None: ...
    def bars(self, symbol: str, limit: int) -> list[Bar]: ...
    def current_bar(self, symbol: str) -> Bar | None: ...


@define
class StrategyInput:
    """Everything a strategist may look at in one cycle."""

    cycle_id: str
    as_of: datetime | None
    candidates: list[str]
    skill_results: Mapping[str, SkillResult]
    quotes: Mapping[str, Quote] = field(factory=dict)
    bars: Mapping[str, list[Bar]] = field(factory=dict)
    positions: Mapping[str, Position] = field(factory=dict)
    account: Account | None = None
    limits: Mapping[str, Any] = field(factory=dict)


@runtime_checkable
class Strategist(Protocol):
    """Turns one cycle's inputs into a :class:`Decision`. Must not raise for bad data:
    return ``Decision.hold(reason)`` instead."""

    def decide(self, inputs: StrategyInput) -> Decision: ...


@runtime_checkable
class Scanner(Protocol):
    """Picks the candidate symbols the strategist will consider."""

    def scan(
        self, skill_results: Mapping[str, SkillResult], watchlist: Sequence[str]
    ) -> list[str]: ...


@define
class SkillRequest:
    """Arguments of one skill call."""

    symbols: list[str]
    as_of: datetime | None = None
    params: Mapping[str, Any] = field(factory=dict)


@runtime_checkable
class Skill(Protocol):
    """A named, versioned capability. Returns the data; raising means the skill failed
    and the runtime records a fallback reason."""

    def fetch(self, request: SkillRequest) -> Any: ...


@define
class GuardContext:
    """What a guard may look at beside the intent."""

    as_of: datetime | None
    quote: Quote | None
    positions: Mapping[str, Position]
    account: Account | None
    orders_today: int = 0
    recent_order_times: Sequence[datetime] = ()
    last_trade_time: Mapping[str, datetime] = field(factory=dict)
    realized_pnl_today: Any = 0
    unrealized_pnl_today: Any = 0
    """Today's change in unrealized P&L. Loss guards use realized + unrealized; a runtime
    that tracks only the day's total P&L puts it in ``realized_pnl_today`` and leaves this 0."""
    kill_switch: bool = False
    trading_state: str = "active"
    extra: Mapping[str, Any] = field(factory=dict)


@runtime_checkable
class Guard(Protocol):
    """Allows or denies one intent with a stable reason code."""

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict: ...


@define
class Notification:
    """A message for operators (payload schema ``notification.v1``)."""

    kind: str
    title: str
    body: str
    severity: str = "info"
    fields: Mapping[str, Any] = field(factory=dict)
    dedup_key: str | None = None


@define
class DeliveryResult:
    """The outcome of one notification delivery."""

    ok: bool
    status: str
    http_status: int | None = None
    attempts: int = 1
    error: str | None = None


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications. Must not raise: report failure in the result."""

    def send(self, notification: Notification) -> DeliveryResult: ...


@runtime_checkable
class MetricsSink(Protocol):
    """Receives every event. ``write`` must be fast and must not raise."""

    def write(self, event: Event) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class LLMProvider(Protocol):
    """Answers chat requests (see :mod:`tradekernel.llm` for the wire-neutral types)."""

    def chat(self, request: ChatRequest) -> ChatResponse: ...


@define
class ComponentContext:
    """Handed to every component factory: the kernel services a component may use."""

    settings: Any
    state_dir: Path
    emit: Callable[..., Event]
    secret: Callable[..., str | None]
    """``secret(env_name, *, partial=True)``: see :meth:`Settings.secret`."""
    resolve: Callable[[str], Any]
    """``resolve(kind)`` returns the selected component of another kind (e.g. a paper
    broker asks for ``"market_data"``), instantiating it on first use."""
    check_only: bool = False
    """``True`` when the component is built only to validate the configuration
    (``config check``, and ``run`` before its first cycle): the factory checks its
    config and may read, but must write, create, bind and send nothing (open databases
    in memory, skip ``mkdir``). The instance is closed and discarded afterwards."""
