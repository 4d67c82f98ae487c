"""The paper account in memory: orders, fills, positions and cash, and the pure rules
that change them (fill prices, volume caps, position and P&L arithmetic)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from attrs import define, field
from tradekernel.api import Bar, Fill, Order, OrderStatus, OrderType, Side, TimeInForce

ZERO = Decimal(0)
ONE = Decimal(1)


@define
class WorkingOrder:
    """A paper order and its bookkeeping (mutable; :meth:`snapshot` is the kernel view)."""

    client_order_id: str
    seq: int
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    status: OrderStatus
    ref_ts: datetime | None
    """The market time at submission: the order fills only on bars after it."""
    est_price: Decimal | None = None
    """Price estimate used to reserve cash for a working buy."""
    filled_quantity: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    reason: str | None = None
    code: str | None = None
    intent_id: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    fill_count: int = 0
    checked_ts: datetime | None = None
    """The last bar already evaluated against this order (memory only)."""
    _snapshot: Order | None = field(default=None, repr=False)

    @property
    def broker_order_id(self) -> str:
        # from the client order id, unique per intent: never a counter that restarts when
        # the account file is reset (a reused id would name another intent's order)
        return f"paper-{self.client_order_id}"

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def open(self) -> bool:
        return not self.status.terminal

    def touch(self) -> None:
        """Forget the cached snapshot after a change."""
        self._snapshot = None

    def snapshot(self) -> Order:
        if self._snapshot is None:
            self._snapshot = Order(
                client_order_id=self.client_order_id,
                symbol=self.symbol,
                side=self.side,
                quantity=self.quantity,
                status=self.status,
                broker_order_id=self.broker_order_id,
                order_type=self.order_type,
                limit_price=self.limit_price,
                filled_quantity=self.filled_quantity,
                avg_fill_price=self.avg_fill_price,
                reason=self.reason,
                submitted_at=self.submitted_at,
                updated_at=self.updated_at,
            )
        return self._snapshot


@define
class Holding:
    quantity: Decimal
    avg_price: Decimal


@define
class Ledger:
    """The paper account in memory: cash, positions, every open order, and a bounded
    cache of recently closed orders with their fills. Older closed orders and their fills
    live only in SQLite (the broker reads them on demand), so memory does not grow with
    the number of trades."""

    cash: Decimal
    initial_cash: Decimal
    realized_pnl: Decimal = ZERO
    positions: dict[str, Holding] = field(factory=dict)
    open_orders: dict[str, WorkingOrder] = field(factory=dict)
    recent: OrderedDict[str, WorkingOrder] = field(factory=OrderedDict)
    """Closed orders, least recently closed or looked up first (at most ``cache_size``).
    A closed order never changes again, so a cached one stays valid across reloads."""
    fills_by_order: dict[str, list[Fill]] = field(factory=dict)
    """Fills of the orders in ``open_orders`` and ``recent`` (and of no other)."""
    next_seq: int = 1
    """The next order's ``seq`` (submission order)."""
    fill_seq: int = 0
    """The last fill's global ``seq`` (execution order)."""
    cache_size: int = 256

    def get(self, client_order_id: str) -> WorkingOrder | None:
        """The order when it is in memory (open, or closed and still cached)."""
        order = self.open_orders.get(client_order_id)
        return order if order is not None else self.recent.get(client_order_id)

    def add_order(self, order: WorkingOrder, fills: list[Fill] | None = None) -> None:
        """Keep ``order`` (and its ``fills``): open ones always, closed ones in the cache."""
        self.next_seq = max(self.next_seq, order.seq + 1)
        if fills:
            self.fills_by_order[order.client_order_id] = fills
        if order.open:
            self.open_orders[order.client_order_id] = order
        else:
            self._remember(order)

    def add_fill(self, fill: Fill) -> None:
        self.fill_seq += 1
        self.fills_by_order.setdefault(fill.client_order_id, []).append(fill)

    def close_order(self, order: WorkingOrder) -> None:
        if self.open_orders.pop(order.client_order_id, None) is not None:
            self._remember(order)

    def _remember(self, order: WorkingOrder) -> None:
        cid = order.client_order_id
        self.recent[cid] = order
        self.recent.move_to_end(cid)
        while len(self.recent) > self.cache_size:
            old, _ = self.recent.popitem(last=False)
            self.fills_by_order.pop(old, None)

    def reserved_cash(self, commission: Decimal) -> Decimal:
        """Cash held back for working buys (remaining x estimate, plus commission)."""
        total = ZERO
        for o in self.open_orders.values():
            if o.side is Side.BUY and o.est_price is not None:
                total += o.remaining * o.est_price * (ONE + commission)
        return total

    def reserved_sells(self, symbol: str) -> Decimal:
        """Quantity already promised to working sells of ``symbol``."""
        return sum(
            (
                o.remaining
                for o in self.open_orders.values()
                if o.symbol == symbol and o.side is Side.SELL
            ),
            ZERO,
        )

    def apply_fill(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal, commission: Decimal
    ) -> None:
        """Move cash and the position for one fill; realise P&L on the closed part.

        ``realized_pnl`` is net of commissions, so that
        ``equity = initial cash + realized_pnl + unrealized P&L`` holds at all times.
        """
        signed = quantity if side is Side.BUY else -quantity
        self.cash -= signed * price + commission
        self.realized_pnl -= commission
        held = self.positions.get(symbol)
        if held is None or held.quantity == 0:
            self.positions[symbol] = Holding(signed, price)
            return
        if (held.quantity > 0) == (signed > 0):  # adding to the position
            total = abs(held.quantity) + quantity
            held.avg_price = (abs(held.quantity) * held.avg_price + quantity * price) / total
            held.quantity += signed
            return
        closing = min(abs(held.quantity), quantity)
        direction = ONE if held.quantity > 0 else -ONE
        self.realized_pnl += closing * (price - held.avg_price) * direction
        held.quantity += signed
        if held.quantity == 0:
            del self.positions[symbol]
        elif (held.quantity > 0) != (direction > 0):  # flipped: the rest opens at price
            held.avg_price = price


def fill_price(order: WorkingOrder, bar: Bar, slippage: Decimal) -> Decimal | None:
    """The price ``order`` fills at on ``bar``, or ``None`` when it does not fill there.

    Market orders fill at the open, ``slippage`` (a fraction) worse but never outside the
    bar's ``[Low, High]``. Limit orders fill when the bar trades through the limit: at the
    open when the open is already better, else at the limit (no slippage: a limit is never
    filled worse than its limit). The broker calls it only for bars that pass the
    data-quality checks (``PaperBroker._fillable``).
    """
    if order.order_type is OrderType.MARKET:
        if order.side is Side.BUY:
            return min(bar.open * (ONE + slippage), bar.high) if slippage else bar.open
        return max(bar.open * (ONE - slippage), bar.low) if slippage else bar.open
    limit = order.limit_price
    if limit is None:
        return None
    if order.side is Side.BUY:
        return min(bar.open, limit) if bar.low <= limit else None
    return max(bar.open, limit) if bar.high >= limit else None


def volume_cap(order: WorkingOrder, available: Decimal) -> Decimal:
    """The most of ``order`` that ``available`` bar volume allows, rounded down to the
    precision of the order quantity (whole shares for a whole-share order)."""
    exponent = min(int(order.quantity.as_tuple().exponent), 0)
    step = ONE.scaleb(exponent)
    return min(order.remaining, available.quantize(step, rounding=ROUND_DOWN))
