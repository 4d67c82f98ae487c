"""Inverse-volatility allocation: a strategy whose P&L swings less gets more capital.

Each strategy's return per allocation is the change of its P&L divided by its configured
capital; its volatility the standard deviation of its last ``lookback`` returns. The
target budget of strategy *i* is ``total x (1 / vol_i) / sum(1 / vol_j)``, where
``total`` is the sum of the configured budgets. Each budget moves toward its target by
at most ``max_step x total`` per allocation, and the budgets never add up to more than
``total`` (scaled down when they would). Until every strategy has ``min_samples``
returns, or when no strategy moved at all, the budgets stay as they are.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import pairwise

from attrs import define, field
from tradekernel.api import AllocationRequest, ConfigError, positive, ratio

CENT = Decimal("0.01")


def _at_least_two(_inst: object, attribute: object, value: int) -> None:
    if value < 2:
        raise ValueError(f"min_samples: expected 2 or more, got {value}")


@define
class InverseVolatilityConfig:
    """``[allocator.inverse-volatility]``."""

    lookback: int = field(default=20, validator=positive)
    """Returns (P&L changes between allocations) each volatility is measured on."""
    min_samples: int = field(default=5, validator=_at_least_two)
    """Returns every strategy needs before the budgets move."""
    max_step: float = field(default=0.05, validator=ratio)
    """The most one budget moves per allocation, as a fraction of the total capital."""

    def __attrs_post_init__(self) -> None:
        if self.min_samples > self.lookback:
            raise ConfigError("[allocator.inverse-volatility] min_samples: more than lookback")


def _returns(samples: Sequence[Decimal], capital: Decimal, lookback: int) -> list[float]:
    tail = list(samples)[-(lookback + 1) :]
    if capital <= 0:
        return []
    return [float((b - a) / capital) for a, b in pairwise(tail)]


def _volatility(returns: list[float]) -> float:
    vol = statistics.pstdev(returns)
    return vol if math.isfinite(vol) else 0.0


class InverseVolatilityAllocator:
    """Rebalances budgets toward inverse-volatility weights, bounded per step."""

    def __init__(self, config: InverseVolatilityConfig) -> None:
        self.config = config

    def targets(self, request: AllocationRequest) -> dict[str, Decimal] | None:
        """The unbounded target budgets, or ``None`` while history is too short."""
        names = sorted(request.configured)
        total = sum(request.configured.values(), Decimal(0))
        if not names or total <= 0:
            return None
        vols: dict[str, float] = {}
        for name in names:
            returns = _returns(
                request.pnl.get(name, ()), request.configured[name], self.config.lookback
            )
            if len(returns) < self.config.min_samples:
                return None
            vols[name] = _volatility(returns)
        moving = [v for v in vols.values() if v > 0]
        if not moving:
            return None
        floor = min(moving)  # a strategy that never moved counts as the calmest one
        inverse = {n: 1 / max(v, floor) for n, v in vols.items()}
        weight = sum(inverse.values())
        return {n: total * Decimal(repr(inverse[n] / weight)) for n in names}

    def allocate(self, request: AllocationRequest) -> Mapping[str, Decimal]:
        targets = self.targets(request)
        if targets is None:
            return dict(request.current)
        total = sum(request.configured.values(), Decimal(0))
        step = total * Decimal(repr(self.config.max_step))
        out: dict[str, Decimal] = {}
        for name, target in targets.items():
            now = request.current.get(name, request.configured[name])
            move = max(-step, min(step, target - now))
            out[name] = max(Decimal(0), now + move)
        used = sum(out.values(), Decimal(0))
        if used > total:
            out = {n: v * total / used for n, v in out.items()}
        return {n: v.quantize(CENT, rounding="ROUND_DOWN") for n, v in out.items()}
