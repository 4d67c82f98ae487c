"""A quantile sketch of bounded size: ``slo calibrate`` takes the p99 of any number of
latency samples without keeping them.

Values are counted in logarithmic buckets (the DDSketch scheme): bucket ``i`` holds the
values in ``(gamma**(i-1), gamma**i]`` and stands for ``2 gamma**i / (gamma + 1)``, within
:data:`ACCURACY` of every value it holds. Seconds from a microsecond to a year need at
most about 15,000 buckets, however many samples there are.
"""

from __future__ import annotations

import math

ACCURACY = 0.001
"""The largest relative error of a quantile."""
GAMMA = (1 + ACCURACY) / (1 - ACCURACY)
SMALLEST = 1e-6
"""Values at or below this (seconds) count as zero."""


class Quantiles:
    """Counts non-negative values; :meth:`quantile` answers within :data:`ACCURACY`."""

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self._log_gamma = math.log(GAMMA)

    def add(self, value: float) -> None:
        self.count += 1
        if value <= SMALLEST:
            self.zeros += 1
            return
        index = math.ceil(math.log(value) / self._log_gamma)
        self.buckets[index] = self.buckets.get(index, 0) + 1

    def quantile(self, q: float) -> float | None:
        """The value of rank ``ceil(q * count)`` (``None`` without values)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = self.zeros
        if seen >= rank:
            return 0.0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return 2 * GAMMA**index / (GAMMA + 1)
        return 2 * GAMMA ** max(self.buckets) / (GAMMA + 1)  # pragma: no cover - rank <= count
