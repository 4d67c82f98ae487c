"""Numbers from an exchange's answer, as ``Decimal`` or refused.

ccxt hands back floats (and sometimes strings): a float is converted through its
shortest ``repr`` (``0.1`` stays ``0.1``, never ``0.1000000000000000055...``), and a
value that is not a finite number in range is refused with :class:`BadAnswer`, so a
malformed answer never becomes an order or a fill.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from tradekernel.api import MAX_PRICE, MAX_QUANTITY

ZERO = Decimal(0)


class BadAnswer(ValueError):
    """The exchange's answer has a field that cannot be used (wrong type, NaN, out of range)."""


def number(value: Any, what: str, *, limit: Decimal = MAX_QUANTITY) -> Decimal:
    """``value`` as a finite ``Decimal`` in ``0..limit``, or :class:`BadAnswer` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise BadAnswer(f"{what}: expected a number, got {type(value).__name__}")
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise BadAnswer(f"{what}: expected a number, got {str(value)[:40]!r}") from None
    if not result.is_finite():
        raise BadAnswer(f"{what}: expected a finite number, got {result}")
    if result < 0:
        raise BadAnswer(f"{what}: expected zero or more, got {result}")
    if result > limit:
        raise BadAnswer(f"{what}: {result} is above {limit:,.0f}")
    return result + ZERO  # -0 -> 0


def signed(value: Any, what: str, *, limit: Decimal = MAX_QUANTITY) -> Decimal:
    """A finite ``Decimal`` in ``-limit..limit`` (a fee rebate, a margin debt)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return -number(-value, what, limit=limit)
    if isinstance(value, str) and value.strip().startswith("-"):
        return -number(value.strip()[1:], what, limit=limit)
    return number(value, what, limit=limit)


def optional(value: Any, what: str, *, limit: Decimal = MAX_QUANTITY) -> Decimal | None:
    """:func:`number`, with ``None`` passed through."""
    return None if value is None else number(value, what, limit=limit)


def price(value: Any, what: str) -> Decimal:
    """A price: a positive number up to ``MAX_PRICE``."""
    result = number(value, what, limit=MAX_PRICE)
    if not result:
        raise BadAnswer(f"{what}: expected a positive price, got 0")
    return result


def optional_price(value: Any, what: str) -> Decimal | None:
    """:func:`price`, with ``None`` (and 0, which ccxt uses for "no price") as ``None``."""
    if value is None:
        return None
    result = number(value, what, limit=MAX_PRICE)
    return result or None


def text(value: Any, what: str, *, max_length: int = 128) -> str:
    """A printable identifier from the answer (ids, statuses): no control characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise BadAnswer(f"{what}: expected a short text, got {type(value).__name__}")
    if not value.isprintable():
        raise BadAnswer(f"{what}: contains control characters")
    return value
