"""The broker contract kit on the ccxt broker, over the Binance and Kraken doubles."""

from __future__ import annotations

from typing import Any

import pytest
from tradekernel.api import ConfigError
from tradekernel.testing import BrokerContract
from tradekernel_ccxt.client import live_capable
from tradekernel_ccxt.config import CcxtConfig

from .conftest import broker_over, make_double


class CcxtContract(BrokerContract):
    exchange = ""

    @pytest.fixture
    def venue(self) -> Any:
        return make_double(self.exchange)

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        config = CcxtConfig(exchange=venue.exchange, symbols=["BTC/USDT"], sandbox=not live)
        try:
            real = live_capable(config, "live" if live else "paper", acknowledged)
        except ValueError as exc:
            raise ConfigError(f"plugins.toml: [broker.ccxt] sandbox: {exc}") from None
        return broker_over(venue, emit=self.emit, sandbox=not live, live_capable=real)


class TestBinanceContract(CcxtContract):
    exchange = "binance"


class TestKrakenContract(CcxtContract):
    exchange = "kraken"
