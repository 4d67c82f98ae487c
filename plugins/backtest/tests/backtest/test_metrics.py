"""Streaming metrics: round trips from fills (including flips) and annualization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tradekernel_backtest import EquityStats, TradeBook, periods_per_year

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def fill(book: TradeBook, side: str, qty: int, price: str, bar: int, commission: str = "0"):
    book.fill(
        symbol="AAA",
        side=side,
        quantity=Decimal(qty),
        price=Decimal(price),
        commission=Decimal(commission),
        ts=T0 + timedelta(days=bar),
        bar=bar,
    )


def test_round_trips_scale_in_and_flip():
    rows = []
    book = TradeBook(on_trade=rows.append)
    fill(book, "buy", 5, "10", 1, "0.5")
    fill(book, "buy", 5, "12", 2, "0.5")  # adds to the long
    fill(book, "sell", 15, "13", 3, "1.5")  # closes 10 long, opens 5 short
    assert book.closed == 1
    assert rows[0]["pnl"] == "18"  # 10*13 - (50+60) - (0.5+0.5+1.0)
    assert rows[0]["entry_price"] == "11" and rows[0]["bars_held"] == 2
    fill(book, "buy", 5, "14", 4)  # covers the short at a loss
    assert book.closed == 2 and rows[1]["direction"] == "short"
    assert Decimal(rows[1]["pnl"]) == Decimal("-5.5")  # 5*13 - 5*14 - 0.5
    s = book.summary()
    assert (s["trades"], s["win_rate"], s["profit_factor"]) == (2, 0.5, pytest.approx(18 / 5.5))
    assert s["commissions"] == pytest.approx(2.5)


def test_open_trade_valued_at_mark():
    book = TradeBook()
    fill(book, "buy", 10, "20", 1, "0.2")
    (row,) = book.open_rows({"AAA": Decimal("25")}, T0, 5)
    assert row["status"] == "open" and Decimal(row["pnl"]) == Decimal("49.8")


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (timedelta(days=1), 252),
        (timedelta(days=3), 252),
        (timedelta(days=7), 52),
        (timedelta(days=30), 12),
        (timedelta(hours=1), 252 * 6.5),
        (timedelta(minutes=1), 98280),
    ],
)
def test_periods_per_year(interval, expected):
    assert periods_per_year(interval) == pytest.approx(expected)


def test_drawdown_duration_and_flat_equity():
    stats = EquityStats(100.0)
    for i, e in enumerate([100, 110, 99, 105, 108, 111, 90]):
        stats.add(T0 + timedelta(days=i), float(e), exposed=i % 2 == 0)
    s = stats.summary()
    assert s["max_drawdown"] == pytest.approx((111 - 90) / 111)
    assert s["max_drawdown_duration_bars"] == 3  # below 110 for bars 3..5
    assert s["exposure"] == pytest.approx(4 / 7)
    flat = EquityStats(100.0)
    for i in range(3):
        flat.add(T0 + timedelta(days=i), 100.0, exposed=False)
    assert flat.summary()["sharpe"] is None and flat.summary()["sortino"] is None
