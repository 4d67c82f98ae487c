from __future__ import annotations

from decimal import Decimal

import pytest
from tradekernel.api import ConfigError, Kernel, OrderRequest, OrderStatus, Settings
from tradekernel_marketdata import SyntheticFeed
from tradekernel_paper import PaperBroker


def _config(tmp_path, extra: str = "") -> Settings:
    path = tmp_path / "plugins.toml"
    path.write_text(
        f"""
[kernel]
state_dir = "{tmp_path / "state"}"

[components]
broker = "paper"
market_data = "synthetic"

[broker.paper]
cash = 50000
commission = 0.0005

[market_data.synthetic]
symbols = ["AAA", "BBB"]
bars = 20
{extra}
""",
        encoding="utf-8",
    )
    return Settings.load(path, environ={})


def test_kernel_builds_paper_and_synthetic_through_entry_points(tmp_path):
    with Kernel(_config(tmp_path)) as kernel:
        broker = kernel.component("broker")
        feed = kernel.component("market_data")
        assert isinstance(broker, PaperBroker) and isinstance(feed, SyntheticFeed)
        assert kernel.spec("broker", "paper").distribution == "tradekernel-paper"
        assert kernel.spec("market_data", "synthetic").distribution == "tradekernel-marketdata"
        assert broker.config.commission == Decimal("0.0005")
        assert (tmp_path / "state" / "paper.db").exists()
        feed.advance()
        broker.submit(OrderRequest(client_order_id="k1", symbol="AAA", side="buy", quantity=5))
        feed.advance()
        order = broker.get_order("k1")
        assert order.status is OrderStatus.FILLED
        assert order.avg_fill_price == feed.current_bar("AAA").open
        assert broker.account().cash < Decimal(50000)


def test_bad_paper_config_names_the_key(tmp_path):
    settings = _config(tmp_path, "[broker.paper.extra]\n")  # not a key, a sub-table
    with Kernel(settings) as kernel, pytest.raises(ConfigError, match="extra"):
        kernel.component("broker")
    path = tmp_path / "bad.toml"
    path.write_text("[broker.paper]\nmax_volume_share = 2\n", encoding="utf-8")
    with (
        Kernel(Settings.load(path, environ={})) as kernel,
        pytest.raises(ConfigError, match=r"\[broker.paper\] max_volume_share"),
    ):
        kernel.component("broker")


def test_a_non_durable_account_outside_a_backtest_is_warned_about(tmp_path):
    from loguru import logger

    seen: list[str] = []
    sink = logger.add(lambda message: seen.append(str(message)), level="WARNING")
    try:
        env = {"TRADEKERNEL_BROKER__PAPER__DURABLE": "false"}
        path = tmp_path / "plugins.toml"
        path.write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
        with Kernel(Settings.load(path, environ=env)) as kernel:
            kernel.component("broker")
        assert any("environment TRADEKERNEL_BROKER__PAPER__DURABLE" in m for m in seen), seen
        seen.clear()
        overrides = {"broker.paper.durable": (False, "backtest")}  # what a backtest sets
        with Kernel(Settings.load(path, environ={}, overrides=overrides)) as kernel:
            kernel.component("broker")
        assert not [m for m in seen if "durable" in m]
    finally:
        logger.remove(sink)
