"""Each strategy's share of a netted order, and its part of that order's fills.

A netted intent (:func:`tradekernel.portfolio.conflicts.resolve_conflicts`, policy
``net``) is one order for the sum of several strategies' signed amounts. Its shares are
recorded in the store's ``strategy_shares`` table; every fill of that one order is split
by :func:`split_fill`, so the strategies' parts always add up to the fill exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction

from attrs import frozen


@frozen
class Share:
    """One strategy's part of a netted intent: ``amount`` is signed (buy positive) in the
    netted intent's unit (its quantity, or its notional)."""

    strategist: str
    intent_id: str
    """The strategy's original intent (recorded in the journal, never sent)."""
    amount: Decimal


def net_of(shares: Sequence[Share]) -> Decimal:
    """The signed net amount of ``shares`` (buy positive)."""
    return sum((s.amount for s in shares), Decimal(0))


def places(value: Decimal) -> int:
    """Decimal places ``value`` is written with (``2.50`` -> 2, ``5`` -> 0, ``1E+3`` -> 0):
    the precision a quantity carries, as the broker or the strategy wrote it."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def plain(value: Decimal) -> str:
    """``value`` as plain decimal text without trailing zeros (``10``, ``-0.5``, never
    ``1E+1`` nor ``962.120340000``); exact, whatever its size."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def exact_sum(a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` exactly (the default context would round to 28 digits)."""
    if not (a.is_finite() and b.is_finite()):
        return a + b
    with localcontext() as context:
        context.prec = max(a.adjusted(), b.adjusted(), 0) + max(places(a), places(b)) + 3
        return a + b


def _largest_remainder(units: int, weights: Mapping[str, Decimal]) -> dict[str, int]:
    """``units`` split in proportion to ``weights`` by largest remainder (exact)."""
    ratios = {n: Fraction(v) for n, v in weights.items() if v != 0}
    whole = sum(ratios.values(), Fraction(0))
    if not ratios or whole == 0:
        raise ValueError("an allocation needs weights adding up to something other than zero")
    targets = {n: units * r / whole for n, r in ratios.items()}
    parts = {n: math.floor(t) for n, t in targets.items()}
    left = units - sum(parts.values())
    for name in sorted(targets, key=lambda n: (-(targets[n] - parts[n]), n))[:left]:
        parts[name] += 1
    return parts


def allocate(total: Decimal, weights: Mapping[str, Decimal], at: int) -> dict[str, Decimal]:
    """``total`` split in proportion to ``weights`` (signed, adding up to anything but
    zero) by **largest remainder** at ``at`` decimal places (at least ``total``'s own):
    every part is a multiple of ``10**-at``, each is its exact proportion cut down to
    that unit, and the units left over go one each to the largest cut-off remainders
    (ties: by name), so the parts add up to ``total`` exactly. Computed in exact
    fractions, at any size."""
    at = max(at, places(total))
    units = int(Fraction(total) * 10**at)
    return {n: _units(u, at) for n, u in _largest_remainder(units, weights).items()}


def _units(count: int, at: int) -> Decimal:
    """``count`` units of ``10**-at`` as a plain decimal (``10``, ``-0.5``; exact)."""
    text = str(abs(count)).rjust(at + 1, "0")
    whole, fraction = (text[:-at], text[-at:].rstrip("0")) if at else (text, "")
    sign = "-" if count < 0 else ""
    return Decimal(f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}")


MAX_SHARE_PLACES = 12
"""Shares given with more decimal places than this (a ratio such as 1/3 written out to
28 digits) are split at this precision, or at the fill's own when it has more."""


def split_fill(
    quantity: Decimal, shares: Sequence[Share], before: Decimal = Decimal(0)
) -> dict[str, Decimal]:
    """Each strategy's signed part of a fill of ``quantity`` (unsigned, on the netted
    order's side) of the order the ``shares`` net to, ``before`` units of it filled
    already.

    A strategy's part of everything filled is ``amount / |net| x filled`` by largest
    remainder (:func:`allocate`) at the decimal places of the quantities and the
    amounts: a strategy on the net's side gets more than the fill, one on the other side
    the opposite (its trade was crossed inside the account). A fill's parts are what the
    fills so far give each strategy minus what the fills before gave it, so each part is
    a clean number at that precision, the parts of a fill sum to it exactly, and once the
    order is filled each strategy has exactly its amount (``fast +10``, ``slow -4``)."""
    net = net_of(shares)
    if not shares or net == 0:
        raise ValueError("a fill split needs shares with a non-zero net")
    weights: dict[str, Decimal] = {}
    for share in shares:
        weights[share.strategist] = weights.get(share.strategist, Decimal(0)) + share.amount
    return split_cumulative(quantity, before, weights, net > 0)


def split_cumulative(
    quantity: Decimal, before: Decimal, weights: Mapping[str, Decimal], buy: bool = True
) -> dict[str, Decimal]:
    """The parts of one fill of ``quantity`` of an order ``before`` units filled, split by
    ``weights`` (signed, oriented so they add up to the order's side: positive), signed
    the order's way (``buy`` false: negated). See :func:`split_fill`."""
    at = max(
        places(quantity),
        places(before),
        min(MAX_SHARE_PLACES, max((places(w) for w in weights.values()), default=0)),
    )
    scale = 10**at
    done = int(Fraction(before) * scale)
    after = _largest_remainder(done + int(Fraction(quantity) * scale), weights)
    given = _largest_remainder(done, weights) if done else {}
    sign = 1 if buy else -1
    return {n: _units(sign * (u - given.get(n, 0)), at) for n, u in after.items()}
