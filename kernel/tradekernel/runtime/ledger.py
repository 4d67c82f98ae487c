"""Trading activity the guards need (orders today, order times, last trade per symbol,
the day's starting P&L), kept in memory and seeded from the store at start."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from ..models import Account, Position


class TradeLedger:
    """Counts by market time (the cycle's ``as_of``), so backtests and live runs agree."""

    def __init__(self, history: int = 1000) -> None:
        self.order_times: deque[datetime] = deque(maxlen=history)
        self.last_trade: dict[str, datetime] = {}
        self.day: date | None = None
        self.orders_today = 0
        self.day_start: tuple[Decimal, Decimal] | None = None
        """Realized and unrealized P&L at the start of the market day."""

    def seed(self, orders: Iterable[tuple[str, datetime]]) -> None:
        """Replay ``(symbol, market_time)`` of orders already sent, oldest first."""
        for symbol, ts in sorted(orders, key=lambda o: o[1]):
            self.note_order(symbol, ts)

    def note_order(self, symbol: str, ts: datetime) -> None:
        if self.day is None or ts.date() > self.day:
            self.day, self.orders_today = ts.date(), 0
        if ts.date() == self.day:
            self.orders_today += 1
        self.order_times.append(ts)
        self.last_trade[symbol] = max(ts, self.last_trade.get(symbol, ts))

    def roll(
        self, as_of: datetime | None, account: Account | None, positions: dict[str, Position]
    ) -> None:
        """Start a new trading day when the market date changes; remember its starting P&L."""
        if as_of is None:
            return
        if self.day != as_of.date():
            self.day = as_of.date()
            self.orders_today = 0
            self.day_start = None
        if self.day_start is None and account is not None:
            self.day_start = (account.realized_pnl, unrealized(positions))

    def pnl_today(
        self, account: Account | None, positions: dict[str, Position]
    ) -> tuple[Decimal, Decimal]:
        """Realized and unrealized P&L change since the start of the market day."""
        if account is None or self.day_start is None:
            return Decimal(0), Decimal(0)
        realized, open_pnl = self.day_start
        return account.realized_pnl - realized, unrealized(positions) - open_pnl


def unrealized(positions: dict[str, Position]) -> Decimal:
    return sum((p.unrealized_pnl for p in positions.values()), Decimal(0))


class Commitments:
    """Orders the guards must count although the broker's positions do not show them yet:
    intents waiting for approval, approved, executing, or submitted and still working, and
    the intents this cycle has already let through. Without it, three buys in one
    decision would each be checked against the same position and order count.

    Buys and sells are kept apart and never netted: an unapproved sell may still be
    rejected, so it must not make room for a buy (see :meth:`positions`)."""

    def __init__(self) -> None:
        self.buys: dict[str, Decimal] = {}
        self.sells: dict[str, Decimal] = {}
        self.prices: dict[str, Decimal] = {}
        self.times: list[datetime] = []
        self.last: dict[str, datetime] = {}

    def add(
        self,
        symbol: str,
        signed_quantity: Decimal,
        price: Decimal | None,
        ts: datetime | None,
        *,
        counts_as_order: bool = True,
    ) -> None:
        """Commit ``signed_quantity`` (positive buys, negative sells) of ``symbol``."""
        side = self.buys if signed_quantity > 0 else self.sells
        side[symbol] = side.get(symbol, Decimal(0)) + abs(signed_quantity)
        if price is not None:
            self.prices.setdefault(symbol, price)
        if counts_as_order and ts is not None:
            self.times.append(ts)
            self.last[symbol] = max(ts, self.last.get(symbol, ts))

    def orders_on(self, day: date | None) -> int:
        return sum(1 for t in self.times if t.date() == day)

    def positions(
        self, base: dict[str, Position], symbol: str, buying: bool
    ) -> dict[str, Position]:
        """``base`` as a guard checking a buy (``buying``) or a sell of ``symbol`` must
        see it: for ``symbol``, the commitments on the same side added (the opposite side
        may never happen, so it neither makes room nor counts as reducing); for every
        other symbol, whichever side leaves the larger position (worst case)."""
        if not self.buys and not self.sells:
            return base
        out = dict(base)
        for sym in {*self.buys, *self.sells}:
            held = out.get(sym)
            quantity = held.quantity if held is not None else Decimal(0)
            up = quantity + self.buys.get(sym, Decimal(0))
            down = quantity - self.sells.get(sym, Decimal(0))
            if sym == symbol:
                projected = up if buying else down
            else:
                projected = up if abs(up) >= abs(down) else down
            if held is None:
                price = self.prices.get(sym, Decimal(0))
                out[sym] = Position(sym, projected, price, market_price=price or None)
            else:
                out[sym] = Position(sym, projected, held.avg_price, held.market_price)
        return out
