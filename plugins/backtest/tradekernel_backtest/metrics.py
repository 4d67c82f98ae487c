"""Streaming performance metrics: every figure is aggregated bar by bar, so memory stays
flat however many bars a backtest replays. Definitions are in docs/backtest.md."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from attrs import define, field

ZERO = Decimal(0)
DAY = 86400.0
INTERVAL_SAMPLE = 64
"""Bar intervals looked at to infer the annualization factor."""


def periods_per_year(interval: timedelta) -> float:
    """Bars per year for bars ``interval`` apart: 252 for daily (a session a day), 52
    weekly, 12 monthly; intraday bars count 6.5 trading hours a day on 252 days."""
    seconds = interval.total_seconds()
    if seconds <= 0:
        return 252.0
    days = seconds / DAY
    if days >= 25:
        return 12.0
    if days >= 5:
        return 52.0
    if days >= 0.75:
        return 252.0
    return 252.0 * 6.5 * 3600 / seconds


@define
class EquityStats:
    """Bar-by-bar equity statistics (returns, drawdown, exposure)."""

    initial: float
    bars: int = 0
    final: float = 0.0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    _prev: float = 0.0
    _mean: float = 0.0
    _m2: float = 0.0
    _down_sq: float = 0.0
    _peak: float = 0.0
    _peak_ts: datetime | None = None
    _peak_bar: int = 0
    max_drawdown: float = 0.0
    dd_bars: int = 0
    dd_days: float = 0.0
    exposed_bars: int = 0
    _intervals: list[float] = field(factory=list)

    def __attrs_post_init__(self) -> None:
        self._prev = self._peak = self.final = self.initial

    def add(self, ts: datetime, equity: float, exposed: bool) -> None:
        """Account for one bar: the equity after the bar and whether a position was open."""
        if self.last_ts is not None and len(self._intervals) < INTERVAL_SAMPLE:
            self._intervals.append((ts - self.last_ts).total_seconds())
        if self.first_ts is None:
            self.first_ts = self._peak_ts = ts
        self.bars += 1
        r = equity / self._prev - 1.0 if self._prev else 0.0
        delta = r - self._mean  # Welford's running mean and variance
        self._mean += delta / self.bars
        self._m2 += delta * (r - self._mean)
        if r < 0:
            self._down_sq += r * r
        self._prev = self.final = equity
        self.last_ts = ts
        if exposed:
            self.exposed_bars += 1
        if equity >= self._peak:
            self._peak, self._peak_ts, self._peak_bar = equity, ts, self.bars
        else:
            self.max_drawdown = max(self.max_drawdown, (self._peak - equity) / self._peak)
            under = self.bars - self._peak_bar
            if under > self.dd_bars:
                self.dd_bars = under
                self.dd_days = (ts - self._peak_ts).total_seconds() / DAY  # type: ignore[operator]

    @property
    def periods_per_year(self) -> float:
        if not self._intervals:
            return 252.0
        return periods_per_year(timedelta(seconds=statistics.median(self._intervals)))

    def summary(self, periods: float | None = None) -> dict[str, Any]:
        p = periods or self.periods_per_year
        n = self.bars
        std = math.sqrt(self._m2 / (n - 1)) if n > 1 else 0.0
        downside = math.sqrt(self._down_sq / n) if n else 0.0
        growth = self.final / self.initial if self.initial else 0.0
        years = n / p if p else 0.0
        cagr = growth ** (1 / years) - 1 if years > 0 and growth > 0 else None
        return {
            "bars": n,
            "start": self.first_ts.isoformat() if self.first_ts else None,
            "end": self.last_ts.isoformat() if self.last_ts else None,
            "periods_per_year": round(p, 4),
            "initial_equity": self.initial,
            "final_equity": round(self.final, 6),
            "total_return": growth - 1,
            "cagr": cagr,
            "annual_volatility": std * math.sqrt(p),
            "sharpe": self._mean / std * math.sqrt(p) if std > 0 else None,
            "sortino": self._mean / downside * math.sqrt(p) if downside > 0 else None,
            "max_drawdown": self.max_drawdown,
            "max_drawdown_duration_bars": self.dd_bars,
            "max_drawdown_duration_days": round(self.dd_days, 6),
            "exposure": self.exposed_bars / n if n else 0.0,
        }


@define
class OpenTrade:
    symbol: str
    direction: int
    """1 long, -1 short."""
    entry_ts: datetime
    entry_bar: int
    quantity: Decimal = ZERO
    """Signed open quantity."""
    bought: Decimal = ZERO
    """Cash paid for buys (quantity x price) during the trade."""
    sold: Decimal = ZERO
    bought_qty: Decimal = ZERO
    sold_qty: Decimal = ZERO
    commission: Decimal = ZERO
    max_quantity: Decimal = ZERO


@define
class TradeBook:
    """Turns fills into round trips: a trade opens when a symbol's position leaves zero and
    closes when it returns to zero (a fill that flips the position closes one trade and
    opens the next with the rest). ``on_trade`` receives every closed trade as a row."""

    on_trade: Callable[[dict[str, Any]], None] | None = None
    open: dict[str, OpenTrade] = field(factory=dict)
    closed: int = 0
    wins: int = 0
    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO
    pnl_sum: Decimal = ZERO
    commissions: Decimal = ZERO
    fills: int = 0

    def fill(
        self,
        *,
        symbol: str,
        side: str,
        quantity: Decimal,
        price: Decimal,
        commission: Decimal,
        ts: datetime,
        bar: int,
    ) -> None:
        """Account for one fill (``side`` is ``buy`` or ``sell``)."""
        self.fills += 1
        self.commissions += commission
        signed = quantity if side == "buy" else -quantity
        trade = self.open.get(symbol)
        if trade is None:
            trade = self.open[symbol] = OpenTrade(symbol, 1 if signed > 0 else -1, ts, bar)
        after = trade.quantity + signed
        if after != 0 and (after > 0) != (trade.direction > 0):  # flips through zero
            closing = abs(trade.quantity)
            share = closing / quantity
            self._leg(trade, signed * share, price, commission * share)
            self._close(trade, ts, bar, price)
            rest = OpenTrade(symbol, 1 if after > 0 else -1, ts, bar)
            self.open[symbol] = rest
            self._leg(rest, after, price, commission * (1 - share))
            return
        self._leg(trade, signed, price, commission)
        if trade.quantity == 0:
            self._close(trade, ts, bar, price)

    @staticmethod
    def _leg(trade: OpenTrade, signed: Decimal, price: Decimal, commission: Decimal) -> None:
        if signed > 0:
            trade.bought += signed * price
            trade.bought_qty += signed
        else:
            trade.sold -= signed * price
            trade.sold_qty -= signed
        trade.quantity += signed
        trade.commission += commission
        trade.max_quantity = max(trade.max_quantity, abs(trade.quantity))

    def _close(self, trade: OpenTrade, ts: datetime, bar: int, price: Decimal) -> None:
        del self.open[trade.symbol]
        pnl = trade.sold - trade.bought - trade.commission
        self.closed += 1
        self.pnl_sum += pnl
        if pnl > 0:
            self.wins += 1
            self.gross_profit += pnl
        elif pnl < 0:
            self.gross_loss -= pnl
        if self.on_trade is not None:
            self.on_trade(_row(trade, "closed", pnl, ts, bar))

    def open_rows(self, marks: dict[str, Decimal], ts: datetime | None, bar: int) -> list[dict]:
        """Rows for the trades still open, valued at ``marks`` (the last close)."""
        rows = []
        for trade in self.open.values():
            mark = marks.get(trade.symbol)
            if mark is None:
                continue
            # value the open quantity as if sold (long) or bought back (short) at the mark
            value = trade.quantity * mark
            pnl = trade.sold - trade.bought + value - trade.commission
            rows.append(_row(trade, "open", pnl, ts, bar, exit_price=mark))
        return rows

    def summary(self) -> dict[str, Any]:
        n = self.closed
        return {
            "trades": n,
            "win_rate": self.wins / n if n else None,
            "average_trade": float(self.pnl_sum / n) if n else None,
            "profit_factor": float(self.gross_profit / self.gross_loss)
            if self.gross_loss
            else None,
            "gross_profit": float(self.gross_profit),
            "gross_loss": float(self.gross_loss),
            "commissions": float(self.commissions),
            "fills": self.fills,
            "open_trades": len(self.open),
        }


TRADE_COLUMNS = (
    "symbol",
    "direction",
    "status",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "quantity",
    "bars_held",
    "commission",
    "pnl",
    "return_pct",
)


def _row(
    trade: OpenTrade,
    status: str,
    pnl: Decimal,
    ts: datetime | None,
    bar: int,
    *,
    exit_price: Decimal | None = None,
) -> dict[str, Any]:
    long = trade.direction > 0
    entry_qty, exit_qty = (
        (trade.bought_qty, trade.sold_qty) if long else (trade.sold_qty, trade.bought_qty)
    )
    entry_cash, exit_cash = (trade.bought, trade.sold) if long else (trade.sold, trade.bought)
    entry_price = entry_cash / entry_qty if entry_qty else None
    if exit_price is None and exit_qty:
        exit_price = exit_cash / exit_qty
    return {
        "symbol": trade.symbol,
        "direction": "long" if long else "short",
        "status": status,
        "entry_ts": trade.entry_ts.isoformat(),
        "entry_price": _num(entry_price),
        "exit_ts": ts.isoformat() if ts else None,
        "exit_price": _num(exit_price),
        "quantity": _num(trade.max_quantity),
        "bars_held": bar - trade.entry_bar,
        "commission": _num(trade.commission),
        "pnl": _num(pnl),
        "return_pct": float(pnl / entry_cash * 100) if entry_cash else None,
    }


def _num(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.quantize(Decimal("0.000001")).normalize(), "f")
