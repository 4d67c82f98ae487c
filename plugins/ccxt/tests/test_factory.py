"""``broker:ccxt`` and ``market_data:ccxt`` built by the kernel: configuration errors
that name the key, credentials through ``ctx.secret`` (so the kernel redacts them), the
live-trading rule, and the built components working over the doubles."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from tradekernel.api import (
    BrokerRejected,
    ConfigError,
    MarketData,
    OrderRequest,
    Quote,
    encode_line,
    validate_event,
)
from tradekernel.testing import KernelFactory, MarketDataContract

from .conftest import BINANCE_KEY, BINANCE_SECRET, make_double, set_markets

ENV = {"BN_KEY": BINANCE_KEY, "BN_SECRET": BINANCE_SECRET}
SECTION = """
[broker.ccxt]
exchange = "binance"
sandbox = true
api_key_env = "BN_KEY"
secret_env = "BN_SECRET"
symbols = ["BTC/USDT"]
rate_limit = false
"""


def build(tmp_path, section: str = SECTION, environ=None, kernel: str = "", kind="broker"):
    factory = KernelFactory(tmp_path)
    text = f'{kernel}[components]\n{kind} = "ccxt"\nmetrics_sinks = []\n{section}'
    if kind == "market_data":
        text = text.replace("[broker.ccxt]", "[market_data.ccxt]")
    kernel_, recorder = factory.build(text, environ=ENV if environ is None else environ)
    return kernel_, recorder, factory


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (('exchange = "binance"', ""), "exchange", "required"),
        (('exchange = "binance"', 'exchange = "nosuchexchange"'), "exchange", "not a ccxt"),
        (('symbols = ["BTC/USDT"]', 'symbols = ["BTCUSDT"]'), "symbols", "not a ccxt symbol"),
        (('symbols = ["BTC/USDT"]', 'symbols = ["btc/usdt"]'), "symbols", "not a ccxt symbol"),
        (('symbols = ["BTC/USDT"]', 'symbols = ["BTC/EUR"]'), "symbols", "quote_currency"),
        (('symbols = ["BTC/USDT"]', "symbols = []"), "symbols", "required"),
        (('api_key_env = "BN_KEY"', 'api_key_env = "NOT_SET"'), "api_key_env", "NOT_SET"),
        (('secret_env = "BN_SECRET"', ""), "secret_env", "required"),
        (("sandbox = true", "sandbox = false"), "sandbox", "live_acknowledged"),
        (
            ('exchange = "binance"', 'exchange = "coinbase"'),
            "accept_unverified_client_ids",
            "coinbase",
        ),
        (("sandbox = true", "sandbox = true\nread_retries = 99"), "read_retries", ""),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, key, words):
    section = SECTION.replace(*change)
    kernel, _, factory = build(tmp_path, section)
    with factory, pytest.raises(ConfigError) as error:
        kernel.component("broker")
    message = str(error.value)
    assert "[broker.ccxt]" in message and key in message and words in message
    assert "\n" not in message
    assert BINANCE_KEY not in message and BINANCE_SECRET not in message


def test_kraken_has_no_sandbox(tmp_path):
    section = SECTION.replace('"binance"', '"kraken"')
    kernel, _, factory = build(tmp_path, section)
    with (
        factory,
        pytest.raises(ConfigError, match=r"\[broker.ccxt\] sandbox: kraken has no sandbox"),
    ):
        kernel.component("broker")


def test_coinbase_trades_only_when_accepted(tmp_path):
    section = SECTION.replace('"binance"', '"coinbase"').replace(
        "sandbox = true", "sandbox = false\naccept_unverified_client_ids = true"
    )
    live = '[kernel]\nmode = "live"\nlive_acknowledged = true\n'  # no sandbox in ccxt
    kernel, _, factory = build(tmp_path, section, kernel=live)
    with factory:
        assert kernel.component("broker").profile.reliable is False


def test_live_needs_live_mode_acknowledged(tmp_path):
    section = SECTION.replace("sandbox = true", "sandbox = false")
    live = '[kernel]\nmode = "live"\nlive_acknowledged = true\n'
    kernel, _, factory = build(tmp_path, section, kernel=live)
    with factory:
        broker = kernel.component("broker")
        assert broker.live_capable is True
        assert "testnet" not in broker.exchange.urls["api"]["private"]


def test_sandbox_uses_the_testnet(tmp_path):
    kernel, _, factory = build(tmp_path)
    with factory:
        broker = kernel.component("broker")
        assert broker.live_capable is False
        assert "testnet" in broker.exchange.urls["api"]["private"]


def test_credentials_are_known_to_the_redactor_and_echoes_are_masked(tmp_path, wired):
    double = wired(make_double("binance"))
    kernel, recorder, factory = build(tmp_path)
    with factory:
        assert BINANCE_SECRET not in kernel.settings.redact(f"x {BINANCE_SECRET} y")
        broker = kernel.component("broker")
        set_markets(broker.exchange, double)
        double.echo_secrets()
        order = broker.submit(
            OrderRequest(
                client_order_id="tk-0123456789abcdef01234567",
                symbol="BTC/USDT",
                side="buy",
                quantity=Decimal("0.01"),
            )
        )
        double.fail_next(503, count=1)  # the kernel-built broker really waits (0.5 s)
        assert broker.get_order(order.client_order_id).broker_order_id == order.broker_order_id
        double.reject_next("LOT_SIZE")
        with pytest.raises(BrokerRejected) as refused:
            broker.submit(
                OrderRequest(
                    client_order_id="tk-111111111111111111111111",
                    symbol="BTC/USDT",
                    side="buy",
                    quantity=Decimal("0.01"),
                )
            )
        assert BINANCE_KEY not in str(refused.value) and BINANCE_SECRET not in str(refused.value)
        events = recorder.of("broker")
        assert [e.kind for e in events] == ["request_retried"]
        assert events[0].fields["broker"] == "ccxt"
        assert all(BINANCE_KEY not in repr(e) for e in recorder.events)
        for event in events:  # each fits the event catalogue's broker kinds
            assert validate_event(json.loads(encode_line(event))) == [], event


def test_market_data_is_a_live_feed(tmp_path, wired):
    double = wired(make_double("binance"))
    kernel, _, factory = build(tmp_path, kind="market_data", environ={})
    with factory:
        feed = kernel.component("market_data")
        assert isinstance(feed, MarketData)
        set_markets(feed.exchange, double)
        now = feed.advance()
        quote = feed.quote("BTC/USDT")
        assert isinstance(quote, Quote) and quote.last == Decimal(30000)
        assert quote.bid == Decimal(29999) and quote.ask == Decimal(30001)
        # the exchange's own time (Binance's closeTime), not the time it was asked
        assert int(quote.ts.timestamp() * 1000) == double.clock_ms - 5000
        bars = feed.bars("BTC/USDT", 3)
        assert len(bars) == 3 and all(b.ts <= now for b in bars)
        assert feed.quote("ETH/USDT") is None and feed.bars("ETH/USDT", 3) == []


def test_kraken_ticker_without_a_time_is_stamped_when_received(tmp_path, wired):
    double = wired(make_double("kraken"))
    section = SECTION.replace('"binance"', '"kraken"').replace("sandbox = true\n", "")
    kernel, _, factory = build(tmp_path, section, kind="market_data", environ={})
    with factory:
        feed = kernel.component("market_data")
        set_markets(feed.exchange, double)
        before = feed.advance()
        quote = feed.quote("BTC/USDT")
        assert quote.ts >= before and quote.last == Decimal(30000)


class TestMarketDataContract(MarketDataContract):
    component_name = "ccxt"
    config = 'exchange = "binance"\nsymbols = ["BTC/USDT"]\nrate_limit = false'

    def make_component(self, factory):
        import tradekernel_ccxt.client as client

        double = make_double("binance")
        previous, client.SESSION = client.SESSION, double.session
        try:
            feed = self.build(factory)
        finally:
            client.SESSION = previous
        set_markets(feed.exchange, double)
        return feed
