"""The typed sections of ``plugins.toml`` that the kernel owns, and the value types and
validators that plugin config classes may reuse (``Duration``, ``positive``, ``ratio``).

Loading, precedence and the environment live in :mod:`tradekernel.settings`, which
re-exports everything here.
"""

from __future__ import annotations

import difflib
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import define, field

from .errors import RefusedError
from .quorum import approver_name
from .serde import converter

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
"""ASCII digits only: ``float`` would read other scripts' digits (``"٣s"``) too."""
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
MAX_DURATION = 100 * 365 * 86400
"""The longest duration accepted anywhere (100 years): beyond it, timers and clocks
overflow (``threading`` waits, ``datetime`` arithmetic)."""


class Duration(float):
    """Seconds, written in the file as ``90``, ``"90s"``, ``"15m"``, ``"1h"`` or ``"1d"``."""

    @classmethod
    def parse(cls, value: Any) -> Duration:
        if isinstance(value, bool):
            raise ValueError(f"expected a duration like '15m', got {show(value)}")
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str) and (m := _DURATION.match(value)):
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
        else:
            raise ValueError(f"expected a duration like '15m', got {show(value)}")
        if not math.isfinite(seconds):
            raise ValueError(f"expected a finite duration, got {show(value)}")
        if seconds > MAX_DURATION:
            raise ValueError(f"expected a duration of at most 36500d, got {show(value)}")
        if seconds < 0:
            raise ValueError(f"expected a non-negative duration, got {show(value)}")
        return cls(seconds)

    def __str__(self) -> str:
        for unit in ("d", "h", "m"):
            if self and self % _UNITS[unit] == 0:
                return f"{int(self // _UNITS[unit])}{unit}"
        return f"{float(self):g}s"


converter.register_structure_hook(Duration, lambda v, _: Duration.parse(v))
converter.register_unstructure_hook(Duration, str)


def show(value: Any) -> str:
    """A config value as an operator wrote it: ``-5``, not ``Decimal('-5')``."""
    return str(value) if isinstance(value, Decimal | float | int) else repr(value)


def finite(value: Any) -> bool:
    """False for a NaN or infinite float or Decimal (every other value is finite here)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return True


def positive(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator for config classes: the value must be finite and greater than
    zero (NaN and infinity would pass a bare ``<= 0`` test and break every use)."""
    if value is not None and (not finite(value) or value <= 0):
        what = "duration" if isinstance(value, Duration) else "number"
        raise ValueError(f"{attribute.name}: expected a positive {what}, got {show(value)}")


def non_negative(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator: ``None`` or a finite number of at least zero."""
    if value is not None and (not finite(value) or value < 0):
        raise ValueError(f"{attribute.name}: expected zero or more, got {show(value)}")


def ratio(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    """attrs validator for config classes: the value must be within 0..1."""
    if not (finite(value) and 0 <= value <= 1):
        raise ValueError(f"{attribute.name}: expected a number from 0 to 1, got {show(value)}")


def ratio_or_none(_inst: Any, attribute: attrs.Attribute, value: float | None) -> None:
    """attrs validator: ``None`` or a number from 0 to 1."""
    if value is not None:
        ratio(_inst, attribute, value)


non_negative_or_none = non_negative


def finite_non_negative(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    """attrs validator: a finite number of at least zero."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name}: expected a number of zero or more, got {show(value)}")


@define
class KernelSettings:
    """``[kernel]``: how the agent is allowed to trade and where it keeps state."""

    mode: Literal["paper", "shadow", "live"] = "paper"
    live_acknowledged: bool = False
    """Must be ``true`` for ``mode = "live"``: the operator accepts real-money trading."""
    approval_mode: Literal["manual", "auto"] = "manual"
    approval_ttl: Duration = field(default=Duration(900), validator=positive)
    """Pending approvals expire after this; 0 would expire every intent at once."""
    state_dir: Path = Path(".tradekernel")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    """Log level on stderr when no ``-v`` is given."""


STORE_URL_SCHEMES = ("postgresql", "postgres")
"""The URL schemes ``[store] url`` takes (a libpq connection URL)."""


def _store_url(_inst: Any, _attribute: attrs.Attribute, value: str | None) -> None:
    """attrs validator: ``[store] url`` is a ``postgresql://`` URL. The message never
    quotes the value (it may hold a password)."""
    if value is None:
        return
    from urllib.parse import urlsplit

    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    problem = None
    if scheme not in STORE_URL_SCHEMES:
        problem = "expected a postgresql://USER@HOST/DBNAME URL"
    elif any(ord(c) < 32 or ord(c) == 127 for c in value):
        problem = "control characters are not allowed in a URL"
    else:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            problem = "not a valid URL (bad port or brackets)"
        else:
            if not parts.path.strip("/"):
                problem = "the URL names no database (postgresql://USER@HOST/DBNAME)"
    if problem is not None:
        raise ValueError(f"url: {problem}")


@define
class StoreSettings:
    """``[store]``: where the selected store keeps the state (``[components] store``)."""

    url: str | None = field(default=None, validator=_store_url)
    """The database server of a server store (``postgresql://USER[:PASSWORD]@HOST/DBNAME``;
    also read from ``TK_STORE_URL``): a secret, masked wherever it could appear. The
    ``sqlite`` store ignores it (its file is ``<state_dir>/state.db``)."""
    namespace: str | None = field(default=None, validator=lambda i, a, v: _namespace(v))
    """The label an agent's lease records on a store shared by several hosts (default:
    its account and strategy set, :func:`tradekernel.lease.namespace_for`): the lease
    covers the whole store, which holds one agent whatever its namespace."""
    lease_ttl: Duration = field(default=Duration(30), validator=positive)
    """How long an agent's lease lives without a renewal: how long a dead agent's
    namespace waits before another agent may take it over."""


def _namespace(value: str | None) -> None:
    if value is not None and (
        not value.strip() or len(value) > 200 or any(not c.isprintable() for c in value)
    ):
        raise ValueError("namespace: expected 1 to 200 printable characters")


@define
class PluginsSettings:
    """``[plugins]``: which installed distributions may load."""

    block: list[str] = field(factory=list, validator=lambda i, a, v: _names(i, a, v))
    """Distributions or entry-point names never imported."""
    load: list[str] | None = field(default=None, validator=lambda i, a, v: _names(i, a, v))
    """When set, the only distributions or entry-point names imported (an allowlist, like
    ``LLM_LOAD_PLUGINS``); ``[]`` imports none. The kernel's defaults always load."""


def _names(_inst: Any, attribute: attrs.Attribute, value: list[str] | None) -> None:
    """attrs validator: plugin names are non-empty."""
    for name in value or ():
        if not name.strip():
            raise ValueError(f"{attribute.name}: an empty name names no plugin")


def _unique(_inst: Any, attribute: attrs.Attribute, value: list[str]) -> None:
    """attrs validator: no name twice (a guard listed twice is a typo, not a policy)."""
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise ValueError(f"{attribute.name}: {name!r} is listed twice")
        seen.add(name)


@define
class ComponentSelection:
    """``[components]``: the active component of each kind, chosen by name."""

    broker: str = "paper"
    """The one broker; with ``brokers`` set, the default route's (set from ``[routing]``)."""
    brokers: list[str] = field(factory=list, validator=_unique)
    """Several brokers (instead of ``broker``): intents go where ``[routing]`` says."""
    market_data: str = "synthetic"
    strategist: str = "hold"
    """The one strategist; with ``strategists`` set, the first of them."""
    strategists: list[str] = field(factory=list, validator=_unique)
    """Several strategists (instead of ``strategist``): each is a strategy of its own, with
    its own breaker, degrade state and promotion stage (docs/portfolio.md)."""
    scanner: str = "watchlist"
    allocator: str = "fixed"
    """Decides each strategy's capital budget (``[portfolio]``; docs/portfolio.md)."""
    llm_provider: str | None = None
    skills: list[str] = field(
        factory=lambda: ["market.quote", "market.bars", "account.positions", "account.orders"],
        validator=_unique,
    )
    required_skills: list[str] = field(factory=lambda: ["market.quote"], validator=_unique)
    """Skills whose fallback is an incident; each must be selected in ``skills``."""
    guards: list[str] = field(factory=list, validator=_unique)
    """Guards in precedence order: every guard runs, the first deny is named."""
    notifiers: list[str] = field(factory=lambda: ["log"], validator=_unique)
    metrics_sinks: list[str] = field(factory=lambda: ["jsonl"], validator=_unique)
    store: str = "sqlite"
    """Where the state lives: ``sqlite`` (``<state_dir>/state.db``, the default) or
    ``postgres`` (tradekernel-postgres, ``[store] url``); docs/scale-out.md."""
    runtime: str = "native"
    """What walks the cycle graph: the kernel's ``native`` commander, or ``langgraph``
    (tradekernel-langgraph); docs/runtime.md."""
    nodes: list[str] = field(factory=list, validator=_unique)
    """Plugin nodes added to the cycle graph, in order, each before its insertion point."""
    sweeper: str = "processes"
    """What runs a backtest sweep's combinations: ``processes`` (a process pool on this
    machine, tradekernel-backtest) or ``dask`` (tradekernel-dask); docs/backtest.md."""

    def __attrs_post_init__(self) -> None:
        for name in self.required_skills:
            if name not in self.skills:
                hint = ""
                if close := difflib.get_close_matches(name, self.skills, n=1, cutoff=0.85):
                    # required_skills is often the default: the selected name is the typo
                    hint = f" (skills has {close[0]!r}: a misspelling of {name!r}?)"
                raise ValueError(f"required_skills: {name!r} is not selected in skills{hint}")


@define
class RuntimeSettings:
    """``[runtime]``: the cycle loop and its resilience policy."""

    watchlist: list[str] = field(factory=lambda: ["AAA", "BBB", "CCC"])
    interval: Duration = field(default=Duration(60), validator=positive)
    skill_timeout: Duration = Duration(5)
    """Per-skill timeout; ``0`` means none (skills run on the cycle's own thread)."""
    bars_lookback: int = field(default=50, validator=positive)
    node_attempts: int = field(default=3, validator=positive)
    node_backoff: Duration = Duration(0.2)
    breaker_failures: int = field(default=3, validator=positive)
    breaker_cooldown: Duration = Duration(300)
    incident_threshold: int = field(default=5, validator=positive)
    incident_cooldown: Duration = Duration(300)
    degrade_notional_ratio: float = field(default=0.5, validator=ratio)
    degrade_reducing: bool = False
    quantity_step: float = field(default=1.0, validator=positive)
    max_price_move: float = field(default=1.0, validator=finite_non_negative)
    """A bar whose High is above ``(1 + m) x`` the previous close or whose Low is below
    ``previous close / (1 + m)`` is quarantined as ``price_outlier`` (1.0: double or
    half; 0.5: +50 % / -33 %); 0 turns the band off. See docs/runtime.md."""
    max_quote_age: Duration = field(default=Duration(900), validator=non_negative)
    """A quote older than this before the cycle's market time is a ``stale_quote``: the
    symbol is quarantined for the cycle, never traded on its price; 0 turns it off."""
    trace: Literal["full", "decisions"] = "full"
    """``full``: a commander event for every node and a hydrate event for every skill;
    ``decisions``: only routing decisions (retry, pause, cancel, cooldown_wait, end) and
    skill fallbacks (backtests use it: the same graph, far fewer events per bar)."""
    """Notional intents are sized down to a multiple of this quantity."""


def _non_empty(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: must not be empty")


def _event_patterns(_inst: Any, attribute: attrs.Attribute, value: list[str]) -> None:
    _non_empty(_inst, attribute, value)
    for pattern in value:
        if not pattern or (pattern != "*" and "." not in pattern):
            raise ValueError(
                f"{attribute.name}: expected 'stage.kind' patterns such as 'executor.*', "
                f"got {pattern!r}"
            )


@define
class NotifyRoute:
    """One ``[notify] routes`` entry: events whose ``stage.kind`` matches one of ``kinds``
    (shell-style globs) at ``min_severity`` or above go to ``notifiers`` (``"*"`` = every
    notifier selected in ``[components] notifiers``)."""

    kinds: list[str] = field(validator=_event_patterns)
    min_severity: Literal["debug", "info", "warning", "error", "critical"] = "info"
    notifiers: list[str] = field(factory=lambda: ["*"], validator=_non_empty)


@define
class NotifyRateLimit:
    """At most ``count`` deliveries per notifier within any ``per`` window."""

    count: int = field(default=20, validator=positive)
    per: Duration = field(default=Duration(3600), validator=positive)


@define
class NotifyRetry:
    """Bounded retry of transient delivery failures (exponential backoff, Retry-After)."""

    max_attempts: int = field(default=3, validator=positive)
    backoff_base: Duration = Duration(0.5)
    backoff_max: Duration = Duration(8)
    retry_after_cap: Duration = Duration(5)


def _default_routes() -> list[NotifyRoute]:
    return [
        NotifyRoute(
            kinds=[
                "approval.pending",
                "approval.recorded",
                "approval.rejected",
                "approval.expired",
                "executor.submitted",
                "executor.failed",
                "executor.unknown_outcome",
                "monitor.fill",
            ]
        ),
        NotifyRoute(
            kinds=[
                "resilience.breaker_opened",
                "resilience.degrade_entered",
                "resilience.degrade_exited",
                "resilience.cooldown",
                "resilience.incident",
                "control.kill_switch",
                "control.paused",
                "control.resumed",
                "budget.exhausted",
                "routing.*",
                "portfolio.strategy_state",
            ]
        ),
        NotifyRoute(kinds=["alerts.*"]),
        # the end of an SLO burn (info): whoever was paged by slo.burn_rate is told
        NotifyRoute(kinds=["slo.recovered"]),
        NotifyRoute(kinds=["*"], min_severity="error"),
    ]


@define
class NotifySettings:
    """``[notify]``: which events reach which notifiers, and the noise and delivery policy."""

    enabled: bool = True
    routes: list[NotifyRoute] = field(factory=_default_routes)
    dedup_window: Duration = Duration(600)
    """Identical notifications (same dedup key) within this window are sent once; 0 = off."""
    rate_limit: NotifyRateLimit = field(factory=NotifyRateLimit)
    rate_limits: dict[str, NotifyRateLimit] = field(factory=dict)
    """Per-notifier overrides of ``rate_limit``."""
    timeout: Duration = field(default=Duration(10), validator=positive)
    """Budget of one delivery, retries included; a notifier still busy after it is abandoned."""
    retry: NotifyRetry = field(factory=NotifyRetry)


@define
class AuditSettings:
    """``[audit]``: signed audit archives and event-log retention (see docs/audit.md)."""

    signing: Literal["auto", "ed25519", "hmac"] = "auto"
    """``auto``: Ed25519 when an Ed25519 key is configured, else HMAC-SHA256."""
    ed25519_key_env: str | None = None
    """Variable holding the Ed25519 private key (PEM, or the 32-byte seed in hex/base64)."""
    ed25519_key_file: Path | None = None
    """File holding the Ed25519 private key (unencrypted PKCS#8 PEM)."""
    ed25519_public_keys: list[Path] = field(factory=list)
    """Extra public keys (PEM files) trusted for verification, e.g. retired signing keys."""
    hmac_key_env: str | None = None
    """Variable holding the HMAC-SHA256 key."""
    hmac_verify_key_envs: list[str] = field(factory=list)
    """Extra variables holding retired HMAC keys, accepted for verification only."""
    archive_dir: Path = Path("archives")
    """Where bundles are written; relative paths are under ``[kernel] state_dir``."""
    retention: Duration = field(default=Duration(90 * 86400), validator=positive)
    """Event-log days older than this may be pruned once a verified archive exists."""


@define
class PromotionGates:
    """Gates a strategy must pass to be promoted to one stage (``[promotion.<stage>]``).
    ``None`` (the key left out) means the gate is not checked. See docs/backtest.md."""

    min_trades: int | None = field(default=None, validator=positive)
    min_sharpe: float | None = None
    max_drawdown: float | None = field(default=None, validator=ratio_or_none)
    """Largest tolerated peak-to-trough equity drop, as a fraction (0.2 = 20 %)."""
    max_llm_fallback_rate: float | None = field(default=None, validator=ratio_or_none)
    max_cost_per_trade: float | None = field(default=None, validator=non_negative_or_none)
    """Commissions plus LLM cost per round trip, in account currency."""
    min_paper_days: float | None = field(default=None, validator=non_negative_or_none)


@define
class PromotionSettings:
    """``[promotion]``: gates per target stage (candidate < shadow < paper < live)."""

    shadow: PromotionGates = field(factory=lambda: PromotionGates(min_trades=1))
    paper: PromotionGates = field(
        factory=lambda: PromotionGates(min_trades=5, min_sharpe=0.0, max_drawdown=0.5)
    )
    live: PromotionGates = field(
        factory=lambda: PromotionGates(
            min_trades=5,
            min_sharpe=0.5,
            max_drawdown=0.25,
            max_llm_fallback_rate=0.05,
            min_paper_days=14,
        )
    )


ALERT_RULES = (
    "strategist_success_rate",
    "strategist_latency_p95",
    "breaker_open",
    "stuck_intents",
    "guard_denials",
    "notify_failures",
    "daily_loss",
    "daily_loss_amount",
    "skill_fallbacks",
    "invalid_events",
    "data_quality_rejections",
    "broker_failovers",
)
"""Names of the alert rules (``tradekernel_ops.alerts``, distribution ``tradekernel-ops``),
in evaluation order."""


def _alert_rule_names(_inst: Any, attribute: attrs.Attribute, value: list[str]) -> None:
    for name in value:
        if name not in ALERT_RULES:
            raise ValueError(
                f"{attribute.name}: unknown alert rule {name!r}{suggest(name, list(ALERT_RULES))}"
            )


@define
class AlertsSettings:
    """``[alerts]``: the alert policy ``tradekernel alerts check`` evaluates. ``profile``
    supplies every threshold; a key set here (or by the environment) overrides the
    profile's value. See docs/operations.md, "Alert rules"."""

    profile: Literal["default", "strict"] = "default"
    disabled: list[str] = field(factory=list, validator=_alert_rule_names)
    """Rules not evaluated at all."""
    strategist_window: int | None = field(default=None, validator=positive)
    """The strategist rules look at the last this-many decisions of the day."""
    strategist_min_calls: int | None = field(default=None, validator=positive)
    """Fewer decisions than this in the window: the strategist rules report no_data."""
    strategist_success_rate_min: float | None = field(default=None, validator=ratio_or_none)
    strategist_latency_p95_ms: float | None = field(default=None, validator=positive)
    breaker_open: bool | None = None
    """Fire while the strategist's circuit breaker is open."""
    stuck_after: Duration | None = field(default=None, validator=positive)
    guard_denials_max: int | None = field(default=None, validator=non_negative_or_none)
    notify_failures_max: int | None = field(default=None, validator=non_negative_or_none)
    daily_loss_ratio: float | None = field(default=None, validator=ratio_or_none)
    """Loss since the day's first equity, as a fraction of it (0.05 = 5 %)."""
    daily_loss_amount: float | None = field(default=None, validator=non_negative_or_none)
    """Loss in account currency since the day's first cycle."""
    skill_fallbacks_max: int | None = field(default=None, validator=non_negative_or_none)
    invalid_events_max: int | None = field(default=None, validator=non_negative_or_none)
    data_quality_rejections_max: int | None = field(default=None, validator=non_negative_or_none)
    """Bars and quotes the runtime's market data screen rejected today."""
    broker_failovers_max: int | None = field(default=None, validator=non_negative_or_none)
    """Routing failovers and holds (``routing.failover``/``held``) today."""


@define
class DeploySettings:
    """``[deploy]``: releases, the readiness gate and the health check (``tradekernel-deploy``;
    docs/deploy.md). Relative paths are under ``[kernel] state_dir``."""

    release_dir: Path = Path("releases")
    """Where signed releases are stored."""
    readiness_max_age: Duration = field(default=Duration(86400), validator=positive)
    """A live start needs a passing readiness report younger than this."""
    backup_dir: Path = Path("backups")
    """Where ``tradekernel backup`` writes backups and its restore-drill record."""
    backup_max_age: Duration = field(default=Duration(26 * 3600), validator=positive)
    drill_max_age: Duration = field(default=Duration(7 * 86400), validator=positive)
    """A restore drill must have passed within this."""
    notify_test_max_age: Duration = field(default=Duration(86400), validator=positive)
    """Every selected notifier must have delivered a test message within this."""
    quote_max_age: Duration = field(default=Duration(900), validator=positive)
    """Market data is fresh when the watchlist's first quote is younger than this."""
    clock_skew_max: Duration = field(default=Duration(5), validator=positive)
    """The machine's clock may differ from the broker's by at most this."""
    min_free_disk_mb: int = field(default=1024, validator=non_negative)
    """Free space the state directory's filesystem must have."""
    health_max_age: Duration = field(default=Duration(300), validator=positive)
    """``tradekernel health``: the last cycle must be younger than this."""


def _patterns(_inst: Any, attribute: attrs.Attribute, value: list[str]) -> None:
    for pattern in value:
        if not pattern.strip():
            raise ValueError(f"{attribute.name}: an empty pattern matches no symbol")


@define
class Route:
    """One entry of ``[routing] routes``: the symbols it takes and where they go."""

    broker: str
    """The primary broker (a name listed in ``[components] brokers``)."""
    symbols: list[str] = field(factory=list, validator=_patterns)
    """Shell patterns (``fnmatch``, case-sensitive): ``"*/USDT"``, ``"AAPL"``."""
    asset_class: str | None = None
    """A name of ``[routing] asset_classes``: the symbols its patterns match."""
    secondary: str | None = None
    """Where new intents go while the primary is unhealthy or disabled."""


@define
class RoutingSettings:
    """``[routing]``: which broker each symbol's intents go to, and broker health (see
    docs/brokers.md, "Several brokers" and "Failover"). Used with ``[components] brokers``."""

    routes: list[Route] = field(factory=list)
    """Tried in order: the first whose ``symbols`` or ``asset_class`` matches wins."""
    default: str | None = None
    """The broker of symbols no route matches (the first of ``brokers`` when unset)."""
    secondary: str | None = None
    """The default route's secondary broker."""
    asset_classes: dict[str, list[str]] = field(factory=dict)
    """Asset class name -> the symbol patterns that belong to it."""
    currency: str | None = None
    """The account currency of the aggregated account view (the default broker's when
    unset). Brokers whose accounts are in another currency are refused unless listed
    in ``at_par``."""
    at_par: list[str] = field(factory=list)
    """Currencies counted one for one as ``currency`` (``["USDT", "USDC"]``); nothing
    is ever converted at a rate."""
    failures: int = field(default=3, validator=positive)
    """Bad outcomes (errors, unknown outcomes, slow answers) within ``window`` that make
    a broker unhealthy; good answers in between do not reset the count."""
    window: Duration = field(default=Duration(600), validator=positive)
    """How far back bad outcomes count towards ``failures``."""
    cooldown: Duration = field(default=Duration(300), validator=positive)
    """How long an unhealthy broker gets no new intent before it is tried again."""
    max_latency: Duration = field(default=Duration(10), validator=positive)
    """A broker call slower than this counts as a bad outcome."""


def _fraction_above_zero(_inst: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not (finite(value) and 0 < value <= 1):
        raise ValueError(
            f"{attribute.name}: expected a number above 0 and at most 1, got {show(value)}"
        )


MAX_BUDGET = Decimal("1e15")
"""The largest budget amount or exposure cap: beyond it a number is a typo (or an
attack: ``"1e999999"`` is a finite Decimal whose plain text is a million digits)."""


def _budget_money(_inst: Any, attribute: attrs.Attribute, value: Decimal | None) -> None:
    if value is not None and not 0 < value <= MAX_BUDGET:
        raise ValueError(
            f"{attribute.name}: expected an amount above 0 and at most 1e15, got {show(value)}"
        )


@define
class StrategyBudget:
    """``[portfolio.budgets.<strategy>]``: one strategy's money and its stops (the
    strategy is a strategist's instance name). See docs/portfolio.md."""

    fraction: float | None = field(default=None, validator=_fraction_above_zero)
    """Capital as a fraction of the account's equity (exclusive with ``amount``)."""
    amount: Decimal | None = field(default=None, validator=_budget_money)
    """Capital as a fixed amount in the account currency (exclusive with ``fraction``)."""
    max_gross_exposure: Decimal | None = field(default=None, validator=_budget_money)
    """The most the strategy may hold at market, long plus short (default: its equity,
    capital plus its P&L)."""
    drawdown_stop: float | None = field(default=None, validator=_fraction_above_zero)
    """A fall of the strategy's P&L from its peak, as a fraction of its capital, that
    moves the strategy (only it) to ``reducing``."""
    drawdown_halt: float | None = field(default=None, validator=_fraction_above_zero)
    """A deeper fall that halts it; without one, it halts once it holds nothing."""

    def __attrs_post_init__(self) -> None:
        if self.fraction is not None and self.amount is not None:
            raise ValueError("fraction and amount: set one of them, not both")
        if self.fraction is None and self.amount is None:
            raise ValueError("a budget needs fraction (of equity) or amount")
        if None not in (self.drawdown_stop, self.drawdown_halt) and (
            self.drawdown_halt < self.drawdown_stop  # type: ignore[operator]
        ):
            raise ValueError("drawdown_halt: must be at least drawdown_stop")


def _sizer_names(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    names = value.values() if isinstance(value, dict) else [value]
    for name in names:
        if not name.strip():
            raise ValueError(f"{attribute.name}: an empty name names no sizer")


@define
class SizingSettings:
    """``[portfolio.sizing]``: which sizer gives each strategy's unsized intents a quantity
    (see docs/portfolio.md, "Sizing")."""

    default: str = field(default="fixed", validator=_sizer_names)
    """The sizer of every strategy not listed in ``strategies`` (``fixed``: the kernel's)."""
    strategies: dict[str, str] = field(factory=dict, validator=_sizer_names)
    """Strategy (strategist instance) name -> its sizer (a registered sizer, or a
    ``[sizer.<name>] use = "..."`` instance)."""

    def sizer_for(self, strategy: str) -> str:
        """The name of the sizer ``strategy`` uses."""
        return self.strategies.get(strategy, self.default)

    def names(self) -> list[str]:
        """Every sizer in use, the default first, each once."""
        return list(dict.fromkeys([self.default, *self.strategies.values()]))


@define
class PortfolioSettings:
    """``[portfolio]``: how several strategies share one account: sizing, conflicts,
    budgets and allocation (docs/portfolio.md)."""

    conflict: Literal["net", "priority", "veto"] = "net"
    """Strategies proposing on one symbol in one cycle: ``net`` (one order for the net
    quantity, each strategy's share recorded), ``priority`` (the strategy ranked first in
    ``priority`` wins) or ``veto`` (opposite sides cancel, nothing trades)."""
    priority: list[str] = field(factory=list, validator=_unique)
    """Strategies, highest rank first (unlisted ones rank after, in ``strategists``
    order)."""
    budgets: dict[str, StrategyBudget] = field(factory=dict)
    """Capital budget, exposure cap and drawdown stops per strategy; a strategy without
    one is not limited by the budget step."""
    history: int = field(default=60, validator=positive)
    """P&L samples per strategy kept for the allocator (one per allocation)."""
    sizing: SizingSettings = field(factory=SizingSettings)
    """``[portfolio.sizing]``: each strategy's sizer."""


def _at_least_one(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{attribute.name}: expected a whole number of at least 1, got {show(value)}"
        )


@define
class QuorumRule:
    """One ``[[approval.quorum]]`` rule: the intents it matches (every condition given must
    hold; none given: every intent) need ``approvals`` distinct approvers (docs/state.md)."""

    approvals: int = field(validator=_at_least_one)
    min_notional: Decimal | None = field(default=None, validator=positive)
    """Intents whose estimated notional is at least this (account currency)."""
    mode: Literal["paper", "shadow", "live"] | None = None
    """Intents proposed while the agent trades in this mode."""
    guard: str | None = None
    """Intents a verdict of this guard judged (``"policy"``)."""
    rule: str | None = None
    """Intents a verdict names this rule id for (a policy rule)."""
    symbols: list[str] = field(factory=list, validator=_patterns)
    """Intents on a symbol matching one of these shell patterns."""


def _approvers(_inst: Any, attribute: attrs.Attribute, value: list[str] | None) -> None:
    if value is None:
        return
    if not value:
        raise ValueError(f"{attribute.name}: an empty list lets nobody decide; leave it unset")
    for i, name in enumerate(value):
        try:
            approver_name(name)
        except RefusedError as exc:
            raise ValueError(f"{attribute.name}[{i}]: {exc}") from None


@define
class ApprovalSettings:
    """``[approval]``: four-eyes approval. An intent needs the largest ``approvals`` of
    every matching quorum rule and of its verdicts (0: the approval mode decides)."""

    quorum: list[QuorumRule] = field(factory=list)
    approvers: list[str] | None = field(default=None, validator=_approvers)
    """Who may approve or reject (names as :func:`~tradekernel.quorum.approver_name`
    normalises them); unset: anyone who can reach the CLI or the console. A name-based
    allowlist, not authentication (docs/state.md, "Quorum")."""


@define
class ConsoleSettings:
    """``[console]``: who may log in to the approval console (``tradekernel-console``,
    docs/console.md). The one-time token printed at start always works as well."""

    users: dict[str, str] = field(factory=dict)
    """Login name -> password hash (``tradekernel console hash-password``)."""
    session_ttl: Duration = field(default=Duration(8 * 3600), validator=positive)
    """A login lasts this long."""


@define
class PolicySettings:
    """``[policy]``: trading policies as code (``tradekernel-policy``, docs/policy.md)."""

    require_signature: bool | None = None
    """Refuse a policy file without a valid signature; unset: ``true`` in live mode."""


SLO_INDICATORS = (
    "cycle_success",
    "decision_latency",
    "order_ack_latency",
    "data_freshness",
    "notification_delivery",
    "node_latency",
)
"""What an ``[slo.objectives.<name>]`` may measure (docs/operations.md, "SLOs")."""


def _slo_target(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if isinstance(value, bool) or not (finite(value) and 0 < value < 1):
        raise ValueError(f"{attribute.name}: expected a number between 0 and 1, got {show(value)}")


def _slo_indicator(_inst: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in SLO_INDICATORS:
        raise ValueError(
            f"{attribute.name}: unknown indicator {show(value)}"
            f"{suggest(str(value), list(SLO_INDICATORS))}"
            f"; one of {', '.join(SLO_INDICATORS)}"
        )


def _slo_window(_inst: Any, attribute: attrs.Attribute, value: Duration) -> None:
    if not (3600 <= value <= 90 * 86400):
        raise ValueError(f"{attribute.name}: expected a duration from 1h to 90d, got {show(value)}")


@define
class SloObjective:
    """``[slo.objectives.<name>]``: a share of good events over a rolling window."""

    indicator: str = field(validator=_slo_indicator)
    target: float = field(default=0.99, validator=_slo_target)
    """The good share to meet, strictly between 0 and 1 (the error budget is 1 - target)."""
    window: Duration = field(default=Duration(30 * 86400), validator=_slo_window)
    threshold: Duration | None = field(default=None, validator=positive)
    """Latency and freshness indicators: an event is good at or below this (default per
    indicator)."""


@define
class SloSettings:
    """``[slo]``: objectives and burn-rate alerts (``tradekernel-ops``, docs/operations.md)."""

    objectives: dict[str, SloObjective] = field(factory=dict)
    fast_burn: float = field(default=14.4, validator=positive)
    """Burn rate over 1 h and 5 min that pages (2% of a 30-day budget in an hour)."""
    slow_burn: float = field(default=6.0, validator=positive)
    """Burn rate over 6 h and 30 min that alerts (5% of a 30-day budget in six hours)."""
    clear_after: Duration = field(default=Duration(900), validator=positive)
    """An alert recovers once no burn condition held for this long (no flapping)."""
    min_samples: int = field(default=10, validator=positive)
    """An alert's long window needs this many samples before it may fire."""


PLAYBOOKS = ("outage", "stuck_executing", "degrade_exit", "breaker_flapping")
"""The self-healing playbooks (docs/operations.md, "Self-healing")."""


def _playbooks(_inst: Any, attribute: attrs.Attribute, value: dict[str, bool]) -> None:
    for name, on in value.items():
        if name not in PLAYBOOKS:
            raise ValueError(
                f"{attribute.name}: unknown playbook {name!r}{suggest(name, list(PLAYBOOKS))};"
                f" known: {', '.join(PLAYBOOKS)}"
            )
        if not isinstance(on, bool):
            raise ValueError(f"{attribute.name}.{name}: must be true or false, got {on!r}")


@define
class HealSettings:
    """``[heal]``: the self-healing playbooks the running agent applies (actor ``auto``)."""

    playbooks: dict[str, bool] = field(factory=dict, validator=_playbooks)
    """Per playbook on (true) or off (false). Unset: on, except ``degrade_exit``, which is
    off in live mode unless set true."""
    healthy_cycles: int = field(default=5, validator=positive)
    """Consecutive healthy cycles before degrade mode is left automatically."""
    degrade_min: Duration = field(default=Duration(600), validator=non_negative)
    """Hysteresis: degrade mode is never left automatically sooner than this after it began."""
    stuck_after: Duration = field(default=Duration(300), validator=positive)
    """An intent ``executing`` longer than this is reconciled automatically."""
    max_attempts: int = field(default=5, validator=positive)
    """Attempts of one playbook on one subject before it gives up (``heal.gave_up``)."""
    backoff: Duration = field(default=Duration(30), validator=positive)
    """Wait before the second attempt; doubled for each later one."""
    flap_opens: int = field(default=3, validator=positive)
    """Breaker openings within ``flap_window`` that latch it open and escalate."""
    flap_window: Duration = field(default=Duration(3600), validator=positive)

    def enabled(self, playbook: str, mode: str) -> bool:
        """Whether ``playbook`` may act in ``mode``."""
        default = not (playbook == "degrade_exit" and mode == "live")
        return self.playbooks.get(playbook, default)


def _escalation_order(_inst: Any, _attribute: attrs.Attribute, value: list[Any]) -> None:
    afters = [float(step.after) for step in value]
    if afters != sorted(afters):
        raise ValueError("escalation: steps must be in order of 'after' (each no earlier)")


@define
class EscalationStep:
    """One ``[incidents] escalation`` entry: notify ``notify`` (a notifier name) once an
    incident has been open ``after`` without an acknowledgement."""

    notify: str = field(validator=_non_empty)
    after: Duration = Duration(0)


@define
class IncidentsSettings:
    """``[incidents]``: incidents opened by alerts, and their escalation
    (``tradekernel-ops``, docs/operations.md, "Incidents and escalation")."""

    enabled: bool | None = None
    """Record incidents; unset: when ``escalation`` lists a step."""
    min_severity: Literal["error", "critical"] = "error"
    """Alert events at this severity or above open (or update) an incident."""
    escalation: list[EscalationStep] = field(factory=list, validator=_escalation_order)
    """The chain, in order; each step is sent once per incident until acknowledged."""
    reduce_after: Duration | None = field(default=None, validator=positive)
    """A critical incident unacknowledged this long moves trading to ``reducing``."""

    @property
    def active(self) -> bool:
        """Whether alert events open incidents (``enabled``, or unset and an escalation)."""
        return bool(self.escalation) if self.enabled is None else self.enabled


NODE_BUDGET_MAX = 3600.0
"""The longest per-node latency budget (``[budgets.nodes]``): an hour."""
BROKER_BUDGET_MAX = 1_000_000
"""The largest broker request budget per minute (``[budgets.brokers]``)."""
PROMPT_TOKENS_MAX = 10_000_000
"""The largest prompt-size budget (``[budgets] prompt_tokens``)."""
_BUDGET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _node_budgets(_inst: Any, attribute: attrs.Attribute, value: dict[str, Duration]) -> None:
    for node, limit in value.items():
        if not _BUDGET_NAME.fullmatch(node):
            raise ValueError(f"{attribute.name}: {show(node)} is not a node name")
        if not 0 < limit <= NODE_BUDGET_MAX:
            raise ValueError(
                f"{attribute.name}.{node}: expected a duration above 0 and at most 1h, "
                f"got {show(float(limit))}s"
            )


def _broker_budgets(_inst: Any, attribute: attrs.Attribute, value: dict[str, int]) -> None:
    for broker, per_minute in value.items():
        if not _BUDGET_NAME.fullmatch(broker):
            raise ValueError(f"{attribute.name}: {show(broker)} is not a broker instance name")
        if not 1 <= per_minute <= BROKER_BUDGET_MAX:
            raise ValueError(
                f"{attribute.name}.{broker}: expected requests per minute from 1 to "
                f"{BROKER_BUDGET_MAX}, got {show(per_minute)}"
            )


def _reserve(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if isinstance(value, bool) or not (finite(value) and 0 <= value < 1):
        raise ValueError(f"{attribute.name}: expected a share from 0 to below 1, got {show(value)}")


def _prompt_tokens(_inst: Any, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and not 1 <= value <= PROMPT_TOKENS_MAX:
        raise ValueError(
            f"{attribute.name}: expected tokens from 1 to {PROMPT_TOKENS_MAX}, got {show(value)}"
        )


@define
class BudgetsSettings:
    """``[budgets]``: latency, broker request and prompt-size budgets (``tradekernel-ops``
    and ``tradekernel-llm``, docs/operations.md, "Budgets")."""

    nodes: dict[str, Duration] = field(factory=dict, validator=_node_budgets)
    """``[budgets.nodes] <node> = "250ms"``: a node of the cycle graph slower than this is
    a ``budget.node_over`` event (and a bad ``node_latency`` SLO sample for its cycle)."""
    brokers: dict[str, int] = field(factory=dict, validator=_broker_budgets)
    """``[budgets.brokers] <broker instance> = 200``: calls to that broker per minute,
    shared by every caller in the process; a read over it is refused, an order held."""
    order_reserve: float = field(default=0.1, validator=_reserve)
    """The share of each broker budget only order submissions may use (reads are refused
    once the rest is spent, so monitoring cannot starve an order): rounded up to whole
    calls, at least one when above 0, at most the budget less one."""
    prompt_tokens: int | None = field(default=None, validator=_prompt_tokens)
    """The largest LLM prompt, in estimated tokens (four characters each): larger prompts
    are trimmed by the documented rule, or become a hold."""

    def __attrs_post_init__(self) -> None:
        # the reserve is rounded up to a whole call, and one call is left for reads: a
        # budget of 1 cannot keep both
        for broker, per_minute in self.brokers.items():
            if per_minute == 1 and self.order_reserve > 0:
                raise ValueError(
                    f"brokers.{broker}: 1 request per minute cannot keep order_reserve "
                    f"{show(self.order_reserve)} for orders and one for reads: allow 2 or "
                    "more, or set order_reserve = 0"
                )


SECTIONS: dict[str, type] = {
    "kernel": KernelSettings,
    "plugins": PluginsSettings,
    "store": StoreSettings,
    "components": ComponentSelection,
    "runtime": RuntimeSettings,
    "notify": NotifySettings,
    "audit": AuditSettings,
    "promotion": PromotionSettings,
    "alerts": AlertsSettings,
    "routing": RoutingSettings,
    "portfolio": PortfolioSettings,
    "approval": ApprovalSettings,
    "console": ConsoleSettings,
    "deploy": DeploySettings,
    "policy": PolicySettings,
    "slo": SloSettings,
    "heal": HealSettings,
    "incidents": IncidentsSettings,
    "budgets": BudgetsSettings,
}
"""Kernel-owned sections. Every other top-level table must be a component kind."""


def suggest(word: str, choices: list[str]) -> str:
    """A did-you-mean hint when ``word`` is close to one of ``choices``, else ""."""
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
