"""Budgets: each strategy's capital budget and stops (the pipeline's fourth step).

Minimal form: no budget is configured, so every intent passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from ..execution import Denial
from ..models import Intent


@frozen
class BudgetContext:
    """What the budget check may look at for one cycle."""

    as_of: datetime | None = None
    quotes: Mapping[str, Any] = field(factory=dict)
    account: Any = None
    positions: Mapping[str, Any] = field(factory=dict)


def check_budgets(
    intents: Sequence[Intent], ctx: BudgetContext
) -> tuple[list[Intent], list[Denial]]:
    """The intents within their strategy's budget (no budgets configured: all of them)."""
    return list(intents), []
