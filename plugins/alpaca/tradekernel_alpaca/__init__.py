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

__all__ = ["AlpacaConfig", "build_broker"]


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
