"""Two ccxt instances (``use = "ccxt"``) selected together in ``[components] brokers``,
built by the kernel: each its own exchange, credentials and name, fill ids that do not
collide in the kernel's one store."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradekernel.api import ConfigError, OrderRequest, Store
from tradekernel.testing import KernelFactory
from tradekernel_ccxt import client

from .conftest import (
    BINANCE_KEY,
    BINANCE_SECRET,
    KRAKEN_KEY,
    KRAKEN_SECRET,
    make_double,
    set_markets,
)
from .wire import Session

CONFIG = """
[kernel]
mode = "live"
live_acknowledged = true

[components]
brokers = ["binance", "kraken"]
metrics_sinks = []

[broker.binance]
use = "ccxt"
exchange = "binance"
api_key_env = "BN_KEY"
secret_env = "BN_SECRET"
symbols = ["BTC/USDT"]
rate_limit = false

[broker.kraken]
use = "ccxt"
exchange = "kraken"
api_key_env = "KR_KEY"
secret_env = "KR_SECRET"
symbols = ["BTC/USDT"]
rate_limit = false
"""
ENV = {
    "BN_KEY": BINANCE_KEY,
    "BN_SECRET": BINANCE_SECRET,
    "KR_KEY": KRAKEN_KEY,
    "KR_SECRET": KRAKEN_SECRET,
}
CID = "tk-0123456789abcdef01234567"


def test_two_ccxt_instances_through_the_kernel(tmp_path, monkeypatch):
    doubles = {"binance": make_double("binance"), "kraken": make_double("kraken")}

    def route(request):  # each exchange's host reaches its own double
        return doubles["kraken" if "kraken" in request.url else "binance"].handle(request)

    monkeypatch.setattr(client, "SESSION", lambda: Session(route))
    with KernelFactory(tmp_path) as factory:
        kernel, _recorder = factory.build(CONFIG, environ=ENV)
        fills = []
        for name, double in doubles.items():
            broker = kernel.component("broker", name)
            assert broker.name == name and broker.exchange.id == name and broker.live_capable
            set_markets(broker.exchange, double)
            request = OrderRequest(
                client_order_id=CID, symbol="BTC/USDT", side="buy", quantity=Decimal("0.01")
            )
            broker.submit(request)
            assert double.orders_with(CID) == 1 and double.submit_requests() == 1
            double.fill(CID)
            fills += broker.fills(CID)
        assert [f.fill_id.split(":")[:2] for f in fills] == [
            ["binance", "BTC/USDT"],
            ["kraken", "BTC/USDT"],
        ]
        store = Store.open(tmp_path / "fills")
        assert [store.record_fill(f) for f in fills] == [True, True]


def test_each_instance_names_its_account_by_a_fingerprint_of_its_key(tmp_path, monkeypatch):
    monkeypatch.setattr(client, "SESSION", lambda: Session(lambda request: None))
    with KernelFactory(tmp_path) as factory:
        kernel, _recorder = factory.build(CONFIG, environ=ENV)
        keys = {n: kernel.component("broker", n).account_key() for n in ("binance", "kraken")}
        again, _ = factory.build(CONFIG, environ=ENV)
        assert again.component("broker", "binance").account_key() == keys["binance"]
    assert keys["binance"][:2] == ("ccxt", "binance:live")
    assert keys["kraken"][:2] == ("ccxt", "kraken:live") and keys["binance"] != keys["kraken"]
    for key in keys.values():  # a digest, never the key or the secret
        text = repr(key)
        assert all(s not in text for s in (BINANCE_KEY, BINANCE_SECRET, KRAKEN_KEY, KRAKEN_SECRET))
        assert len(key[2]) == 16


def test_an_alias_of_one_key_is_one_account_refused_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(client, "SESSION", lambda: Session(lambda request: None))
    text = CONFIG.replace('"KR_KEY"', '"BN_KEY"').replace('"KR_SECRET"', '"BN_SECRET"')
    text = text.replace('exchange = "kraken"', 'exchange = "binance"')
    with KernelFactory(tmp_path) as factory:
        kernel, _recorder = factory.build(text, environ=ENV)
        with pytest.raises(ConfigError, match="the same account"):
            kernel.refuse_shared_accounts()
