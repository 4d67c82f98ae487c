"""The per-strategy sub-ledger: positions, realized and unrealized P&L, commissions and
exposure of each strategy, computed from the store's fills.

Attribution rules (docs/portfolio.md, "Per-strategy P&L"):

* A fill belongs to the strategies of its order (:func:`strategy_shares`): the intent's
  own strategy (``Intent.strategist``) with share 1, or, for a netted order, each
  strategy's recorded amount over the net (negative for a strategy crossed on the other
  side: its part is booked on that side). Quantity is split by share, commission by
  the size of each part; the largest share gets the remainder, so the parts add up to
  the fill exactly.
* Within a strategy, lots close first in, first out per symbol: a sell closes the
  strategy's oldest long lots first (a buy its oldest short lots); what is left opens a
  new lot. Another strategy's lots in the same symbol are never touched.
* A fill no intent explains (an order placed outside the kernel) goes to
  :data:`UNATTRIBUTED`, so the strategies always add up to the account.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

from attrs import define, field, frozen

from ..models import Fill, Side
from ..serde import structure
from .shares import exact_sum, net_of, plain, split_cumulative

UNATTRIBUTED = "(unattributed)"
"""The book of fills whose order no intent of the store explains."""

Shares = Callable[[str], Mapping[str, Decimal]]


def strategy_shares(store: Any, client_order_id: str) -> dict[str, Decimal]:
    """Each strategy's weight in order ``client_order_id``'s fills: the intent's own
    strategy with weight 1; for a netted intent, each strategy's recorded amount (the
    store's ``strategy_shares``) oriented to the order's side, so the weights add up to
    the net's size (``fast 10``, ``slow -4`` for a net buy of 6; a strategy on the other
    side, its trade crossed inside the account, has a negative weight) and each fill is
    split as :meth:`Store.strategy_fills` splits it; :data:`UNATTRIBUTED` when no intent
    of the store has this client order id."""
    row = store.conn.execute(
        "SELECT id, intent_json FROM intents WHERE client_order_id = ?", (client_order_id,)
    ).fetchone()
    if row is None:
        return {UNATTRIBUTED: Decimal(1)}
    recorded = store.shares(row[0])
    if not recorded:
        return {json.loads(row[1]).get("strategist") or UNATTRIBUTED: Decimal(1)}
    net = net_of(recorded)
    if net == 0:  # nothing should fill; if it does, it is booked, never lost
        return {UNATTRIBUTED: Decimal(1)}
    out: dict[str, Decimal] = {}
    for share in recorded:
        amount = share.amount if net > 0 else -share.amount
        out[share.strategist] = exact_sum(out.get(share.strategist, Decimal(0)), amount)
    return out


@frozen
class Part:
    """One strategy's part of a fill: the side it is booked on (the other side of the
    fill for a strategy crossed inside the account), its units and its commission."""

    side: Side
    quantity: Decimal
    commission: Decimal


@define
class Lot:
    """An open lot: signed quantity (positive long) at its entry price."""

    quantity: Decimal
    price: Decimal


@define
class StrategyBook:
    """One strategy's lots, realized P&L and commissions."""

    strategy: str
    lots: dict[str, deque[Lot]] = field(factory=dict)
    realized: Decimal = Decimal(0)
    """Realized P&L of closed lots, before commissions."""
    commissions: Decimal = Decimal(0)
    fills: int = 0

    def apply(self, side: Side, quantity: Decimal, price: Decimal, symbol: str) -> None:
        """Book one (part of a) fill, closing this strategy's oldest opposite lots first."""
        sign = Decimal(1) if side is Side.BUY else Decimal(-1)
        lots = self.lots.setdefault(symbol, deque())
        left = quantity
        while left > 0 and lots and lots[0].quantity * sign < 0:
            lot = lots[0]
            closed = min(left, abs(lot.quantity))
            # a buy closes a short (gain when it is cheaper), a sell a long
            self.realized += (lot.price - price) * closed * sign
            lot.quantity += closed * sign
            left -= closed
            if lot.quantity == 0:
                lots.popleft()
        if left > 0:
            lots.append(Lot(left * sign, price))
        if not lots:
            del self.lots[symbol]

    def position(self, symbol: str) -> Decimal:
        """Signed units held (positive long)."""
        return sum((lot.quantity for lot in self.lots.get(symbol, ())), Decimal(0))

    def positions(self) -> dict[str, Decimal]:
        """Signed units held per symbol (flat symbols left out)."""
        return {s: q for s in sorted(self.lots) if (q := self.position(s))}

    def cost(self, symbol: str) -> Decimal:
        """Entry value of the open lots of ``symbol``, signed."""
        return sum((lot.quantity * lot.price for lot in self.lots.get(symbol, ())), Decimal(0))

    def unrealized(self, prices: Mapping[str, Decimal]) -> Decimal:
        """Open lots marked at ``prices`` (a symbol without a price: at its entry)."""
        total = Decimal(0)
        for symbol in self.lots:
            if (price := prices.get(symbol)) is not None:
                total += self.position(symbol) * price - self.cost(symbol)
        return total

    def exposure(self, prices: Mapping[str, Decimal]) -> tuple[Decimal, Decimal]:
        """``(gross, net)`` market value of the open lots (entry price without a quote)."""
        gross = net = Decimal(0)
        for symbol in self.lots:
            qty = self.position(symbol)
            price = prices.get(symbol)
            value = qty * price if price is not None else self.cost(symbol)
            gross += abs(value)
            net += value
        return gross, net

    def pnl(self, prices: Mapping[str, Decimal]) -> Decimal:
        """Realized + unrealized - commissions."""
        return self.realized + self.unrealized(prices) - self.commissions

    def summary(self, prices: Mapping[str, Decimal]) -> dict[str, Any]:
        """The book as JSON-able numbers (decimal strings), as reports show it."""
        gross, net = self.exposure(prices)
        unrealized = self.unrealized(prices)
        return {
            "strategy": self.strategy,
            "positions": {s: plain(q) for s, q in self.positions().items()},
            "realized_pnl": plain(self.realized),
            "unrealized_pnl": plain(unrealized),
            "commissions": plain(self.commissions),
            "pnl": plain(self.realized + unrealized - self.commissions),
            "gross_exposure": plain(gross),
            "net_exposure": plain(net),
            "fills": self.fills,
        }


def split(amount: Decimal, shares: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``amount`` split by ``shares`` (weights, any scale; a negative weight gives a
    negative part) by largest remainder at the decimal places of ``amount`` and of the
    weights (at most 12 for the weights): clean parts adding up to ``amount`` exactly
    (:func:`~.shares.allocate`)."""
    named = {n: Decimal(s) for n, s in shares.items() if s != 0}
    if not named:
        return {}
    return split_cumulative(amount, Decimal(0), named)


def _valid(shares: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    """``shares`` as usable weights (a negative one is a strategy crossed on the other
    side of a netted order); :data:`UNATTRIBUTED` when they are empty, not finite, or
    add up to zero or less."""
    try:
        values = {name: Decimal(v) for name, v in shares.items()}
    except (TypeError, ValueError, ArithmeticError):
        return {UNATTRIBUTED: Decimal(1)}
    if not values or any(not v.is_finite() for v in values.values()):
        return {UNATTRIBUTED: Decimal(1)}
    if sum(values.values(), Decimal(0)) <= 0:
        return {UNATTRIBUTED: Decimal(1)}
    return values


class StrategyLedger:
    """Every strategy's :class:`StrategyBook`, fed fill by fill in time order."""

    def __init__(self) -> None:
        self.books: dict[str, StrategyBook] = {}
        self._filled: dict[str, Decimal] = {}
        """Units booked so far per order (client order id): fills split cumulatively."""

    def book(self, strategy: str) -> StrategyBook:
        if strategy not in self.books:
            self.books[strategy] = StrategyBook(strategy)
        return self.books[strategy]

    def apply(self, fill: Fill, shares: Mapping[str, Decimal]) -> dict[str, Part]:
        """Book ``fill`` to the strategies of ``shares`` (weights: a negative one books
        its part on the other side; weights that are empty, not finite or add up to zero
        or less book it to :data:`UNATTRIBUTED`, so the strategies still add up to the
        account). Quantities are split by largest remainder over what the order has
        filled so far (:func:`~.shares.split_cumulative`), so every part is clean at the
        quantities' precision and a filled order gives each strategy exactly its share;
        the commission by the size of each part, at the commission's precision. Returns
        each strategy's :class:`Part`."""
        weights = _valid(shares)
        before = self._filled.get(fill.client_order_id, Decimal(0))
        quantities = split_cumulative(fill.quantity, before, weights)
        self._filled[fill.client_order_id] = exact_sum(before, fill.quantity)
        # commissions follow each strategy's traded quantity, crossed parts included
        sizes = {n: abs(q) for n, q in quantities.items() if q}
        if not sizes:
            sizes = {n: abs(w) for n, w in weights.items() if w}
        commissions = split(fill.commission, sizes) if fill.commission else {}
        other = Side.SELL if fill.side is Side.BUY else Side.BUY
        parts: dict[str, Part] = {}
        for name, quantity in quantities.items():
            book = self.book(name)
            commission = commissions.get(name, Decimal(0))
            if quantity or commission:
                book.fills += 1
            book.commissions += commission
            if quantity > 0:
                book.apply(fill.side, quantity, fill.price, fill.symbol)
            elif quantity < 0:  # crossed inside the account: the other side
                book.apply(other, -quantity, fill.price, fill.symbol)
            side = fill.side if quantity >= 0 else other
            parts[name] = Part(side, abs(quantity), commission)
        return parts

    def apply_all(self, fills: Iterable[Fill], shares: Shares) -> StrategyLedger:
        for fill in fills:
            self.apply(fill, shares(fill.client_order_id))
        return self

    @classmethod
    def from_store(cls, store: Any, shares: Shares | None = None) -> StrategyLedger:
        """The ledger of every fill the store recorded, in time order."""
        return cls().apply_all(store.fills(), shares or partial(strategy_shares, store))

    def positions(self) -> dict[str, Decimal]:
        """Units held per symbol, summed over strategies."""
        out: dict[str, Decimal] = {}
        for book in self.books.values():
            for symbol, qty in book.positions().items():
                out[symbol] = out.get(symbol, Decimal(0)) + qty
        return {s: q for s, q in sorted(out.items()) if q}

    def pnl(self, prices: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """Each strategy's total P&L (realized + unrealized - commissions)."""
        return {name: book.pnl(prices) for name, book in sorted(self.books.items())}

    def report(self, prices: Mapping[str, Decimal]) -> dict[str, Any]:
        """Each strategy's :meth:`StrategyBook.summary` and the portfolio's sums."""
        strategies = [self.books[n].summary(prices) for n in sorted(self.books)]
        keys = ("realized_pnl", "unrealized_pnl", "commissions", "pnl")
        total = {k: plain(sum((Decimal(s[k]) for s in strategies), Decimal(0))) for k in keys}
        # the account's exposure nets the strategies' opposite holdings of one symbol
        values = [q * prices[s] for s, q in self.positions().items() if s in prices]
        gross = sum((abs(v) for v in values), Decimal(0))
        net = sum(values, Decimal(0))
        total.update(
            positions={s: plain(q) for s, q in self.positions().items()},
            gross_exposure=plain(gross),
            net_exposure=plain(net),
        )
        return {"strategies": strategies, "portfolio": total}


class StoreLedger:
    """The store's :class:`StrategyLedger`, kept up to date fill by fill: each read books
    only the fills recorded since the last one (one query when there are none), and
    rebuilds the whole ledger when a fill arrives out of time order or one disappeared.
    ``on_fill(fill, parts)`` is called for every fill booked (each strategy's
    :class:`Part`), in booking order; a rebuild calls it again from the first fill."""

    def __init__(
        self,
        store: Any,
        shares: Shares | None = None,
        *,
        on_fill: Callable[[Fill, dict[str, Part]], None] | None = None,
    ) -> None:
        self.store = store
        self.shares = shares or partial(strategy_shares, store)
        self.on_fill = on_fill
        self._ledger = StrategyLedger()
        self._rowid = 0
        self._count = 0
        self._last: tuple[str, str] | None = None

    def current(self) -> StrategyLedger:
        conn = self.store.conn
        rows = conn.execute(
            "SELECT rowid, ts, fill_id, fill_json FROM fills WHERE rowid > ? ORDER BY ts, fill_id",
            (self._rowid,),
        ).fetchall()
        count = self._count + len(rows)
        stale = (rows and self._last is not None and (rows[0][1], rows[0][2]) < self._last) or (
            conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0] != count
        )
        if stale:  # out of order or deleted: book everything again, in time order
            self._ledger, self._rowid, self._count, self._last = StrategyLedger(), 0, 0, None
            rows = conn.execute(
                "SELECT rowid, ts, fill_id, fill_json FROM fills ORDER BY ts, fill_id"
            ).fetchall()
        for rowid, ts, fill_id, raw in rows:
            fill = structure(json.loads(raw), Fill)
            parts = self._ledger.apply(fill, self.shares(fill.client_order_id))
            if self.on_fill is not None:
                self.on_fill(fill, parts)
            self._rowid = max(self._rowid, rowid)
            self._count += 1
            self._last = (ts, fill_id)
        return self._ledger
