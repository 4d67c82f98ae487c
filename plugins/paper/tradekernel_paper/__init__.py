"""tradekernel paper broker: simulated fills against the market data feed, SQLite account."""

from __future__ import annotations

from pathlib import Path

from loguru import logger
from tradekernel import hookimpl
from tradekernel.api import ComponentContext, ConfigError

from .broker import PaperBroker
from .config import PaperConfig

__all__ = ["PaperBroker", "PaperConfig", "build"]

DURABLE = ("broker", "paper", "durable")


def build(config: PaperConfig | None, ctx: ComponentContext) -> PaperBroker:
    """Simulated broker: next-bar fills, commission, slippage, SQLite account."""
    config = config or PaperConfig()
    db = Path(config.db).expanduser()
    if not db.is_absolute():
        db = Path(ctx.state_dir) / db
    _check_db_path(db, ctx)
    name = getattr(ctx, "name", None) or "paper"  # an instance: its own section
    if not config.durable and ctx.settings.source_of("broker", name, "durable") != "cli:backtest":
        logger.warning(
            "{}: [broker.{}] durable = false: the paper account is written without "
            "fsync, so a power loss can lose orders the state store says were sent "
            "(meant for a backtest's own state only)",
            ctx.settings.where("broker", name, "durable"),
            name,
        )
    account = db.resolve()  # what two instances must not share
    if getattr(ctx, "check_only", False):
        # validating only: an account created now would fix its starting cash for good
        db = Path(":memory:")
    runtime = getattr(ctx.settings, "runtime", None)
    return PaperBroker(
        config,
        lambda: ctx.resolve("market_data"),
        db,
        max_price_move=getattr(runtime, "max_price_move", 1.0),
        account=account,
    )


def _check_db_path(db: Path, ctx: ComponentContext) -> None:
    """``config check`` and ``run`` refuse a ``db`` that cannot be the account file (a
    directory, or a path under a file) before anything is written."""
    settings = ctx.settings
    name = getattr(ctx, "name", None) or "paper"  # an instance: [broker.<its name>]
    where = settings.where("broker", name, "db") if hasattr(settings, "where") else ""
    prefix = f"{where}: " if where else ""

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"{prefix}[broker.{name}] db: {db} {why}")

    if db.is_dir():
        raise refuse("is a directory (expected the account database file, e.g. paper.db)")
    for parent in db.parents:  # the nearest existing ancestor must be a directory
        if parent.exists():
            if not parent.is_dir():
                raise refuse(f"is under {parent}, which is a file, not a directory")
            break


@hookimpl
def register_brokers(register):
    register(
        "paper",
        build,
        config=PaperConfig,
        version="1",
        description="Simulated broker: next-bar fills, commission, slippage, SQLite account",
    )
