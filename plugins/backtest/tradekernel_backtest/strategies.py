"""Each strategy's numbers in a backtest of several strategies, and the portfolio's.

The books are the kernel's per-strategy ledger over the backtest's own store (a fill is
attributed to its intent's strategy, a netted order split by the recorded shares, lots
closed first in, first out per strategy; docs/portfolio.md), kept up to date after every
bar. Each strategy gets:

* an equity curve, ``capital + P&L`` at the bar's prices, from which its return, Sharpe,
  Sortino, drawdown and exposure follow (the same :class:`~.metrics.EquityStats` as the
  account's); ``capital`` is its budget at the start (``amount``, or ``fraction`` of the
  starting equity), the account's starting equity without a budget;
* round trips from its own parts of the fills (:class:`~.metrics.TradeBook`);
* realized and unrealized P&L and commissions from the ledger at the end, marked at the
  prices the broker values the account with, so the strategies' P&L and commissions add
  up to the account's exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradekernel.api import UNATTRIBUTED, Fill, Part, StoreLedger, StrategyLedger

from .metrics import EquityStats, TradeBook

ZERO = Decimal(0)


def starting_capital(settings: Any, names: list[str], initial: Decimal) -> dict[str, Decimal]:
    """Each strategy's capital at the start: its budget's ``amount``, or ``fraction`` of
    the starting equity; the starting equity for a strategy without a budget."""
    out: dict[str, Decimal] = {}
    budgets = settings.portfolio.budgets
    for name in names:
        budget = budgets.get(name)
        if budget is None:
            out[name] = initial
        elif budget.amount is not None:
            out[name] = Decimal(str(budget.amount))
        else:
            out[name] = initial * Decimal(str(budget.fraction))
    return out


class StrategyBooks:
    """Per-strategy books, equity statistics and round trips over one backtest."""

    def __init__(self, store: Any, capital: Mapping[str, Decimal]) -> None:
        self.capital = dict(capital)
        self.names = list(capital)
        self.stats = {n: EquityStats(float(c)) for n, c in self.capital.items()}
        self.trades = {n: TradeBook() for n in self.names}
        self._source = StoreLedger(store, on_fill=self._on_fill)
        self._bar = 0
        self._ts: datetime | None = None

    def _on_fill(self, fill: Fill, parts: dict[str, Part]) -> None:
        for name, part in parts.items():
            if part.quantity == 0 and part.commission == 0:
                continue
            book = self.trades.get(name)
            if book is None:  # a strategy of an older configuration, or unattributed
                book = self.trades[name] = TradeBook()
            book.fill(
                symbol=fill.symbol,
                side=str(part.side),
                quantity=part.quantity,
                price=fill.price,
                commission=part.commission,
                ts=self._ts or fill.ts,
                bar=self._bar,
            )

    @property
    def ledger(self) -> StrategyLedger:
        return self._source.current()

    def bar(self, ts: datetime, bar: int, prices: Mapping[str, Decimal]) -> None:
        """Book the fills recorded so far and add one bar to every strategy's curve."""
        self._bar, self._ts = bar, ts
        ledger = self.ledger
        for name in self.names:
            book = ledger.books.get(name)
            pnl = book.pnl(prices) if book is not None else ZERO
            exposed = book is not None and bool(book.positions())
            self.stats[name].add(ts, float(self.capital[name] + pnl), exposed)

    def summary(
        self, marks: Mapping[str, Decimal], periods: float | None, llm: Mapping[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """``(strategies, portfolio)``: each strategy's numbers, marked at ``marks``, and
        their sums (P&L, realized, unrealized and commissions as exact decimal text)."""
        ledger = self.ledger
        report = ledger.report(marks)
        books = {row["strategy"]: row for row in report["strategies"]}
        out: dict[str, dict[str, Any]] = {}
        names = [*self.names, *(n for n in sorted(books) if n not in self.names)]
        for name in names:
            row = books.get(name) or _empty(name)
            stats = self.stats.get(name)
            trades = self.trades.get(name) or TradeBook()
            numbers: dict[str, Any] = {
                "capital": str(self.capital.get(name, ZERO)),
                **({} if stats is None else stats.summary(periods)),
                **trades.summary(),
                "realized_pnl": row["realized_pnl"],
                "unrealized_pnl": row["unrealized_pnl"],
                "commissions": row["commissions"],
                "pnl": row["pnl"],
                "gross_exposure": row["gross_exposure"],
                "net_exposure": row["net_exposure"],
                "positions": row["positions"],
                **(llm.get(name) or _no_llm()),
            }
            for key in ("initial_equity", "bars", "start", "end", "periods_per_year"):
                numbers.pop(key, None)  # the run's, not the strategy's
            n = numbers.get("trades") or 0
            cost = Decimal(row["commissions"]) + Decimal(str(numbers["llm_cost_usd"]))
            numbers["cost_per_trade"] = float(cost / n) if n else None
            if name == UNATTRIBUTED:
                numbers["capital"] = None
            out[name] = numbers
        return out, report["portfolio"]


def _empty(name: str) -> dict[str, Any]:
    return {
        "strategy": name,
        "realized_pnl": "0",
        "unrealized_pnl": "0",
        "commissions": "0",
        "pnl": "0",
        "gross_exposure": "0",
        "net_exposure": "0",
        "positions": {},
    }


def _no_llm() -> dict[str, Any]:
    return {
        "llm_calls": 0,
        "llm_tokens": 0,
        "llm_cost_usd": 0.0,
        "llm_fallbacks": 0,
        "llm_fallback_rate": None,
    }


def cycle_prices(state: Any) -> dict[str, Decimal]:
    """A cycle's price per symbol: its quote's last, else its last bar's close (the
    prices the budget step reads)."""
    prices = {symbol: bars[-1].close for symbol, bars in state.bars.items() if bars}
    prices.update({symbol: quote.last for symbol, quote in state.quotes.items()})
    return prices
