"""Each strategy's share of a netted order, and its part of that order's fills.

A netted intent (:func:`tradekernel.portfolio.conflicts.resolve_conflicts`, policy
``net``) is one order for the sum of several strategies' signed amounts. Its shares are
recorded in the store's ``strategy_shares`` table; every fill of that one order is split
by :func:`split_fill`, so the strategies' parts always add up to the fill exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal, localcontext

from attrs import frozen

QUANTUM = Decimal("1e-12")
"""Fill parts are cut to this precision (toward zero); the remainder goes to one share."""


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


def split_fill(quantity: Decimal, shares: Sequence[Share]) -> dict[str, Decimal]:
    """Each strategy's signed part of a fill of ``quantity`` (unsigned, on the netted
    order's side) of the order the ``shares`` net to.

    A strategy's part is ``amount / |net| * quantity``: a strategy on the net's side gets
    more than the fill, one on the other side the opposite (its trade was crossed inside
    the account). Parts are cut toward zero to :data:`QUANTUM`; the remainder goes to the
    largest share on the net's side, so the parts always sum to the signed fill exactly."""
    if not shares or net_of(shares) == 0:
        raise ValueError("a fill split needs shares with a non-zero net")
    with localcontext() as context:  # exact at any size (the default context keeps 28 digits)
        context.prec = 40 + sum(_digits(v) for v in (quantity, *(s.amount for s in shares)))
        return _split(quantity, shares)


def _digits(value: Decimal) -> int:
    """An upper bound of the digits ``value`` spans (integer and fraction): their sum over
    the inputs bounds every product, quotient and sum of the split, 12 places included."""
    _, digits, exponent = value.as_tuple()
    return len(digits) + abs(int(exponent))


def _split(quantity: Decimal, shares: Sequence[Share]) -> dict[str, Decimal]:
    net = net_of(shares)
    parts: dict[str, Decimal] = {}
    for share in shares:
        part = (share.amount * quantity / abs(net)).quantize(QUANTUM, rounding=ROUND_DOWN)
        parts[share.strategist] = parts.get(share.strategist, Decimal(0)) + part
    signed = quantity if net > 0 else -quantity
    sides = [s for s in shares if (s.amount > 0) == (net > 0)]
    largest = max(sides, key=lambda s: (abs(s.amount), s.strategist)).strategist
    parts[largest] += signed - sum(parts.values(), Decimal(0))
    return {name: _plain(part) for name, part in parts.items()}


def _plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and with a non-negative exponent for integers
    (``10``, not ``1E+1``). Below 1e-6 ``str`` still writes an exponent: show parts with
    ``format(value, "f")`` (``intents show`` does)."""
    return Decimal(format(value.normalize(), "f"))
