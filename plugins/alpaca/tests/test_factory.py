"""``broker:alpaca`` built by the kernel: credentials through ctx.secret, one-line
configuration errors, the live URL only in acknowledged live mode, events in the
catalogue, nothing heavy imported by the plugin package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tradekernel.api import ConfigError, encode_line, validate_event
from tradekernel.testing import KernelFactory, config_text
from tradekernel_alpaca.config import LIVE_URL
from tradekernel_alpaca.double import AlpacaDouble, serve

KEYS = {
    "APCA_API_KEY_ID": "PKFACTORYKEYID000001",
    "APCA_API_SECRET_KEY": "factory-secret-0123456789abcdefghij",
}


@pytest.fixture
def server():
    double = AlpacaDouble(key_id=KEYS["APCA_API_KEY_ID"], secret_key=KEYS["APCA_API_SECRET_KEY"])
    with serve(double) as running:
        yield running


def _kernel(factory: KernelFactory, section: str, environ=KEYS, kernel: str = ""):
    text = config_text({"broker": "alpaca"}, f"[broker.alpaca]\n{section}\n")
    if kernel:
        text = text.replace("[kernel]\n", f"[kernel]\n{kernel}\n", 1)
    return factory.build(text, environ=environ)


def test_built_by_the_kernel_against_the_local_server(tmp_path, server) -> None:
    with KernelFactory(tmp_path) as factory:
        kernel, recorder = _kernel(factory, f'base_url = "{server.url}"\nbackoff_base = 0.01')
        broker = kernel.component("broker")
        assert broker.live_capable is False
        assert broker.account().cash == 100000
        server.double.fail_next(503)
        assert broker.positions() == []
        retried = recorder.of("broker", "request_retried")
        assert retried and retried[0].fields["broker"] == "alpaca"
        for event in recorder.events:
            assert validate_event(json.loads(encode_line(event))) == [], event


def test_missing_credentials_name_the_variable(tmp_path) -> None:
    with KernelFactory(tmp_path) as factory:
        kernel, _ = _kernel(factory, "", environ={})
        with pytest.raises(ConfigError) as info:
            kernel.component("broker")
    message = str(info.value)
    assert "[broker.alpaca] key_id_env" in message and "APCA_API_KEY_ID" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('base_url = "ftp://example.com"', "base_url"),
        ('base_url = "http://example.com"', "base_url"),
        ("rate_limit_per_minute = 0", "rate_limit_per_minute"),
        ("max_read_attempts = 99", "max_read_attempts"),
        ('key_id_env = "not a name"', "key_id_env"),
        ("read_timeout = -1", "read_timeout"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_key(tmp_path, line, key) -> None:
    with KernelFactory(tmp_path) as factory, pytest.raises(ConfigError) as info:
        kernel, _ = _kernel(factory, line)
        kernel.component("broker")
    assert key in str(info.value) and "\n" not in str(info.value)


def test_the_live_url_is_refused_in_paper_mode(tmp_path) -> None:
    with KernelFactory(tmp_path) as factory:
        kernel, _ = _kernel(factory, f'base_url = "{LIVE_URL}"')
        with pytest.raises(ConfigError) as info:
            kernel.component("broker")
    assert "[broker.alpaca] base_url" in str(info.value) and "live" in str(info.value)


def test_the_live_url_in_acknowledged_live_mode_is_live_capable(tmp_path) -> None:
    with KernelFactory(tmp_path) as factory:
        kernel, _ = _kernel(
            factory,
            f'base_url = "{LIVE_URL}"',
            kernel='mode = "live"\nlive_acknowledged = true',
        )
        broker = kernel.component("broker")
        assert broker.live_capable is True
        broker.close()


def test_echoed_credentials_never_reach_events_or_errors(tmp_path, server) -> None:
    server.double.echo_secrets()
    server.double.reject_next("bad qty")
    with KernelFactory(tmp_path) as factory:
        kernel, recorder = _kernel(factory, f'base_url = "{server.url}"\nbackoff_base = 0.01')
        broker = kernel.component("broker")
        from tradekernel.api import BrokerRejected, OrderRequest

        with pytest.raises(BrokerRejected) as info:
            broker.submit(
                OrderRequest(
                    client_order_id="tk-" + "1" * 24, symbol="AAPL", side="buy", quantity=1
                )
            )
        server.double.fail_next(500, count=10)
        with pytest.raises(Exception) as lookup:
            broker.get_order("tk-" + "1" * 24)
        texts = [str(info.value), repr(info.value), str(lookup.value), repr(recorder.events)]
        for secret in KEYS.values():
            assert all(secret not in text for text in texts)
        assert "bad qty" in str(info.value)


def test_importing_the_plugin_imports_no_http_client() -> None:
    code = (
        "import sys, tradekernel_alpaca; "
        "print(sorted(m for m in ('httpx', 'tenacity', 'tradekernel_alpaca.broker') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


LIVE_SPELLINGS = [
    "https://api.alpaca.markets",
    "https://API.ALPACA.MARKETS",
    "https://api.alpaca.markets.",
    "https://api.alpaca.markets.:443",
    "https://api.alpaca\u3002markets",
    "https://api\uff0ealpaca.markets",
    "https://api.alpaca.markets:443/",
]


@pytest.mark.parametrize("url", LIVE_SPELLINGS)
def test_every_spelling_of_the_live_host_is_refused_in_paper_mode(tmp_path, url) -> None:
    with KernelFactory(tmp_path) as factory, pytest.raises(ConfigError) as info:
        kernel, _ = _kernel(factory, f'base_url = "{url}"')
        kernel.component("broker")
    assert "[broker.alpaca] base_url" in str(info.value) and "live" in str(info.value)


@pytest.mark.parametrize(
    "key, url, says",
    [
        ("base_url", "https://paper-api.alpaca.markets.example.net", "not an Alpaca"),
        ("base_url", "https://evil.example", "not an Alpaca"),
        ("base_url", "https://user@paper-api.alpaca.markets", "no credentials"),
        ("base_url", "https://paper-api.alpaca.markets/v2", "without a path"),
        ("data_url", "https://data.alpaca.markets.example.net", "not an Alpaca"),
        ("data_url", "https://paper-api.alpaca.markets", "not an Alpaca"),
        ("data_url", "https://data.alpaca.markets/v2", "'https://data.alpaca.markets'"),
        ("base_url", "http://10.0.0.1:8080", "not an Alpaca"),
    ],
)
def test_foreign_hosts_and_paths_are_configuration_errors(tmp_path, key, url, says) -> None:
    with KernelFactory(tmp_path) as factory, pytest.raises(ConfigError) as info:
        kernel, _ = _kernel(factory, f'{key} = "{url}"')
        kernel.component("broker")
    message = str(info.value)
    assert f"[broker.alpaca] {key}" in message and says in message, message
    assert KEYS["APCA_API_SECRET_KEY"] not in message


def test_acknowledged_live_mode_accepts_only_the_live_host(tmp_path, server) -> None:
    for url in ("https://paper-api.alpaca.markets", server.url):
        with KernelFactory(tmp_path) as factory, pytest.raises(ConfigError) as info:
            kernel, _ = _kernel(
                factory, f'base_url = "{url}"', kernel='mode = "live"\nlive_acknowledged = true'
            )
            kernel.component("broker")
        assert "[broker.alpaca] base_url" in str(info.value)
        assert "live API" in str(info.value)


def test_loopback_double_and_paper_host_are_accepted_in_paper_mode(tmp_path, server) -> None:
    for url in ("https://paper-api.alpaca.markets/", server.url):
        with KernelFactory(tmp_path) as factory:
            kernel, _ = _kernel(factory, f'base_url = "{url}"')
            broker = kernel.component("broker")
            assert broker.live_capable is False
            broker.close()


@pytest.mark.parametrize("secret", ["s\u00e9cret-0123456789abcdef", "secret\r\nX-Evil: 1", "a b"])
def test_a_secret_unfit_for_a_header_is_a_configuration_error_never_showing_it(
    tmp_path, secret
) -> None:
    environ = dict(KEYS, APCA_API_SECRET_KEY=secret)
    with KernelFactory(tmp_path) as factory, pytest.raises(ConfigError) as info:
        kernel, _ = _kernel(factory, "", environ=environ)
        kernel.component("broker")
    message = str(info.value)
    assert "[broker.alpaca] secret_key_env" in message and "APCA_API_SECRET_KEY" in message
    assert secret not in message and secret not in repr(info.value.args)
    assert "0123456789" not in message


def test_the_account_is_named_by_a_fingerprint_of_the_key_id_never_the_key(tmp_path) -> None:
    with KernelFactory(tmp_path) as factory:
        kernel, _ = _kernel(factory, 'base_url = "http://127.0.0.1:9"')
        key = kernel.component("broker").account_key()
        other, _ = _kernel(
            factory,
            'base_url = "http://127.0.0.1:9"',
            environ={**KEYS, "APCA_API_KEY_ID": "PKOTHERKEYID00000002"},
        )
        assert other.component("broker").account_key() != key
    assert key[:2] == ("alpaca", "http://127.0.0.1:9") and len(key[2]) == 16
    assert all(secret not in repr(key) for secret in KEYS.values())
