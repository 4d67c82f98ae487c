"""``[broker.ccxt]`` and ``[market_data.ccxt]``: one configuration for both components."""

from __future__ import annotations

from typing import Any

from attrs import define, field
from tradekernel.api import Duration, positive


def _int_0_10(_inst: object, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not 0 <= value <= 10:
        raise ValueError(f"{attribute.name}: expected 0..10, got {value!r}")


@define
class CcxtConfig:
    """A crypto exchange through ccxt (``[broker.ccxt]``, ``[market_data.ccxt]``)."""

    exchange: str = ""
    """The ccxt exchange id (``binance``, ``kraken``, ``coinbase``, ``okx``, ``bybit``, ...)."""
    sandbox: bool = False
    """Use the exchange's sandbox / testnet (ccxt ``set_sandbox_mode``)."""
    api_key_env: str = ""
    """The environment variable that holds the API key (empty: public data only)."""
    secret_env: str = ""
    """The environment variable that holds the API secret."""
    password_env: str = ""
    """The environment variable that holds the API passphrase (OKX, Coinbase Exchange, ...)."""
    symbols: list[str] = field(factory=list)
    """The markets traded and watched, in ccxt's unified form (``BTC/USDT``)."""
    quote_currency: str = "USDT"
    """The currency the account's cash and equity are counted in (the symbols' quote)."""
    accept_unverified_client_ids: bool = False
    """Trade on an exchange whose client-order-id lookup is not known to be reliable
    (the order may be sent twice after a lost answer): the operator's explicit choice."""
    rate_limit: bool = True
    """Let ccxt pace requests by the exchange's published rate limit (never a retry)."""
    timeout: Duration = field(default=Duration(10), validator=positive)
    """The HTTP timeout of one request."""
    read_retries: int = field(default=3, validator=_int_0_10)
    """Retries of a read that failed with a network error (never of an order placement)."""
    timeframe: str = "1m"
    """The candle interval ``bars`` asks ``fetch_ohlcv`` for."""
