"""tradekernel market data feeds: ``synthetic`` (seeded generator) and ``replay`` (CSV)."""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl

from .feed import BarFeed
from .replay import ReplayConfig, ReplayFeed
from .synthetic import SyntheticConfig, SyntheticFeed

__all__ = ["BarFeed", "ReplayConfig", "ReplayFeed", "SyntheticConfig", "SyntheticFeed"]


def _resumable(feed: BarFeed, config: Any, ctx: Any, name: str) -> BarFeed:
    if config.resume and not getattr(ctx, "check_only", False):
        ctx.state_dir.mkdir(parents=True, exist_ok=True)
        feed.resume_from(ctx.state_dir / f"market_data.{name}.json")
    return feed


def _synthetic(config: SyntheticConfig, ctx: Any) -> BarFeed:
    """Seeded, deterministic synthetic bars with trending regimes."""
    return _resumable(SyntheticFeed(config), config, ctx, "synthetic")


def _replay(config: ReplayConfig, ctx: Any) -> BarFeed:
    """OHLCV CSV files (Yahoo-style) replayed bar by bar."""
    return _resumable(ReplayFeed(config), config, ctx, "replay")


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
