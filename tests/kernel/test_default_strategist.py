"""``hold``, the default strategist, is the kernel's own: it never trades, and it runs
the strategist contract of tradekernel.testing."""

from __future__ import annotations

from datetime import UTC, datetime

from tradekernel.components import StrategyInput
from tradekernel.defaults.strategist import HoldStrategist
from tradekernel.models import Bar
from tradekernel.plugins import PluginRegistry
from tradekernel.testing import StrategistContract

START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def test_hold_always_holds():
    bars = [Bar(symbol="AAA", ts=START, open=c, high=c, low=c, close=c) for c in (1, 2, 3)]
    inputs = StrategyInput(
        cycle_id="c1",
        as_of=START,
        candidates=["AAA"],
        skill_results={},
        bars={"AAA": bars},
        positions={},
    )
    decision = HoldStrategist().decide(inputs)
    assert decision.is_hold
    assert decision.hold_reason == "strategy_hold"
    assert decision.error_type is None


def test_hold_is_registered_by_the_kernel_without_any_plugin():
    registry = PluginRegistry(entry_points=[]).load()
    spec = registry.spec("strategist", "hold")
    assert (spec.distribution, spec.plugin) == ("tradekernel", "tradekernel.defaults.strategist")


class TestHoldContract(StrategistContract):
    component_name = "hold"
