from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tradekernel.api import Bar, Position, StrategyInput

START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def make_bars(symbol: str, closes: list) -> list[Bar]:
    """Daily bars, oldest first, with the given closes."""
    return [
        Bar(symbol=symbol, ts=START + timedelta(days=i), open=c, high=c, low=c, close=c)
        for i, c in enumerate(closes)
    ]


def make_input(
    bars: dict[str, list[Bar]],
    *,
    positions: dict[str, Decimal | int] | None = None,
    candidates: list[str] | None = None,
) -> StrategyInput:
    as_of = max((b[-1].ts for b in bars.values() if b), default=START)
    return StrategyInput(
        cycle_id="c1",
        as_of=as_of,
        candidates=list(bars) if candidates is None else candidates,
        skill_results={},
        bars=bars,
        positions={
            s: Position(symbol=s, quantity=q, avg_price=10) for s, q in (positions or {}).items()
        },
    )


@pytest.fixture
def bars_for():
    return make_bars


@pytest.fixture
def input_for():
    return make_input
