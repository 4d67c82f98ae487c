"""The budget step: each strategy's intents against its capital, gross exposure cap and
drawdown state, after the strategists (and sizing, conflicts) and before the guards.

Rules (docs/portfolio.md, "Budgets and allocation"), per intent in order, each accepted
intent counting for the next ones of the same batch:

* a ``halted`` strategy: every intent is denied ``strategy_drawdown_stop``;
* a ``reducing`` strategy: only an intent that shrinks the strategy's own position in
  the symbol (without crossing zero) passes, the rest are ``strategy_drawdown_stop``;
* an intent that shrinks the strategy's position always passes the budget;
* otherwise the strategy's gross exposure after the intent (its positions at the
  cycle's prices) must stay within its cap: its equity (capital + its P&L), or
  ``max_gross_exposure`` when that is lower; else ``strategy_budget_exceeded``. An
  intent of a budgeted strategy that cannot be valued (no price) is denied too.

A strategy without a budget is only held to its state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from ..models import Intent, Side
from .ledger import UNATTRIBUTED, StrategyLedger

BUDGET_EXCEEDED = "strategy_budget_exceeded"
DRAWDOWN_STOP = "strategy_drawdown_stop"
BUDGET_CODES = (BUDGET_EXCEEDED, DRAWDOWN_STOP)
"""The reason codes of the budget step."""


@frozen
class Denial:
    """An intent a portfolio step refused: a stable ``code`` and one line of ``detail``."""

    intent: Intent
    code: str
    detail: str = ""

    @property
    def intent_id(self) -> str:
        return self.intent.id


@frozen
class StrategyLimits:
    """One strategy's budget now: its capital (from the allocator) and exposure cap."""

    capital: Decimal
    max_gross_exposure: Decimal | None = None


@frozen
class BudgetContext:
    """What :func:`check_budgets` reads; amounts in the account currency."""

    limits: Mapping[str, StrategyLimits] = field(factory=dict)
    """The budgeted strategies."""
    ledger: StrategyLedger = field(factory=StrategyLedger)
    """Each strategy's positions and P&L (:mod:`.ledger`)."""
    prices: Mapping[str, Decimal] = field(factory=dict)
    """The cycle's price per symbol."""
    states: Mapping[str, str] = field(factory=dict)
    """Each strategy's state (``active`` when absent; see :mod:`.state`)."""
    emit: Callable[..., Any] | None = None
    """Emits a ``portfolio.budget_denied`` event per denial when given."""


@frozen
class BudgetUse:
    """One strategy's budget use, as ``intents preview`` shows it."""

    strategy: str
    state: str
    capital: Decimal | None
    cap: Decimal | None
    gross_exposure: Decimal
    pnl: Decimal


def _strategy(intent: Intent) -> str:
    return intent.strategist or UNATTRIBUTED


def _price(intent: Intent, prices: Mapping[str, Decimal]) -> Decimal | None:
    price = prices.get(intent.symbol)
    return price if price is not None else intent.limit_price


def _quantity(intent: Intent, price: Decimal | None) -> Decimal | None:
    if intent.quantity is not None:
        return intent.quantity
    return None if not price else intent.notional / price  # type: ignore[operator]


def budget_use(strategy: str, ctx: BudgetContext) -> BudgetUse:
    """Where ``strategy`` stands against its budget."""
    book = ctx.ledger.book(strategy) if strategy in ctx.ledger.books else None
    gross = book.exposure(ctx.prices)[0] if book else Decimal(0)
    pnl = book.pnl(ctx.prices) if book else Decimal(0)
    limits = ctx.limits.get(strategy)
    cap = None
    if limits is not None:
        cap = limits.capital + pnl
        if limits.max_gross_exposure is not None:
            cap = min(cap, limits.max_gross_exposure)
    return BudgetUse(
        strategy,
        ctx.states.get(strategy, "active"),
        None if limits is None else limits.capital,
        cap,
        gross,
        pnl,
    )


def check_budgets(
    intents: Sequence[Intent], ctx: BudgetContext
) -> tuple[list[Intent], list[Denial]]:
    """The intents that pass the budget step, in order, and a :class:`Denial` for each
    one that does not (``strategy_budget_exceeded``, ``strategy_drawdown_stop``)."""
    passed: list[Intent] = []
    denied: list[Denial] = []
    held: dict[tuple[str, str], Decimal] = {}
    use: dict[str, BudgetUse] = {}
    for intent in intents:
        name = _strategy(intent)
        key = (name, intent.symbol)
        if key not in held:
            book = ctx.ledger.books.get(name)
            held[key] = book.position(intent.symbol) if book else Decimal(0)
        position = held[key]
        price = _price(intent, ctx.prices)
        quantity = _quantity(intent, price)
        if name in ctx.limits and name not in use:
            use[name] = budget_use(name, ctx)
        denial = _judge(intent, name, position, price, quantity, ctx, use)
        if denial is None:
            if quantity is not None:  # an unbudgeted notional intent without a price: unknown
                delta = quantity if intent.side is Side.BUY else -quantity
                if name in use and price is not None:
                    grown = abs(position + delta) * price - abs(position) * price
                    use[name] = _grow(use[name], grown)
                held[key] = position + delta
            passed.append(intent)
            continue
        denied.append(denial)
        if ctx.emit is not None:
            ctx.emit(
                "portfolio",
                "budget_denied",
                severity="warning",
                strategy=name,
                intent_id=intent.id,
                symbol=intent.symbol,
                code=denial.code,
                detail=denial.detail,
            )
    return passed, denied


def _grow(use: BudgetUse, by: Decimal) -> BudgetUse:
    return BudgetUse(
        use.strategy, use.state, use.capital, use.cap, use.gross_exposure + by, use.pnl
    )


def _judge(
    intent: Intent,
    name: str,
    position: Decimal,
    price: Decimal | None,
    quantity: Decimal | None,
    ctx: BudgetContext,
    use: dict[str, BudgetUse],
) -> Denial | None:
    state = ctx.states.get(name, "active")
    sign = Decimal(1) if intent.side is Side.BUY else Decimal(-1)
    reduces = quantity is not None and position * sign < 0 and quantity <= abs(position)
    if state == "halted":
        return Denial(intent, DRAWDOWN_STOP, f"strategy {name} is halted by its drawdown stop")
    if state == "reducing" and not reduces:
        return Denial(
            intent,
            DRAWDOWN_STOP,
            f"strategy {name} is reducing: only orders that shrink its positions pass",
        )
    if name not in ctx.limits or reduces:
        return None
    if price is None or quantity is None:
        return Denial(intent, BUDGET_EXCEEDED, f"no price for {intent.symbol}: cannot value it")
    now = use[name]
    after = now.gross_exposure + abs(position + sign * quantity) * price - abs(position) * price
    if now.cap is not None and after > now.cap:
        return Denial(
            intent,
            BUDGET_EXCEEDED,
            f"strategy {name}: gross exposure {after:.2f} would pass its cap {now.cap:.2f} "
            f"(capital {now.capital:.2f}, P&L {now.pnl:.2f})",
        )
    return None
