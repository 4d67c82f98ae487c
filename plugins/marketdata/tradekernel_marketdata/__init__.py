"""tradekernel market data feeds: ``synthetic`` (seeded generator) and ``replay`` (CSV)."""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl

from .feed import BarFeed
from .replay import ReplayConfig, ReplayFeed
from .synthetic import SyntheticConfig, SyntheticFeed

__all__ = ["BarFeed", "ReplayConfig", "ReplayFeed", "SyntheticConfig", "SyntheticFeed"]


def _synthetic(config: SyntheticConfig, ctx: Any) -> SyntheticFeed:
    """Seeded, deterministic synthetic bars with trending regimes."""
    return SyntheticFeed(config)


def _replay(config: ReplayConfig, ctx: Any) -> ReplayFeed:
    """OHLCV CSV files (Yahoo-style) replayed bar by bar."""
    return ReplayFeed(config)


@hookimpl
def register_market_data(register):
    register(
        "synthetic",
        _synthetic,
        config=SyntheticConfig,
        version="1",
        description="Seeded, deterministic synthetic bars with trending regimes",
    )
    register(
        "replay",
        _replay,
        config=ReplayConfig,
        version="1",
        description="Yahoo-style OHLCV CSV files replayed bar by bar",
    )
