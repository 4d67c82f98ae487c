from __future__ import annotations

import pytest
from tradekernel.api import ConfigError, Kernel, Settings
from tradekernel_marketdata import ReplayFeed


def test_kernel_builds_replay_from_plugins_toml(tmp_path, write_csv):
    write_csv("data/xyz.csv", ["2024-01-02,1,2,1,2,2,10", "2024-01-03,2,3,2,3,3,10"])
    path = tmp_path / "plugins.toml"
    path.write_text(
        f"""
[kernel]
state_dir = "{tmp_path / "state"}"

[components]
market_data = "replay"

[market_data.replay]
paths = ["{tmp_path / "data"}"]
start = 2024-01-03
half_spread_bps = 5
""",
        encoding="utf-8",
    )
    with Kernel(Settings.load(path, environ={})) as kernel:
        feed = kernel.component("market_data")
        assert isinstance(feed, ReplayFeed)
        assert feed.symbols() == ["XYZ"]
        assert feed.advance().day == 3
        assert feed.advance() is None


def test_unknown_key_is_a_config_error(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text("[market_data.synthetic]\nseeds = 3\n", encoding="utf-8")
    with (
        Kernel(Settings.load(path, environ={})) as kernel,
        pytest.raises(ConfigError, match=r"seeds: unknown key \(did you mean 'seed'\?\)"),
    ):
        kernel.component("market_data", "synthetic")


def test_a_new_process_continues_the_market_clock(tmp_path):
    """The paper account persists across runs: the market must not start over under it."""
    from tradekernel.testing import KernelFactory, config_text

    config = config_text({"market_data": "synthetic"}, "[market_data.synthetic]\nbars = 50\n")
    seen = []
    for _ in range(2):  # two processes, one after the other, on the same state
        with KernelFactory(tmp_path) as factory:
            kernel, _ = factory.build(config)
            feed = kernel.component("market_data")
            seen.append([feed.advance() for _ in range(5)])
    first, second = seen
    assert second[0] > first[-1]
    assert len(set(first + second)) == 10
    # the rolling window was refilled while skipping, so indicators see full history
    assert len(feed.bars("AAA", 50)) >= 10


def test_resume_false_starts_over(tmp_path):
    from tradekernel.testing import KernelFactory, config_text

    config = config_text(
        {"market_data": "synthetic"}, "[market_data.synthetic]\nbars = 50\nresume = false\n"
    )
    firsts = []
    for _ in range(2):
        with KernelFactory(tmp_path) as factory:
            kernel, _ = factory.build(config)
            firsts.append(kernel.component("market_data").advance())
    assert firsts[0] == firsts[1]


def test_a_held_clock_lands_on_the_remembered_bar_and_writes_nothing(tmp_path):
    """Diagnostics (skills smoke, strategist smoke) must not move the agent's clock."""
    from tradekernel.testing import KernelFactory, config_text

    config = config_text({"market_data": "synthetic"}, "[market_data.synthetic]\nbars = 50\n")
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build(config)
        feed = kernel.component("market_data")
        agent = [feed.advance() for _ in range(3)]
    saved = feed.resume_path.read_text()
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build(config)
        feed = kernel.component("market_data")
        feed.hold_clock()
        assert feed.advance() == agent[-1]  # the agent's current bar
        assert feed.resume_path.read_text() == saved
