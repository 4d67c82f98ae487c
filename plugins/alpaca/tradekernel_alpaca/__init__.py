"""tradekernel-alpaca: the Alpaca broker (US equities, paper and live) on httpx, and a
stateful double of Alpaca's API for tests (:mod:`tradekernel_alpaca.double`).

Importing this package imports nothing heavy: httpx, tenacity and the broker are
imported when a component is built (``plugins list`` and ``--help`` stay fast)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradekernel import hookimpl

from .config import AlpacaConfig

if TYPE_CHECKING:
    from tradekernel.api import ComponentContext

    from .broker import AlpacaBroker
    from .marketdata import AlpacaMarketData

__all__ = ["AlpacaConfig", "build_broker", "build_market_data"]


def build_broker(config: AlpacaConfig | None, ctx: ComponentContext, **client: Any) -> AlpacaBroker:
    """Factory of ``broker:alpaca``: reads the credentials through ``ctx.secret``, refuses
    the live API outside acknowledged live mode (see :func:`factory.make_broker`)."""
    from .factory import make_broker

    return make_broker(config or AlpacaConfig(), ctx, **client)


@hookimpl
def register_brokers(register):
    register(
        "alpaca",
        build_broker,
        config=AlpacaConfig,
        version="1",
        description="Alpaca trading API (US equities; paper by default, live when acknowledged)",
    )


def build_market_data(config: Any, ctx: ComponentContext, **client: Any) -> AlpacaMarketData:
    """Factory of ``market_data:alpaca``: the broker's credentials and limits plus the
    symbols (default ``[runtime] watchlist``), timeframe and feed (see
    :func:`marketdata.make_market_data`)."""
    from .marketdata import AlpacaDataConfig, make_market_data

    return make_market_data(config or AlpacaDataConfig(), ctx, **client)


def _data_config() -> type:
    from .marketdata import AlpacaDataConfig

    return AlpacaDataConfig


@hookimpl
def register_market_data(register):
    register(
        "alpaca",
        build_market_data,
        config=_data_config(),
        version="1",
        description="Alpaca data API v2: live quotes and bars, the venue's clock and calendar",
    )
