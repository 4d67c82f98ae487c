"""Small, exact helpers the aggregation uses: nearest-rank percentiles, latency summaries,
decimal parsing and formatting, counters.

Percentiles use the **nearest-rank** method: the p-th percentile of n sorted values is the
value at rank ``ceil(p / 100 * n)`` (1-based). It is always one of the observed values,
needs no interpolation, and is the same however the values arrived.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradekernel.api import decimal_or_none

LATENCY_DIGITS = 3


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(values: Iterable[Any]) -> dict[str, Any]:
    """``{"count", "p50", "p95", "max"}`` of the numeric ``values`` (milliseconds);
    non-numbers are ignored, statistics are None when nothing is left."""
    nums = [float(v) for v in values if is_number(v)]
    return {
        "count": len(nums),
        "p50": _ms(percentile(nums, 50)),
        "p95": _ms(percentile(nums, 95)),
        "max": _ms(max(nums) if nums else None),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, LATENCY_DIGITS)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


to_decimal = decimal_or_none
"""A number from an event field as an exact :class:`Decimal`, or None (the public
:func:`tradekernel.api.decimal_or_none`)."""


def money(value: Decimal | None) -> str | None:
    """A decimal as a plain string, never in exponent form (``"0.00000012"``)."""
    if value is None:
        return None
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def dec_sum(values: Iterable[Any]) -> Decimal:
    """The exact sum of the decimal-like ``values`` (unparseable ones are skipped)."""
    total = Decimal(0)
    for value in values:
        d = to_decimal(value)
        if d is not None:
            total += d
    return total


def counter(values: Iterable[Any]) -> dict[str, int]:
    """``{str(value): count}`` of the non-null ``values``, keys sorted."""
    counts = Counter(str(v) for v in values if v is not None and v != "")
    return {k: counts[k] for k in sorted(counts)}


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 places; None when ``whole`` is 0."""
    return round(part / whole, 4) if whole else None


def duration_ms(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() * 1000, LATENCY_DIGITS)


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None
