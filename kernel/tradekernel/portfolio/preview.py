"""The budget step as ``intents preview`` shows it: where the intent's strategy stands
against its budget, and what the step would say about the intent now."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..models import Intent
from .allocation import ALLOCATION_KEY
from .budgets import BudgetContext, StrategyLimits, budget_use, check_budgets
from .ledger import StrategyLedger
from .state import StrategyStates


class _StoreControls:
    """Reads controls straight from the store (what ``StrategyStates`` needs)."""

    def __init__(self, store: Any) -> None:
        self.get = store.get_control


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(Decimal("0.01")), "f")


def budget_preview(
    store: Any,
    portfolio: Any,
    intent: Intent,
    ref_price: Decimal | None,
    equity: Decimal | None = None,
) -> dict[str, Any] | None:
    """The intent's strategy's budget use and the step's answer, or ``None`` when the
    strategy has no budget and is ``active``. A budget set as a fraction of equity needs
    ``equity`` (``capital`` is ``None`` without it, and the step is not judged)."""
    name = intent.strategist
    state = StrategyStates(_StoreControls(store)).state(name)
    budget = portfolio.budgets.get(name)
    if budget is None and state == "active":
        return None
    ledger = StrategyLedger.from_store(store)
    prices: dict[str, Decimal] = {f.symbol: f.price for f in store.fills()}
    if ref_price is not None:
        prices[intent.symbol] = ref_price
    stored = (store.get_control(ALLOCATION_KEY, None) or {}).get(name)
    capital: Decimal | None = None
    if budget is not None:
        if stored is not None:
            capital = Decimal(stored)
        elif budget.amount is not None:
            capital = Decimal(budget.amount)
        elif equity is not None:
            capital = equity * Decimal(str(budget.fraction))
    limits = {}
    if capital is not None:
        limits[name] = StrategyLimits(capital, budget.max_gross_exposure)  # type: ignore[union-attr]
    ctx = BudgetContext(limits=limits, ledger=ledger, prices=prices, states={name: state})
    use = budget_use(name, ctx)
    verdict: dict[str, Any] = {"allow": None, "code": None, "detail": ""}
    if budget is None or capital is not None:
        _, denied = check_budgets([intent], ctx)
        verdict = {
            "allow": not denied,
            "code": denied[0].code if denied else None,
            "detail": denied[0].detail if denied else "",
        }
    return {
        "strategy": name,
        "state": state,
        "capital": _text(capital),
        "cap": _text(use.cap),
        "gross_exposure": _text(use.gross_exposure),
        "pnl": _text(use.pnl),
        **verdict,
    }
