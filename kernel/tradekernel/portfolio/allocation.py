"""Allocation: turns ``[portfolio.budgets]`` and the selected allocator's answer into
each strategy's :class:`~.budgets.StrategyLimits`, and builds the budget step's
:class:`~.budgets.BudgetContext` (ledger, prices, per-strategy states)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from loguru import logger

from ..components import AllocationRequest
from ..sections import MAX_BUDGET, PortfolioSettings
from .budgets import BudgetContext, StrategyLimits
from .ledger import StrategyLedger
from .shares import plain
from .state import StrategyStates

ALLOCATION_KEY = "allocation"
"""The control holding the budgets an allocator set (journaled when they change)."""


def configured_capital(portfolio: PortfolioSettings, equity: Decimal) -> dict[str, Decimal]:
    """Each budgeted strategy's capital as config sets it (a fraction of ``equity``)."""
    out: dict[str, Decimal] = {}
    for name, budget in sorted(portfolio.budgets.items()):
        if budget.amount is not None:
            out[name] = Decimal(budget.amount)
        else:
            out[name] = equity * Decimal(str(budget.fraction))
    return out


def _amount(value: object) -> Decimal | None:
    """An allocator's answer for one strategy as an amount, or ``None`` when it is not a
    finite number from zero to :data:`MAX_BUDGET` (that strategy keeps its budget)."""
    if isinstance(value, bool):
        return None
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None
    return amount if amount.is_finite() and 0 <= amount <= MAX_BUDGET else None


class Allocation:
    """Runs the allocator once per call to :meth:`context` and keeps its P&L history."""

    def __init__(
        self,
        allocator: Any,
        portfolio: PortfolioSettings,
        *,
        control: Any = None,
        emit: Callable[..., Any] | None = None,
    ) -> None:
        self.allocator = allocator
        self.portfolio = portfolio
        self.control = control
        self._emit = emit or (lambda *a, **k: None)
        self.history: dict[str, deque[Decimal]] = {}
        self._announced: tuple[Any, ...] | None = None
        self.states = StrategyStates(control, self._emit) if control is not None else None

    def budgets(self, equity: Decimal, pnl: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """Each budgeted strategy's capital now: the allocator's answer, where it is a
        finite amount of zero or more, else the budget in force."""
        configured = configured_capital(self.portfolio, equity)
        stored = self.control.get(ALLOCATION_KEY, None) if self.control is not None else None
        current = dict(configured)
        for name, value in (stored or {}).items():
            if name in current:
                current[name] = Decimal(value)
        for name in configured:
            samples = self.history.setdefault(name, deque(maxlen=self.portfolio.history))
            samples.append(pnl.get(name, Decimal(0)))
        request = AllocationRequest(
            equity=equity,
            configured=configured,
            current=current,
            pnl={n: tuple(h) for n, h in self.history.items()},
        )
        try:
            answer = dict(self.allocator.allocate(request))
        except Exception as exc:  # an allocator must never stop trading: keep the budgets
            logger.warning("allocator failed: {}: budgets unchanged", exc)
            self._emit("portfolio", "allocator_failed", severity="warning", reason=str(exc)[:200])
            answer = current
        budgets = dict(current)
        for name, value in answer.items():
            amount = _amount(value)
            if name in budgets and amount is not None:
                budgets[name] = amount
        if self.control is not None and budgets != current:
            # budgets that follow config are not stored (a fraction moves with equity)
            value = None if budgets == configured else {n: str(v) for n, v in budgets.items()}
            if value is not None or stored:
                self.control.set(ALLOCATION_KEY, value, actor="allocator", reason="rebalanced")
        self._announce(budgets, current)
        return budgets

    def _announce(self, budgets: dict[str, Decimal], current: dict[str, Decimal]) -> None:
        """A ``portfolio.allocation`` event when the allocator changed the budgets
        (``rebalanced``), at the first allocation of a run (``start``) and at the first of
        each day by the runtime's clock (``day``): every day's events say the budgets in
        force, which is what the daily report reads."""
        day = self.control.clock().date() if self.control is not None else None
        if budgets != current:
            cause = "rebalanced"
        elif self._announced is None:
            cause = "start"
        elif day != self._announced[0]:
            cause = "day"
        else:
            return
        self._announced = (day,)
        self._emit(
            "portfolio",
            "allocation",
            budgets={n: plain(v) for n, v in budgets.items()},
            previous={n: plain(v) for n, v in current.items()} if cause == "rebalanced" else None,
            cause=cause,
        )

    def context(
        self,
        ledger: StrategyLedger,
        prices: Mapping[str, Decimal],
        equity: Decimal,
        *,
        emit: Callable[..., Any] | None = None,
    ) -> BudgetContext:
        """Allocate, move each budgeted strategy's drawdown state, and return the budget
        step's context."""
        pnl = ledger.pnl(prices)
        capital = self.budgets(equity, pnl)
        limits: dict[str, StrategyLimits] = {}
        states: dict[str, str] = {}
        for name, amount in capital.items():
            budget = self.portfolio.budgets[name]
            limits[name] = StrategyLimits(amount, budget.max_gross_exposure)
            if self.states is not None:
                book = ledger.books.get(name)
                flat = book is None or not book.positions()
                states[name] = self.states.update(
                    name, pnl.get(name, Decimal(0)), amount, budget, flat=flat
                )
        if self.states is not None:
            for name in ledger.books:
                states.setdefault(name, self.states.state(name))
        return BudgetContext(limits=limits, ledger=ledger, prices=prices, states=states, emit=emit)
