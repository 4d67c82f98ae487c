"""Sizing: a strategist's signal -> a quantity (the pipeline's second step).

Minimal form: every intent the kernel carries already has its amount (a quantity or a
notional), so each passes unchanged and nothing is denied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from ..execution import Denial
from ..models import Intent


@frozen
class SizingContext:
    """What a sizer may look at for one cycle."""

    as_of: datetime | None = None
    quotes: Mapping[str, Any] = field(factory=dict)
    bars: Mapping[str, Any] = field(factory=dict)
    account: Any = None
    positions: Mapping[str, Any] = field(factory=dict)


def size_intents(
    intents: Sequence[Intent], ctx: SizingContext
) -> tuple[list[Intent], list[Denial]]:
    """The intents with their quantities (an intent with an amount passes unchanged)."""
    return list(intents), []
