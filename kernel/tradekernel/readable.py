"""Numbers as a person reads them: money to the cent, quantities to their step.

The kernel keeps every amount as an exact :class:`~decimal.Decimal` and every machine
format (``--json``, ``report.v1``, events, the journal) carries all its digits. What a
person reads (a CLI line, the Markdown report, the dashboard) goes through these two
functions instead, so ``104200.83273127`` reads ``104200.83`` and an exposure of
``0.0000000000`` reads ``0.00``. Rounding is half-even (the bankers' rule), never an
exponent form, and ``-0.00`` reads ``0.00``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

MONEY_PLACES = 2
"""Places of an amount of money in human output (the cent)."""

QUANTITY_PLACES = 8
"""Most places of a quantity whose step is unknown (trailing zeros are dropped)."""

MISSING = "-"
"""What a missing value (None) reads as."""


def decimal_or_none(value: Any) -> Decimal | None:
    """A number read from outside (an event field, a report) as an exact :class:`Decimal`:
    a decimal string or number as is, a float through its shortest repr (``0.0012`` stays
    ``0.0012``); ``None`` for null, booleans, garbage, NaN and infinities."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return result if result.is_finite() else None


def _places(value: Decimal, places: int) -> str:
    exponent = Decimal(1).scaleb(-places)
    # enough precision for the integer digits, however large the amount
    context = Context(prec=max(28, value.adjusted() + places + 2))
    text = format(value.quantize(exponent, rounding=ROUND_HALF_EVEN, context=context), "f")
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def format_money(value: Any, places: int = MONEY_PLACES) -> str:
    """An amount of money for a person to read: ``places`` decimals (2, the cent, unless
    told), half-even, never in exponent form. ``value`` is a Decimal, a decimal string, an
    int or a float; None reads ``-`` and anything that is not a finite number is shown as
    given (``str``). Machine formats keep the exact value: use this only for display.

    >>> format_money("104200.83273127"), format_money("0E-10"), format_money(None)
    ('104200.83', '0.00', '-')
    """
    if value is None:
        return MISSING
    number = decimal_or_none(value)
    return str(value) if number is None else _places(number, places)


def _significant_places(value: Decimal) -> int:
    """Decimal places ``value`` needs (``2.50`` needs 1, ``0E-10`` none), exactly: no
    context rounding, however many digits."""
    _, digits, exponent = value.as_tuple()
    kept = "".join(map(str, digits)).rstrip("0")
    if not kept:
        return 0
    return max(0, -(int(exponent) + len(digits) - len(kept)))


def format_quantity(value: Any, step: Any = None) -> str:
    """A quantity for a person to read: with the places of its ``step`` (the lot
    increment, ``[runtime] quantity_step``: ``0.001`` gives 3 places, ``1`` none) when
    known, otherwise with trailing zeros dropped (``20.0000000000`` reads ``20``). A
    quantity that does not sit on its step keeps the places it has, so a reader is never
    shown a rounded order size; at most :data:`QUANTITY_PLACES` places. None reads ``-``;
    anything that is not a finite number is shown as given.

    >>> format_quantity("20.0000000000"), format_quantity("2", "0.01"), format_quantity("2.5", 1)
    ('20', '2.00', '2.5')
    """
    if value is None:
        return MISSING
    number = decimal_or_none(value)
    if number is None:
        return str(value)
    step_value = decimal_or_none(step)
    least = 0
    if step_value is not None and step_value > 0:
        least = min(_significant_places(step_value), QUANTITY_PLACES)
    text = _places(number, max(least, min(_significant_places(number), QUANTITY_PLACES)))
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(least, "0")  # zeros the 8-place cut left
    return f"{whole}.{fraction}" if fraction else whole
