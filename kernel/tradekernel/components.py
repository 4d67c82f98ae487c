"""What each kind of component must provide: the contracts plugins implement.

A plugin registers a *factory* per component (see :mod:`tradekernel.hookspecs`); the
kernel calls ``factory(config, ctx)`` with the component's typed config (or ``None``
when it declares no config class) and a :class:`ComponentContext`. The returned object
must satisfy the matching protocol below. Protocols are structural: no base class is
required.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
    from .errors import ConfigError
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
    "allocator",
    "sizer",
    "runtime",
    "node",
    "store",
    "sweeper",
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
        """Why, one line for the operator."""
        self.code = code
        """A stable code for the refusal (``rejected`` when the broker gives none)."""


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
    or replaced by an older copy). A broker without it is not asked.

    Optional: ``server_time() -> datetime``: the venue's clock (aware, UTC), which the
    readiness gate compares with this machine's (``tradekernel-deploy``, docs/deploy.md).

    Optional: ``account_key() -> Hashable | None``: what identifies the account this
    instance trades (paper: its database file). Two instances of one agent with the
    same key are refused (``config check`` and ``run``, exit 2): the account would be
    counted twice. ``None``: no identity to compare."""

    live_capable: bool
    """``True`` for a broker that can place real-money orders: the executor then sends
    only in ``live`` mode with ``[kernel] live_acknowledged``; ``False`` (paper) is never
    used in ``live`` mode."""

    def submit(self, request: OrderRequest) -> Order:
        """Place ``request`` and return the order as the broker accepted it. Idempotent:
        the same ``client_order_id`` again returns the existing order, never a second one.
        Raises :class:`BrokerRejected` when refused, :class:`SubmitOutcomeUnknown` when the
        answer was lost."""

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client order id, or ``None`` when the broker has none."""

    def cancel(self, client_order_id: str) -> Order | None:
        """Cancel the order and return it as it now stands (an order already terminal is
        returned unchanged); ``None`` when the broker has no such order."""

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """Every order the broker holds for this account, or only working ones."""

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Executions, oldest first: all of them, or those of one order."""

    def positions(self) -> list[Position]:
        """The open positions (non-zero quantity)."""

    def account(self) -> Account:
        """The account snapshot now."""


@frozen
class MarketSession:
    """The venue's trading session around one instant, as a feed's optional
    ``session(at)`` reports it (from the venue's clock and calendar). Times are UTC."""

    at: datetime
    """The instant described."""
    is_open: bool
    """Whether the venue trades at ``at``."""
    opens_at: datetime | None = None
    """The open of the session of ``at``'s trading day (``None``: the venue is closed that day)."""
    closes_at: datetime | None = None
    """The close of that session (``None``: closed that day)."""
    next_open: datetime | None = None
    """The next open after ``at``, when known."""
    source: str = ""
    """Where the venue said so (``alpaca /v2/calendar``), for the operator."""


@runtime_checkable
class MarketData(Protocol):
    """A market data feed on a clock. ``advance`` moves replay feeds one step; live feeds
    return the current time. ``None`` means the feed is exhausted.

    Optional: ``session(at: datetime) -> MarketSession | None``: the venue's session
    around ``at`` (``None`` when the feed cannot tell); the ``session_hours`` guard with
    ``source = "market_data"`` asks it instead of a hand-written table."""

    def symbols(self) -> list[str]:
        """Every symbol the feed can produce."""

    def now(self) -> datetime | None:
        """The feed's current time (UTC); ``None`` before the first :meth:`advance`."""

    def advance(self) -> datetime | None:
        """Move to the next time step and return it; ``None`` once the feed is exhausted."""

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of ``symbol`` as of :meth:`now`, or ``None`` when there is none."""

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        """Up to the last ``limit`` bars of ``symbol`` up to :meth:`now`, oldest first."""

    def current_bar(self, symbol: str) -> Bar | None:
        """The bar of ``symbol`` at exactly :meth:`now` (possibly still forming), or ``None``."""


@define
class StrategyInput:
    """Everything a strategist may look at in one cycle."""

    cycle_id: str
    """The cycle's id (the ``cycle_id`` of its events)."""
    as_of: datetime | None
    """The market time of the cycle (UTC), ``None`` when the feed has no clock."""
    candidates: list[str]
    """The symbols the scanner picked: intents for other symbols are dropped."""
    skill_results: Mapping[str, SkillResult]
    """The cycle's skill results, by skill name."""
    quotes: Mapping[str, Quote] = field(factory=dict)
    """The latest quote of each candidate, by symbol."""
    bars: Mapping[str, list[Bar]] = field(factory=dict)
    """Recent bars of each candidate, oldest first, by symbol."""
    positions: Mapping[str, Position] = field(factory=dict)
    """The open positions, by symbol."""
    account: Account | None = None
    """The account snapshot, when the broker gave one."""
    limits: Mapping[str, Any] = field(factory=dict)
    """The risk limits in force: ``guards`` (the selected guard names) and each guard's
    config section by name, so a strategist can size within them."""
    strategy: str = ""
    """The strategy being asked: its name in ``[components] strategists`` (an instance's
    name, such as ``fast``), or the one strategist's."""
    strategy_positions: Mapping[str, Decimal] | None = None
    """With several strategies: this strategy's own signed units per symbol (its
    sub-ledger's positions; flat symbols left out; docs/portfolio.md), so it decides from
    what it holds, not from what the account holds for all of them. ``None`` with one
    strategist: its position is the account's (``positions``)."""

    def held(self, symbol: str) -> Decimal:
        """The signed units this strategy holds of ``symbol``: its own
        (``strategy_positions``) with several strategies, else the account's."""
        if self.strategy_positions is not None:
            return Decimal(self.strategy_positions.get(symbol, 0))
        position = self.positions.get(symbol)
        return position.quantity if position is not None else Decimal(0)


@runtime_checkable
class Strategist(Protocol):
    """Turns one cycle's inputs into a :class:`Decision`. Must not raise for bad data:
    return ``Decision.hold(reason)`` instead."""

    def decide(self, inputs: StrategyInput) -> Decision:
        """The cycle's decision: intents to propose, or ``Decision.hold(reason)``."""


@frozen
class SizeRequest:
    """What a sizer sees of one unsized intent (a direction: no quantity, no notional,
    no target weight): the price it would trade at and the strategy's money."""

    intent: Intent
    """The intent to size: its ``side``, ``confidence``, ``stop_price``, ``symbol``."""
    strategy: str
    """The strategy (strategist instance) that proposed it."""
    price: Decimal
    """The reference price per unit (the quote's last), positive."""
    budget: Decimal
    """The strategy's budget in the account currency (the account's equity when no
    budget is set), positive."""
    held: Decimal = Decimal(0)
    """The position in ``intent.symbol`` now: positive long, negative short."""
    bars: Sequence[Bar] = ()
    """The cycle's hydrated bars of the symbol, oldest first (may be empty)."""
    as_of: datetime | None = None
    """The market time of the cycle (UTC)."""


@frozen
class SizeResult:
    """A sizer's answer: how many units (``quantity``, zero or more, before the kernel
    rounds it to the broker's order constraints) and the inputs it used, or a refusal
    ``code`` (the intent is then dropped with it)."""

    quantity: Decimal = field(default=Decimal(0), converter=to_decimal)
    """Units to trade, zero or more; the kernel rounds it down and drops a zero as
    ``size_rounds_to_zero``."""
    method: str = ""
    """How it was chosen (``atr``, ``stdev``, ``kelly``, ...), for the intent's record."""
    inputs: Mapping[str, Any] = field(factory=dict)
    """Every number the size came from, by name (shown in ``intents preview``)."""
    code: str | None = None
    """A stable refusal code (``no_stop_distance``, ``not_enough_bars``, ...) when the
    sizer cannot size the intent; ``None`` when ``quantity`` is its answer."""
    detail: str = ""
    """One line for the operator about a refusal."""

    def __attrs_post_init__(self) -> None:
        if self.code is None and (not self.quantity.is_finite() or self.quantity < 0):
            raise ValueError(f"size: quantity must be zero or more, got {self.quantity}")

    @classmethod
    def refused(cls, code: str, detail: str = "", **inputs: Any) -> SizeResult:
        """A refusal with its stable code: the intent is dropped, never guessed at."""
        return cls(code=code, detail=detail, inputs=inputs)


@runtime_checkable
class Sizer(Protocol):
    """Turns an unsized intent (a direction) into a quantity. Selected per strategy by
    ``[portfolio.sizing]`` (docs/portfolio.md, "Sizing"). Must not raise for bad data:
    refuse with a code instead (one that raises is a refusal, ``sizer_error``).

    Optional: ``codes``: a tuple of the refusal codes it may return."""

    def size(self, request: SizeRequest) -> SizeResult:
        """The quantity for ``request.intent``, or :meth:`SizeResult.refused`."""


@runtime_checkable
class Scanner(Protocol):
    """Picks the candidate symbols the strategist will consider."""

    def scan(self, skill_results: Mapping[str, SkillResult], watchlist: Sequence[str]) -> list[str]:
        """The candidate symbols, a subset of ``watchlist``, from the cycle's skill results."""


@frozen
class AllocationRequest:
    """What an :class:`Allocator` decides from: amounts in the account currency."""

    equity: Decimal = field(converter=to_decimal)
    """The account's equity now."""
    configured: Mapping[str, Decimal] = field(factory=dict)
    """Each budgeted strategy's capital as ``[portfolio.budgets.<strategy>]`` sets it
    (a fraction of ``equity`` already turned into an amount): the ``fixed`` allocation."""
    current: Mapping[str, Decimal] = field(factory=dict)
    """The capital budgets in force now (``configured`` before the first allocation)."""
    pnl: Mapping[str, Sequence[Decimal]] = field(factory=dict)
    """Each strategy's total P&L (realized + unrealized - commissions) sampled once per
    allocation, oldest first: what a performance- or risk-based allocator reads."""


@runtime_checkable
class Allocator(Protocol):
    """Decides each strategy's capital budget (``[components] allocator``; the kernel's
    default ``fixed`` returns the configured amounts). Budgets are then enforced by the
    kernel's budget step (``strategy_budget_exceeded``), never by the allocator."""

    def allocate(self, request: AllocationRequest) -> Mapping[str, Decimal]:
        """The capital budget of each strategy in ``request.configured`` (finite, zero or
        more; a strategy left out keeps its current budget). Must not raise for lack of
        history: answer ``request.current`` then."""


@runtime_checkable
class Runtime(Protocol):
    """Walks the cycle graph (``[components] runtime``; the kernel's ``native`` commander
    by default, ``langgraph`` from tradekernel-langgraph). Every runtime walks the same
    spec with the same node functions and commander events (docs/runtime.md)."""

    def run(self, cycle: Any) -> None:
        """Walk ``cycle`` (a ``Cycle``): from ``cycle.enter()``, run each node with
        ``cycle.call(node)``, retrying it as ``cycle.retryable`` and ``cycle.attempts``
        say (``cycle.retrying`` before each retry, backoff ``[runtime] node_backoff``
        doubling, at most 30 s), and follow ``cycle.after(node)``; a node that fails for
        good goes to ``cycle.fail(node, exc)``, an end route to ``cycle.end(route)``.
        Must not raise for a node's failure.

        Optional: ``prepare(spec, policy, *, durable)``, called by the agent's start
        with the graph and ``[runtime]`` settings: refuse (``ConfigError``) a graph or
        state it cannot run, before the first cycle."""


@runtime_checkable
class Node(Protocol):
    """A node a plugin adds to the cycle graph (``[components] nodes``), before
    ``before`` (``"strategize"``: an analyst whose results the strategist reads)."""

    before: str
    """The node it goes before (one of the graph's insertion points)."""

    def run(self, state: Any) -> Mapping[str, SkillResult]:
        """Read ``state`` (a read-only ``NodeView`` of the cycle: copies of its inputs)
        and return skill results by name (new names only, JSON-able data, bounded),
        merged into the cycle's ``skill_results``: a node's only write. Raising fails the
        node (retried like ``hydrate``, then the cycle is cancelled)."""


@frozen
class SweepResult:
    """One finished job of a sweep (:class:`Sweeper`): its value, or why it could not run."""

    index: int
    """The job's position in the jobs given to :meth:`Sweeper.sweep`."""
    value: Any = None
    """What the job function returned (``None`` with ``error``)."""
    error: str | None = None
    """Why the engine could not run the job (its worker died past the retries, the job
    function raised); one line."""


@runtime_checkable
class Sweeper(Protocol):
    """Runs the jobs of a parameter sweep (``[components] sweeper``: ``processes``, a
    process pool on this machine, from tradekernel-backtest; ``dask`` from tradekernel-dask).
    Every sweeper runs the same job function, so the results do not depend on the engine."""

    def sweep(
        self, fn: Callable[[Any], Any], jobs: Sequence[Any], *, workers: int | None = None
    ) -> Iterator[SweepResult]:
        """Submit every job (``fn(job)``; ``fn`` is a module-level function, the jobs
        picklable) and yield one :class:`SweepResult` per job as each finishes, in any
        order, so progress is live. ``workers`` caps the jobs run at once (``None``: the
        engine's own size). Closing the iterator (Ctrl-C, SIGTERM, a failure of the caller)
        cancels the jobs not finished and releases the workers. A job is never dropped: a
        job whose worker dies is retried or yielded with ``error``. Raise
        ``TradekernelError`` when the engine cannot start (an unreachable scheduler)."""


@define
class SkillRequest:
    """Arguments of one skill call."""

    symbols: list[str]
    """The symbols the call is about."""
    as_of: datetime | None = None
    """The market time of the cycle (UTC); a skill must not look past it."""
    params: Mapping[str, Any] = field(factory=dict)
    """Skill-specific arguments."""


@runtime_checkable
class Skill(Protocol):
    """A named, versioned capability. Returns the data; raising means the skill failed
    and the runtime records a fallback reason."""

    def fetch(self, request: SkillRequest) -> Any:
        """The data for ``request`` (JSON-able); raise when it cannot be had."""


@define
class GuardContext:
    """What a guard may look at beside the intent."""

    as_of: datetime | None
    """The market time of the cycle (UTC); ``None`` when the feed has no clock."""
    quote: Quote | None
    """The latest quote of the intent's symbol, when there is one."""
    positions: Mapping[str, Position]
    """The positions by symbol, including what the cycle's earlier intents committed:
    with several brokers, those at the broker the intent is routed to (what the order
    can reduce there; see ``other_positions``)."""
    account: Account | None
    """The account snapshot, when the broker gave one: with several brokers, that of
    the broker the intent is routed to."""
    orders_today: int = 0
    """Orders sent today (UTC day of ``as_of``), including earlier intents of the cycle."""
    recent_order_times: Sequence[datetime] = ()
    """When recent orders were sent (UTC), for rate limits."""
    last_trade_time: Mapping[str, datetime] = field(factory=dict)
    """The last trade time (UTC) per symbol, for cooldowns."""
    realized_pnl_today: Any = 0
    """Today's realized profit and loss, in the account currency (a number)."""
    unrealized_pnl_today: Any = 0
    """Today's change in unrealized P&L. Loss guards use realized + unrealized; a runtime
    that tracks only the day's total P&L puts it in ``realized_pnl_today`` and leaves this 0."""
    kill_switch: bool = False
    """Whether the operator's kill switch is on."""
    trading_state: str = "active"
    """The operator's trading state: ``active``, ``reducing`` (only position-reducing
    intents) or ``halted``."""
    extra: Mapping[str, Any] = field(factory=dict)
    """Anything else a runtime passes; empty in the kernel's own runtime."""
    broker: str | None = None
    """The broker the intent is routed to (its name in ``[components]``)."""
    other_positions: Sequence[Position] = ()
    """With several brokers, the positions held at every other broker (a symbol held at
    two is two entries): what gross exposure limits add to ``positions``."""
    bars: Sequence[Bar] = ()
    """The hydrated bars of the intent's symbol, oldest first (empty when none)."""


@runtime_checkable
class Guard(Protocol):
    """Allows or denies one intent with a stable reason code.

    Optional: ``codes``: a tuple of the stable deny codes the guard may return
    (``("quantity_above_limit",)``), for operators and tools to know them in advance;
    ``GuardContract`` then checks that every deny code is one of them. A guard without
    it is not asked."""

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        """Allow or deny ``intent``; a guard that raises denies (fail closed)."""


@define
class Notification:
    """A message for operators (payload schema ``notification.v1``)."""

    kind: str
    """What it is about, the routing key (``approval.pending``, ``notify.test``, ...)."""
    title: str
    """One line for the operator."""
    body: str
    """The message text (notifiers send it inert: no markup, no control characters)."""
    severity: str = "info"
    """``debug``, ``info``, ``warning``, ``error`` or ``critical``."""
    fields: Mapping[str, Any] = field(factory=dict)
    """Structured details (symbol, quantity, the command to run, ...)."""
    dedup_key: str | None = None
    """Notifications with the same key are delivered once within the dedup window."""


@define
class DeliveryResult:
    """The outcome of one notification delivery."""

    ok: bool
    """Whether the notification was delivered."""
    status: str
    """``sent`` or ``failed``."""
    http_status: int | None = None
    """The last HTTP status, for HTTP-based notifiers."""
    attempts: int = 1
    """How many tries were made (0 when it failed before sending anything)."""
    error: str | None = None
    """What went wrong, one line, without secrets."""


@runtime_checkable
class Notifier(Protocol):
    """Delivers notifications. Must not raise: report failure in the result."""

    def send(self, notification: Notification) -> DeliveryResult:
        """Deliver ``notification`` (retrying as configured) and say how it went."""


@runtime_checkable
class MetricsSink(Protocol):
    """Receives every event. ``write`` must be fast and must not raise."""

    def write(self, event: Event) -> None:
        """Record ``event``; log a failure instead of raising."""

    def close(self) -> None:
        """Write what is buffered and release the sink's resources."""


@runtime_checkable
class LLMProvider(Protocol):
    """Answers chat requests, in the wire-neutral ``ChatRequest``/``ChatResponse`` types."""

    def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request``; raise :class:`ProviderError` when it fails for good."""


@define
class ComponentContext:
    """Handed to every component factory: the kernel services a component may use.

    A component is built once per kernel, on first use, and closed (``close()``, when it
    has one) when the command that built it ends; several processes (a ``run``, an
    ``intents approve`` in another shell) may each hold an instance of the same
    component at once. There is no run id here: the events of a ``tradekernel run``
    carry one (``Event.run_id``)."""

    settings: Any
    """The loaded ``Settings`` (read-only)."""
    state_dir: Path
    """``[kernel] state_dir``: where components keep their files. A relative path in a
    component's config is relative to it: ``tradekernel.api.resolve(state_dir, path)``."""
    emit: Callable[..., Event]
    """``emit(stage, kind, *, severity=..., **fields)``: record an event (``event.v1``)."""
    secret: Callable[..., str | None]
    """``secret(env_name, *, partial=True)``: see :meth:`Settings.secret`."""
    resolve: Callable[[str], Any]
    """``resolve(kind)`` returns the selected component of another kind (e.g. a paper
    broker asks for ``"market_data"``), instantiating it on first use."""
    kind: str = ""
    """The kind of the component being built (``notifier``, ...)."""
    name: str = ""
    """The name it is registered and selected under; its section is ``[<kind>.<name>]``."""
    check_only: bool = False
    """``True`` when the component is built only to validate the configuration: by
    ``config check``, and by ``run``, ``skills smoke`` and ``strategist smoke`` before
    they open the store or write anything. The factory checks its config and may read,
    but must write, create, bind and send nothing (open databases in memory, skip
    ``mkdir``). The instance is closed and discarded afterwards; the real one is built
    again, with ``check_only`` ``False``, when the command first uses it."""

    def config_error(self, key: str | None, message: str) -> ConfigError:
        """A :class:`~tradekernel.errors.ConfigError` for the factory to raise about
        ``key`` of its ``[<kind>.<name>]`` section (``None``: the section as a whole),
        naming where the value was really set: ``plugins.toml: [notifier.x] url: ...``,
        or ``environment TRADEKERNEL_NOTIFIER__X__URL: [notifier.x] url: ...``."""
        return self.settings.component_error(self.kind, self.name, key, message)
