"""tradekernel paper broker: simulated fills against the market data feed, SQLite account."""

from __future__ import annotations

from pathlib import Path

from tradekernel import hookimpl
from tradekernel.components import ComponentContext

from .broker import PaperBroker
from .config import PaperConfig

__all__ = ["PaperBroker", "PaperConfig", "build"]


def build(config: PaperConfig | None, ctx: ComponentContext) -> PaperBroker:
    """Simulated broker: next-bar fills, commission, slippage, SQLite account."""
    config = config or PaperConfig()
    db = Path(config.db).expanduser()
    if not db.is_absolute():
        db = Path(ctx.state_dir) / db
    if getattr(ctx, "check_only", False):
        # validating only: an account created now would fix its starting cash for good
        db = Path(":memory:")
    runtime = getattr(ctx.settings, "runtime", None)
    return PaperBroker(
        config,
        lambda: ctx.resolve("market_data"),
        db,
        max_price_move=getattr(runtime, "max_price_move", 1.0),
    )


@hookimpl
def register_brokers(register):
    register(
        "paper",
        build,
        config=PaperConfig,
        version="1",
        description="Simulated broker: next-bar fills, commission, slippage, SQLite account",
    )
