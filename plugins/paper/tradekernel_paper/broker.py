"""The paper broker: simulated fills against the selected market data feed.

Fills are applied lazily: every public method first settles working orders against the
bars that appeared since they were last looked at. Market orders fill at the open of the
first bar after the one current at submission; limit orders fill on the first later bar
that trades through the limit. See docs/paper-and-market-data.md.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from loguru import logger
from tradekernel.api import (
    MAX_PRICE,
    MAX_QUANTITY,
    Account,
    Bar,
    BrokerRejected,
    Fill,
    MarketData,
    Order,
    OrderConstraints,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
    band_problem,
    bar_problem,
    current_cycle_id,
    quote_problem,
    utcnow,
)

from .config import PaperConfig
from .ledger import ONE, ZERO, WorkingOrder, fill_price, volume_cap
from .store import PaperStore

BPS = Decimal(10000)
JUDGED_CACHE = 64
"""Fill-bar judgements remembered (per symbol and time): enough for every open order's
window; more would only keep old bars alive."""


def _multiple(value: Decimal, step: Decimal) -> bool:
    try:
        return not value % step
    except InvalidOperation:  # the quotient has more digits than Decimal carries
        return False


def _seq(order: WorkingOrder) -> int:
    return order.seq


class PaperBroker:
    """A simulated broker with a persistent SQLite account (implements ``Broker``)."""

    live_capable = False

    def __init__(
        self,
        config: PaperConfig,
        market_data: Callable[[], MarketData],
        db_path: Path,
        *,
        max_price_move: float | Decimal = Decimal(1),
        account: Path | None = None,
    ) -> None:
        """``market_data`` returns the feed (resolved lazily, on first use);
        ``max_price_move`` is the kernel's ``[runtime] max_price_move`` (0: no band);
        ``account``: the account file this broker stands for (``db_path`` unless the
        broker only validates the configuration on a throwaway database)."""
        self.config = config
        self._account = account or (None if str(db_path) == ":memory:" else db_path)
        self._max_move = Decimal(str(max_price_move))
        self._constraints = config.order_constraints()
        self._marks: dict[str, tuple[Quote, bool]] = {}
        self._judged: dict[tuple[str, datetime], tuple[Bar, bool]] = {}
        self._resolve_market_data = market_data
        self._md: MarketData | None = None
        self._slippage = config.slippage_bps / BPS
        self._commission = config.commission
        self._volume_share = Decimal(str(config.max_volume_share))
        self._lock = threading.RLock()
        self.store = PaperStore(db_path, durable=config.durable)
        with self.store.transaction():
            self.store.init_account(config.cash)
            self._ledger = self.store.load(config.history_cache)
            self._version = self.store.data_version()
        self._settled_at: datetime | None = None
        self._synced_cycle = ""
        if self._ledger.initial_cash != config.cash:
            logger.debug(
                "paper: {} keeps its own starting cash {} (config says {})",
                db_path,
                self._ledger.initial_cash,
                config.cash,
            )

    # -- plumbing --------------------------------------------------------------------------

    def account_key(self) -> tuple[str, str] | None:
        """The account file: two instances on one file are one account."""
        return None if self._account is None else ("paper", str(self._account.resolve()))

    @property
    def market_data(self) -> MarketData:
        if self._md is None:
            self._md = self._resolve_market_data()
        return self._md

    def _sync(self, *, fresh: bool = False) -> None:
        """Reload the account if another process committed since we last looked (after a
        failed transaction, ``_version`` is -1 and the cache of closed orders goes too).
        Within one kernel cycle, reads look once (the cycle reads the account as of its
        first look, as if another process's commit had come just after it); a transaction
        (``fresh``), a call outside a cycle and the first call of a cycle always look."""
        cycle = current_cycle_id()
        if not fresh and cycle and cycle == self._synced_cycle and self._version != -1:
            return
        self._synced_cycle = cycle
        version = self.store.data_version()
        if version != self._version:
            keep = self._ledger if self._version != -1 else None
            self._ledger = self.store.load(self.config.history_cache, keep)
            self._version = version
            self._settled_at = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """A store transaction; on error the memory copy is reloaded before the next use."""
        try:
            with self.store.transaction():
                self._sync(fresh=True)  # decisions must see what other processes committed
                yield
        except BaseException:
            self._version = -1
            raise

    def _refresh(self) -> None:
        self._sync()
        self._settle()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self.store.close()

    # -- settlement ------------------------------------------------------------------------

    def _bars_after(self, symbol: str, after: datetime | None) -> list[tuple[Bar, bool]]:
        """Bars of ``symbol`` newer than ``after``, oldest first (as far as the feed's
        window reaches), each with whether an order may fill on it (:meth:`_fillable`)."""
        md = self.market_data
        latest = md.bars(symbol, 1)
        if not latest or (after is not None and latest[-1].ts <= after):
            return []
        want = 4
        while True:  # the new bars and the two before them (the price band's references)
            bars = md.bars(symbol, want)
            if len(bars) < want or (after is not None and bars[1].ts <= after):
                break
            want *= 4
        return [
            (bar, self._fillable(bar, bars[max(0, i - 2) : i]))
            for i, bar in enumerate(bars)
            if after is None or bar.ts > after
        ]

    def _fillable(self, bar: Bar, before: list[Bar]) -> bool:
        """Whether an order may fill on ``bar``: it passes the kernel's data-quality checks
        on its own (:func:`tradekernel.quality.bar_problem`) and its range is within
        ``[runtime] max_price_move`` of the close of one of the two bars before it."""
        key = (bar.symbol, bar.ts)
        judged = self._judged.get(key)
        if judged is not None and judged[0] is bar:
            return judged[1]
        ok = bar_problem(bar) is None
        if ok:
            references = [b.close for b in before if bar_problem(b) is None]
            ok = band_problem(bar.low, bar.high, references, self._max_move) is None
        if len(self._judged) >= JUDGED_CACHE:  # a cache of recent bars, not a history
            self._judged.clear()
        self._judged[key] = (bar, ok)
        return ok

    def _pending(self) -> list[tuple[datetime, int, Bar, WorkingOrder, bool]]:
        events = []
        for order in self._ledger.open_orders.values():
            for bar, fillable in self._bars_after(order.symbol, order.checked_ts):
                events.append((bar.ts, order.seq, bar, order, fillable))
        events.sort(key=lambda e: (e[0], e[1]))
        return events

    def _settle(self) -> None:
        if not self._ledger.open_orders:
            return
        now = self.market_data.now()
        if now is None or now == self._settled_at:
            return
        events = self._pending()
        if any(self._may_change(order, bar, ok) for _, _, bar, order, ok in events):
            with self._transaction():  # (another process may have settled these already)
                self._apply(self._pending())
        else:
            for _, _, bar, order, _ in events:
                order.checked_ts = bar.ts
        self._settled_at = now

    def _may_change(self, order: WorkingOrder, bar: Bar, fillable: bool) -> bool:
        if order.time_in_force is TimeInForce.IOC:
            return True
        return fillable and fill_price(order, bar, self._slippage) is not None

    def _apply(self, events: list[tuple[datetime, int, Bar, WorkingOrder, bool]]) -> None:
        """Fill (and persist) ``events`` in time order; call inside a transaction."""
        ledger = self._ledger
        volume_left: dict[tuple[str, datetime], Decimal] = {}
        touched: set[str] = set()
        for ts, _, bar, order, fillable in events:
            if not order.open or (order.checked_ts is not None and ts <= order.checked_ts):
                continue
            order.checked_ts = ts
            price = fill_price(order, bar, self._slippage) if fillable else None
            quantity = ZERO
            if price is not None:
                quantity = order.remaining
                if self._volume_share < ONE:
                    key = (bar.symbol, ts)
                    available = volume_left.get(key, bar.volume * self._volume_share)
                    quantity = volume_cap(order, available)
                    volume_left[key] = available - quantity
            changed = False
            if price is not None and quantity > 0:
                self._fill(order, bar, price, quantity)
                touched.add(order.symbol)
                changed = True
            if order.time_in_force is TimeInForce.IOC and order.open:
                order.status = OrderStatus.CANCELLED
                order.reason = "ioc: remainder cancelled"
                order.updated_at = ts
                ledger.close_order(order)
                changed = True
            if changed:
                order.touch()
                self.store.save_order(order)
        if touched:
            self.store.save_account(ledger, touched)

    def _fill(self, order: WorkingOrder, bar: Bar, price: Decimal, quantity: Decimal) -> None:
        ledger = self._ledger
        commission = quantity * price * self._commission
        order.fill_count += 1
        fill = Fill(
            fill_id=f"{order.client_order_id}-{order.fill_count}",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=quantity,
            price=price,
            ts=bar.ts,
            commission=commission,
            broker_order_id=order.broker_order_id,
        )
        before = order.filled_quantity
        order.filled_quantity = before + quantity
        paid = (order.avg_fill_price or ZERO) * before + price * quantity
        order.avg_fill_price = paid / order.filled_quantity
        order.updated_at = bar.ts
        if order.filled_quantity >= order.quantity:
            order.status = OrderStatus.FILLED
            ledger.close_order(order)
        else:
            order.status = OrderStatus.PARTIAL_FILL
        ledger.apply_fill(order.symbol, order.side, quantity, price, commission)
        ledger.add_fill(fill)
        self.store.save_fill(fill, ledger.fill_seq)
        logger.debug(
            "paper: fill {} {} {} {} @ {} (commission {})",
            fill.fill_id,
            order.side,
            quantity,
            order.symbol,
            price,
            commission,
        )

    # -- Broker protocol -------------------------------------------------------------------

    def order_constraints(self, symbol: str) -> OrderConstraints:
        """What this broker accepts (``[broker.paper]`` ``min_quantity``,
        ``quantity_increment``, ``min_notional``, ``price_tick``; the same for every symbol)."""
        return self._constraints

    def submit(self, request: OrderRequest) -> Order:
        """Accept ``request`` or raise ``BrokerRejected``. Idempotent on client order id: a
        resubmit returns the existing order (or raises the same rejection again)."""
        with self._lock:
            self._refresh()
            existing = self._ledger.get(request.client_order_id)
            if existing is None:
                with self._transaction():
                    self._settle()
                    # every open order is in memory now; an older, closed one is on disk
                    existing = self._ledger.get(request.client_order_id) or self.store.order(
                        request.client_order_id
                    )
                    if existing is None:
                        existing = self._new_order(request)
                        existing.seq = self._ledger.next_seq
                        self._ledger.add_order(existing)
                        self.store.save_order(existing)
                        self._log_new(existing)
            if existing.status is OrderStatus.REJECTED:
                raise BrokerRejected(existing.reason or "rejected", existing.code or "rejected")
            return existing.snapshot()

    def _new_order(self, request: OrderRequest) -> WorkingOrder:
        md = self.market_data
        now = md.now()
        order = WorkingOrder(
            client_order_id=request.client_order_id,
            seq=0,
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            time_in_force=request.time_in_force,
            status=OrderStatus.WORKING,
            ref_ts=now,
            intent_id=request.intent_id,
            submitted_at=now or utcnow(),
            updated_at=now or utcnow(),
            checked_ts=now,
        )
        rejection = self._check(request, order)
        if rejection is not None:
            order.code, order.reason = rejection
            order.status = OrderStatus.REJECTED
        return order

    def _check(self, request: OrderRequest, order: WorkingOrder) -> tuple[str, str] | None:
        """``(code, reason)`` when the order must be rejected; sets ``order.est_price``."""
        qty = request.quantity
        if not qty.is_finite() or qty <= 0 or qty > MAX_QUANTITY:
            return (
                "bad_quantity",
                f"quantity must be a positive number up to {MAX_QUANTITY:,.0f}, got {qty}",
            )
        c = self._constraints
        if qty < c.min_quantity or not _multiple(qty, c.quantity_increment):
            return (
                "bad_quantity",
                f"quantity {qty} is not a multiple of {c.quantity_increment} of at least "
                f"{c.min_quantity} ([broker.paper] quantity_increment, min_quantity)",
            )
        if request.order_type is OrderType.LIMIT:
            limit = request.limit_price
            if limit is None or not limit.is_finite() or not 0 < limit <= MAX_PRICE:
                return (
                    "bad_limit_price",
                    f"a limit order needs a positive limit price up to {MAX_PRICE:,.0f}, "
                    f"got {limit}",
                )
            if c.price_tick and not _multiple(limit, c.price_tick):
                return (
                    "bad_limit_price",
                    f"limit price {limit} is not a multiple of {c.price_tick} "
                    "([broker.paper] price_tick)",
                )
        md = self.market_data
        if c.min_notional and (rejection := self._below_min_notional(request)) is not None:
            return rejection
        if request.symbol not in md.symbols():
            return "unknown_symbol", f"{request.symbol} is not traded by the market data feed"
        ledger = self._ledger
        if request.side is Side.BUY:
            quote = md.quote(request.symbol)
            if request.order_type is OrderType.LIMIT:
                estimate = request.limit_price
            elif quote is None or self._mark(request.symbol) is None:
                return "no_price", f"{request.symbol} has no usable quote to price a market buy"
            else:
                estimate = (quote.ask or quote.last) * (ONE + self._slippage)
            order.est_price = estimate
            cost = qty * estimate * (ONE + self._commission)  # type: ignore[operator]
            available = ledger.cash - ledger.reserved_cash(self._commission)
            if cost > available:
                return (
                    "insufficient_cash",
                    f"buying {qty} {request.symbol} needs about {cost:.2f}, "
                    f"{max(available, ZERO):.2f} is available",
                )
        elif not self.config.allow_short:
            held = ledger.positions.get(request.symbol)
            free = (held.quantity if held else ZERO) - ledger.reserved_sells(request.symbol)
            if qty > free:
                return (
                    "insufficient_position",
                    f"selling {qty} {request.symbol} but only {max(free, ZERO)} is held "
                    "(net of working sells) and short selling is off",
                )
        return None

    def _below_min_notional(self, request: OrderRequest) -> tuple[str, str] | None:
        """``below_min_notional`` when quantity x price (the limit, else the last price)
        is below ``min_notional``; a sell of the whole position may close it anyway."""
        c = self._constraints
        price = request.limit_price if request.order_type is OrderType.LIMIT else None
        if price is None:
            quote = self.market_data.quote(request.symbol)
            price = quote.last if quote is not None else None
        if price is None or not price.is_finite():
            return None  # no price to judge by: the checks below refuse what needs one
        held = self._ledger.positions.get(request.symbol)
        if request.side is Side.SELL and held is not None and request.quantity == held.quantity:
            return None
        notional = request.quantity * price
        if notional < c.min_notional:
            return (
                "below_min_notional",
                f"{request.quantity} x {price} = {notional} is below the minimum notional "
                f"{c.min_notional} ([broker.paper] min_notional)",
            )
        return None

    def _log_new(self, order: WorkingOrder) -> None:
        if order.status is OrderStatus.REJECTED:
            logger.debug(
                "paper: rejected {} ({}): {}", order.client_order_id, order.code, order.reason
            )
        else:
            logger.debug(
                "paper: accepted {} {} {} {} {}",
                order.client_order_id,
                order.side,
                order.quantity,
                order.symbol,
                order.order_type,
            )

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client order id (rejected ones included), or ``None``."""
        with self._lock:
            self._refresh()
            order = self._find(client_order_id)
            return order.snapshot() if order else None

    def known_client_order_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` client order ids starting with ``prefix`` that this account
        holds orders for (any status): the runtime's check that a fresh state store is
        not adopted next to an account it traded in."""
        with self._lock:
            return self.store.client_order_ids(prefix, limit)

    def _find(self, client_order_id: str) -> WorkingOrder | None:
        """The order from memory, else (an older, closed order) from disk."""
        order = self._ledger.get(client_order_id)
        return order if order is not None else self.store.order(client_order_id)

    def cancel(self, client_order_id: str) -> Order | None:
        """Cancel a working order (fills due before now are applied first). A terminal
        order is returned unchanged; an unknown id gives ``None``."""
        with self._lock:
            self._refresh()
            order = self._ledger.open_orders.get(client_order_id)
            if order is None:
                order = self._find(client_order_id)
                return order.snapshot() if order else None
            with self._transaction():
                # (re-read: another process may have filled or cancelled it meanwhile)
                order = self._ledger.open_orders.get(client_order_id)
                if order is None:
                    order = self._find(client_order_id)
                    return order.snapshot() if order else None
                if order.open:
                    order.status = OrderStatus.CANCELLED
                    order.reason = "cancelled"
                    order.updated_at = self.market_data.now() or utcnow()
                    order.touch()
                    self._ledger.close_order(order)
                    self.store.save_order(order)
                    logger.debug("paper: cancelled {}", client_order_id)
            return order.snapshot()

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """Every order in submission order (only working ones with ``open_only``)."""
        with self._lock:
            self._refresh()
            ledger = self._ledger
            if open_only:
                return [o.snapshot() for o in sorted(ledger.open_orders.values(), key=_seq)]
            # the history is on disk; orders held in memory answer for themselves
            return [(ledger.get(o.client_order_id) or o).snapshot() for o in self.store.orders()]

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Every fill in execution order, or those of one order."""
        with self._lock:
            self._refresh()
            ledger = self._ledger
            if client_order_id is None:
                return self.store.fills()
            if ledger.get(client_order_id) is not None:
                return list(ledger.fills_by_order.get(client_order_id, ()))
            return self.store.fills(client_order_id)

    def positions(self) -> list[Position]:
        """Open positions, valued at the feed's latest quote."""
        with self._lock:
            self._refresh()
            return [
                Position(
                    symbol=s, quantity=h.quantity, avg_price=h.avg_price, market_price=self._mark(s)
                )
                for s, h in sorted(self._ledger.positions.items())
            ]

    def account(self) -> Account:
        """Cash, equity (cash + positions at the latest quotes) and realized P&L (net of
        commissions)."""
        with self._lock:
            self._refresh()
            ledger = self._ledger
            equity = ledger.cash
            for symbol, held in ledger.positions.items():
                mark = self._mark(symbol)
                equity += held.quantity * (mark if mark is not None else held.avg_price)
            return Account(cash=ledger.cash, equity=equity, realized_pnl=ledger.realized_pnl)

    def _mark(self, symbol: str) -> Decimal | None:
        """The price positions are valued at: the latest quote's last, unless that quote
        is impossible (then ``None``: the average price stands in)."""
        quote = self.market_data.quote(symbol)
        if quote is None:
            return None
        judged = self._marks.get(symbol)
        if judged is None or judged[0] is not quote:  # feeds hand out one quote per bar
            judged = self._marks[symbol] = (quote, quote_problem(quote) is None)
        return quote.last if judged[1] else None

    @property
    def initial_cash(self) -> Decimal:
        """The account's starting cash."""
        return self._ledger.initial_cash

    def describe(self) -> dict[str, Any]:
        """A small summary for diagnostics."""
        with self._lock:
            return {
                "db": str(self.store.path),
                "orders": self.store.count("orders"),
                "open_orders": len(self._ledger.open_orders),
                "cached_orders": len(self._ledger.recent),
                "fills": self.store.count("fills"),
            }
