"""The inverse-volatility allocator: targets, the per-step bound, the total, history."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.api import AllocationRequest, Allocator, ConfigError
from tradekernel.testing import kernel_factory  # noqa: F401 - a fixture
from tradekernel_allocation import InverseVolatilityAllocator, InverseVolatilityConfig


def walk(step: str, n: int, wiggle: bool = True) -> tuple[D, ...]:
    """P&L samples alternating up and down by ``step`` (volatility ~ step)."""
    out, pnl = [], D(0)
    for i in range(n):
        pnl += D(step) if (i % 2 == 0 or not wiggle) else -D(step)
        out.append(pnl)
    return tuple(out)


def request(pnl: dict, current: dict | None = None) -> AllocationRequest:
    configured = {"calm": D(10000), "wild": D(10000)}
    return AllocationRequest(
        equity=D(100000), configured=configured, current=current or configured, pnl=pnl
    )


def test_the_calmer_strategy_gets_more_but_at_most_one_step_per_allocation():
    allocator = InverseVolatilityAllocator(InverseVolatilityConfig(max_step=0.05))
    assert isinstance(allocator, Allocator)
    req = request({"calm": walk("10", 21), "wild": walk("30", 21)})
    targets = allocator.targets(req)
    assert targets["calm"] == pytest.approx(D(15000), abs=1) and targets["wild"] == pytest.approx(
        D(5000), abs=1
    )
    first = allocator.allocate(req)
    assert first == {"calm": D("11000.00"), "wild": D("9000.00")}  # 5 % of 20000 per step
    current = dict(first)
    for _ in range(10):
        current = dict(allocator.allocate(request(req.pnl, current)))
    assert current["calm"] == pytest.approx(D(15000), abs=1)
    assert sum(current.values()) <= D(20000)


def test_short_or_flat_history_keeps_the_budgets():
    allocator = InverseVolatilityAllocator(InverseVolatilityConfig(min_samples=5))
    current = {"calm": D(12000), "wild": D(8000)}
    assert (
        allocator.allocate(request({"calm": walk("1", 4), "wild": walk("1", 4)}, current))
        == current
    )
    flat = tuple([D(0)] * 30)
    assert allocator.allocate(request({"calm": flat, "wild": flat}, current)) == current


def test_a_strategy_that_never_moved_counts_as_the_calmest():
    allocator = InverseVolatilityAllocator(InverseVolatilityConfig(max_step=1))
    flat = tuple([D(0)] * 30)
    targets = allocator.targets(request({"calm": flat, "wild": walk("30", 30)}))
    assert targets["calm"] == pytest.approx(D(10000), abs=1)


@given(
    st.lists(st.integers(-(10**6), 10**6), min_size=6, max_size=40),
    st.lists(st.integers(-(10**6), 10**6), min_size=6, max_size=40),
    st.integers(0, 20000),
)
def test_budgets_stay_bounded_for_any_history(a, b, calm_now):
    allocator = InverseVolatilityAllocator(InverseVolatilityConfig(max_step=0.1))
    current = {"calm": D(calm_now), "wild": D(20000 - calm_now)}
    pnl = {"calm": tuple(D(x) for x in a), "wild": tuple(D(x) for x in b)}
    out = allocator.allocate(request(pnl, current))
    assert all(v >= 0 and v.is_finite() for v in out.values())
    assert sum(out.values()) <= D(20000)
    assert all(abs(out[n] - current[n]) <= D(2000) + D("0.01") for n in out)


def test_bad_config_is_refused(kernel_factory):  # noqa: F811
    with pytest.raises(ConfigError, match="min_samples"):
        InverseVolatilityConfig(lookback=3, min_samples=5)
    text = '[components]\nallocator = "inverse-volatility"\n'
    kernel, _ = kernel_factory.build(text + "[allocator.inverse-volatility]\nmax_step = 0.2\n")
    assert kernel.component("allocator").config.max_step == 0.2
    kernel, _ = kernel_factory.build(text + "[allocator.inverse-volatility]\nmax_step = 2\n")
    with pytest.raises(ConfigError, match="max_step"):
        kernel.component("allocator")
