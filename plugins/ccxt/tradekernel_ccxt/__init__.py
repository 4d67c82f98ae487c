"""tradekernel CCXT plugin: ``broker:ccxt`` and ``market_data:ccxt`` for crypto exchanges.

ccxt itself is imported only when one of these components is built (see
:mod:`tradekernel_ccxt.client`): importing this package, ``--help`` and ``plugins
list`` never load it.
"""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl

from .config import CcxtConfig

TRADEKERNEL_API = ">=1.0,<2"

__all__ = ["CcxtConfig", "build_broker", "build_market_data"]


def _checked(config: CcxtConfig | None, ctx: Any) -> CcxtConfig:
    """The config, refused with a one-line error naming its key when unusable."""
    config = config or CcxtConfig()
    if not config.exchange.strip():
        raise ctx.config_error("exchange", "required: a ccxt exchange id such as binance")
    from .client import exchange_ids

    if config.exchange not in exchange_ids():
        raise ctx.config_error("exchange", f"{config.exchange!r} is not a ccxt exchange id")
    if not config.symbols:
        raise ctx.config_error("symbols", 'required: markets in ccxt form, e.g. ["BTC/USDT"]')
    quote = config.quote_currency
    for symbol in config.symbols:
        base, slash, quoted = symbol.partition("/")
        if not slash or not base or not quoted or symbol != symbol.strip().upper():
            raise ctx.config_error("symbols", f"{symbol!r} is not a ccxt symbol like BTC/USDT")
        if quoted != quote:
            raise ctx.config_error(
                "symbols",
                f"{symbol} is not quoted in quote_currency {quote} "
                "(the account is counted in one currency)",
            )
    return config


def _credentials(config: CcxtConfig, ctx: Any, *, required: bool) -> Any:
    from .client import Credentials

    values = {}
    for key, env in (
        ("api_key_env", config.api_key_env),
        ("secret_env", config.secret_env),
        ("password_env", config.password_env),
    ):
        if not env:
            if required and key != "password_env":
                raise ctx.config_error(key, "required: the environment variable that holds it")
            continue
        value = ctx.secret(env)
        if not value and (required or key == "password_env"):
            raise ctx.config_error(key, f"environment variable {env} is not set")
        values[key.removesuffix("_env")] = value
    return Credentials(**values)


def _redactor(ctx: Any) -> Any:
    return getattr(ctx.settings, "redact", None)


def build_broker(config: CcxtConfig | None, ctx: Any) -> Any:
    """A broker on the configured exchange (refuses one without a reliable client-id
    lookup unless ``accept_unverified_client_ids``)."""
    config = _checked(config, ctx)
    from .exchanges import fallback, profile_for

    profile = profile_for(config.exchange) or fallback(config.exchange)
    if not profile.reliable and not config.accept_unverified_client_ids:
        raise ctx.config_error(
            "accept_unverified_client_ids",
            f"{config.exchange} has no reliable lookup by client order id (a lost answer "
            "could lead to a second order); set it to true to trade there anyway",
        )
    from .broker import CcxtBroker
    from .client import live_capable, new_exchange

    kernel = getattr(ctx.settings, "kernel", None)
    mode = str(getattr(kernel, "mode", "paper"))
    try:
        live = live_capable(config, mode, bool(getattr(kernel, "live_acknowledged", False)))
    except ValueError as exc:
        raise ctx.config_error("sandbox", str(exc)) from None
    credentials = _credentials(config, ctx, required=True)
    return CcxtBroker(
        config,
        _exchange(config, credentials, ctx, new_exchange),
        profile,
        name=ctx.name or "ccxt",
        emit=ctx.emit,
        redact=_redactor(ctx),
        secrets=credentials.values(),
        live_capable=live,
    )


def _exchange(config: CcxtConfig, credentials: Any, ctx: Any, new_exchange: Any) -> Any:
    try:
        return new_exchange(config, credentials)
    except ValueError as exc:
        raise ctx.config_error("sandbox", str(exc)) from None


def build_market_data(config: CcxtConfig | None, ctx: Any) -> Any:
    """A live feed of the configured symbols (public endpoints, keys optional)."""
    config = _checked(config, ctx)
    credentials = _credentials(config, ctx, required=False)
    from .client import new_exchange
    from .marketdata import CcxtMarketData

    return CcxtMarketData(
        config,
        _exchange(config, credentials, ctx, new_exchange),
        redact=_redactor(ctx) or str,
    )


@hookimpl
def register_brokers(register: Any) -> None:
    register(
        "ccxt",
        build_broker,
        config=CcxtConfig,
        version="1",
        description="A crypto exchange through ccxt (Binance, Kraken, OKX, Bybit, Coinbase)",
    )


@hookimpl
def register_market_data(register: Any) -> None:
    register(
        "ccxt",
        build_market_data,
        config=CcxtConfig,
        version="1",
        description="Live tickers and candles of a crypto exchange through ccxt",
    )
