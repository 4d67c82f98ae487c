"""A scripted market data feed and a broker factory for the paper broker tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tradekernel.api import Bar, Quote
from tradekernel_paper import PaperBroker, PaperConfig

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


class ScriptedFeed:
    """A MarketData feed over hand-written bars: ``bars[symbol] = [(o, h, l, c, v), ...]``,
    one per day starting at T0 (``None`` for a day without a bar)."""

    def __init__(self, script: dict[str, list[tuple | None]]) -> None:
        self.script = script
        self.index = -1
        self.length = max(len(rows) for rows in script.values())

    def symbols(self) -> list[str]:
        return list(self.script)

    def now(self) -> datetime | None:
        return day(self.index) if self.index >= 0 else None

    def advance(self) -> datetime | None:
        if self.index + 1 >= self.length:
            return None
        self.index += 1
        return self.now()

    def _bar(self, symbol: str, i: int) -> Bar | None:
        rows = self.script.get(symbol, [])
        if i >= len(rows) or rows[i] is None:
            return None
        o, h, lo, c, v = rows[i]
        return Bar(symbol=symbol, ts=day(i), open=o, high=h, low=lo, close=c, volume=v)

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        out = [b for i in range(self.index + 1) if (b := self._bar(symbol, i))]
        return out[-limit:] if limit > 0 else []

    def current_bar(self, symbol: str) -> Bar | None:
        return self._bar(symbol, self.index) if self.index >= 0 else None

    def quote(self, symbol: str) -> Quote | None:
        bars = self.bars(symbol, 1)
        if not bars:
            return None
        return Quote(symbol=symbol, ts=bars[-1].ts, last=bars[-1].close)


def flat(price: float | str, n: int, volume: int = 1_000_000) -> list[tuple]:
    """``n`` identical bars at ``price``."""
    return [(price, price, price, price, volume)] * n


class Kit:
    """What the tests need, handed out by the ``kit`` fixture (test modules cannot import
    conftest under --import-mode=importlib)."""

    T0 = T0
    ScriptedFeed = ScriptedFeed
    day = staticmethod(day)
    flat = staticmethod(flat)

    def __init__(self, db: Path) -> None:
        self.db = db
        self.made: list[PaperBroker] = []

    def broker(self, feed: ScriptedFeed, **config) -> PaperBroker:
        """A paper broker on ``feed`` with the test's database (same file every call)."""
        broker = PaperBroker(PaperConfig(**config), lambda: feed, self.db)
        self.made.append(broker)
        return broker


@pytest.fixture
def kit(tmp_path: Path):
    k = Kit(tmp_path / "state" / "paper.db")
    yield k
    for broker in k.made:
        broker.close()
