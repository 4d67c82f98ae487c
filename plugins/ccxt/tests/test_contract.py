"""The broker contract kit on the ccxt broker, over the Binance and Kraken doubles.

Each broker is built by the kernel through the plugin's real factory (``build_broker``):
the kit exercises the real live-trading check, credentials through ``ctx.secret`` and
the sandbox switch; only the HTTP session is the double's. ccxt has no Kraken sandbox,
so the factory refuses a Kraken broker that is not live (test_factory checks it): the
kit's non-live Kraken brokers are built directly over the double."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from tradekernel.testing import BrokerContract, KernelFactory
from tradekernel_ccxt import client

from .conftest import DOUBLES, broker_over, make_double, set_markets


class CcxtContract(BrokerContract):
    exchange = ""

    @pytest.fixture
    def venue(self) -> Any:
        return make_double(self.exchange)

    @pytest.fixture(autouse=True)
    def factories(self) -> Iterator[list[KernelFactory]]:
        self._factories: list[KernelFactory] = []
        with tempfile.TemporaryDirectory() as directory:
            self._directory = directory
            yield self._factories
            for factory in self._factories:
                factory.close()

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        if venue.exchange == "kraken" and not live:
            return broker_over(venue, emit=self.emit)
        _cls, key, secret = DOUBLES[venue.exchange]
        kernel = ""
        if live:
            kernel = f'[kernel]\nmode = "live"\nlive_acknowledged = {str(acknowledged).lower()}\n'
        text = (
            f'{kernel}[components]\nbroker = "ccxt"\nmetrics_sinks = []\n'
            f'[broker.ccxt]\nexchange = "{venue.exchange}"\n'
            f"sandbox = {str(not live).lower()}\n"
            'api_key_env = "CCXT_KEY"\nsecret_env = "CCXT_SECRET"\n'
            'symbols = ["BTC/USDT"]\nrate_limit = false\n'
        )
        factory = KernelFactory(tempfile.mkdtemp(dir=self._directory))
        self._factories.append(factory)
        built, recorder = factory.build(text, environ={"CCXT_KEY": key, "CCXT_SECRET": secret})
        previous, client.SESSION = client.SESSION, venue.session
        try:
            broker = built.component("broker")
        finally:
            client.SESSION = previous
        set_markets(broker.exchange, venue)
        broker.read.sleep = venue.sleep  # retries wait through the venue (recorded)
        self.watch(recorder)
        return broker


class TestBinanceContract(CcxtContract):
    exchange = "binance"


class TestKrakenContract(CcxtContract):
    exchange = "kraken"
