"""Fixtures: the Binance and Kraken doubles, and brokers over them.

A broker here is the real ``CcxtBroker`` over the real ccxt exchange class; only the
HTTP session is the double's (markets are set by hand, as ccxt's own tests do)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from tradekernel_ccxt import client
from tradekernel_ccxt.broker import CcxtBroker
from tradekernel_ccxt.config import CcxtConfig
from tradekernel_ccxt.exchanges import PROFILES

from .binance import BinanceDouble
from .kraken import KrakenDouble

BINANCE_KEY = "bnKEYvmPUshBEjC9xJzW2k4d8F"
BINANCE_SECRET = "bnSECRETq7Zr1YtLp0Hx5MfCa3"
KRAKEN_KEY = "krKEYg4Rk2Vb8NcZ1TqW9pLx6J"
KRAKEN_SECRET = base64.b64encode(b"kraken-private-key-0123456789abcdef").decode()

DOUBLES = {
    "binance": (BinanceDouble, BINANCE_KEY, BINANCE_SECRET),
    "kraken": (KrakenDouble, KRAKEN_KEY, KRAKEN_SECRET),
}


def make_double(exchange: str) -> Any:
    cls, key, secret = DOUBLES[exchange]
    return cls(key, secret)


def exchange_over(double: Any, **options: Any) -> Any:
    """The real ccxt exchange over ``double``, markets set by hand."""
    import ccxt

    settings = {
        "apiKey": double.api_key,
        "secret": double.secret,
        "session": double.session(),
        "enableRateLimit": False,
        "options": {"maxRetriesOnFailure": 0},
        "logger": client.quiet_logger(),
        **options,
    }
    exchange = getattr(ccxt, double.exchange)(settings)
    set_markets(exchange, double)
    return exchange


def set_markets(exchange: Any, double: Any) -> None:
    exchange.set_markets(double.markets)
    if double.exchange == "kraken":
        exchange.options["marketsByAltname"] = {
            m["altname"]: exchange.markets[m["symbol"]] for m in double.markets
        }


def broker_over(
    double: Any,
    *,
    events: list | None = None,
    emit: Any = None,
    live_capable: bool = False,
    name: str = "",
    **config: Any,
) -> CcxtBroker:
    """A new ``CcxtBroker`` on ``double`` (a restart: nothing in memory)."""
    cfg = CcxtConfig(exchange=double.exchange, symbols=["BTC/USDT"], rate_limit=False, **config)
    log = events if events is not None else []

    def record(stage: str, kind: str, **fields: Any) -> None:
        log.append((stage, kind, fields))

    return CcxtBroker(
        cfg,
        exchange_over(double),
        PROFILES[double.exchange],
        name=name or f"ccxt-{double.exchange}",
        emit=emit or record,
        secrets=double.secrets,
        sleep=double.sleep,
        live_capable=live_capable,
    )


@pytest.fixture(params=["binance", "kraken"])
def double(request) -> Any:
    return make_double(request.param)


@pytest.fixture
def binance() -> BinanceDouble:
    return make_double("binance")


@pytest.fixture
def kraken() -> KrakenDouble:
    return make_double("kraken")


@pytest.fixture
def wired(monkeypatch):
    """``wired(double)``: components the kernel builds send through ``double``."""

    def wire(double: Any) -> Any:
        monkeypatch.setattr(client, "SESSION", double.session)
        return double

    return wire
