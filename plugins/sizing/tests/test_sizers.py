"""The sizers' arithmetic, their refusals, and a fuzz of hostile bars and requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import Bar, Intent, SizeRequest
from tradekernel_sizing import (
    FixedFractionalConfig,
    FixedFractionalSizer,
    KellyConfig,
    KellySizer,
    VolatilityTargetConfig,
    VolatilityTargetSizer,
)

AT = datetime(2026, 3, 2, tzinfo=UTC)


def request(side="buy", *, price="100", budget="10000", bars=(), **kwargs) -> SizeRequest:
    intent = Intent.create(symbol="AAA", side=side, as_of=AT, **kwargs)
    return SizeRequest(
        intent=intent,
        strategy="s",
        price=Decimal(price),
        budget=Decimal(budget),
        bars=tuple(bars),
    )


def bars(closes, spread="1", symbol="AAA") -> list[Bar]:
    spread = Decimal(spread)
    return [
        Bar(symbol, AT + timedelta(days=i), c, Decimal(c) + spread, Decimal(c) - spread, c)
        for i, c in enumerate(closes)
    ]


def test_fixed_fractional_risks_its_fraction_over_the_stop():
    sizer = FixedFractionalSizer(FixedFractionalConfig(risk=0.01))
    result = sizer.size(request(stop_price="95"))
    assert result.code is None and result.quantity == Decimal(20)  # 100 risked / 5 a unit
    assert result.inputs["stop_distance"] == Decimal(5)


def test_fixed_fractional_uses_the_configured_distance_without_a_stop():
    sizer = FixedFractionalSizer(FixedFractionalConfig(risk=0.02, stop_distance=0.04))
    assert sizer.size(request()).quantity == Decimal(50)  # 200 / 4
    assert FixedFractionalSizer().size(request()).code == "no_stop_distance"


@pytest.mark.parametrize(("side", "stop"), [("buy", "100"), ("buy", "120"), ("sell", "90")])
def test_fixed_fractional_refuses_a_stop_on_the_wrong_side(side, stop):
    assert FixedFractionalSizer().size(request(side, stop_price=stop)).code == "stop_on_wrong_side"


def test_fixed_fractional_is_capped_at_max_weight():
    sizer = FixedFractionalSizer(FixedFractionalConfig(risk=0.05, max_weight=0.5))
    result = sizer.size(request(stop_price="99.9"))  # 500 / 0.1 = 5000 units, cap 50
    assert result.quantity == Decimal(50) and result.inputs["capped_at_max_weight"] == "true"


def test_volatility_target_by_atr():
    sizer = VolatilityTargetSizer(VolatilityTargetConfig(target=0.01, method="atr", lookback=4))
    result = sizer.size(request(bars=bars([100] * 5, spread="1")))  # true range 2 each
    assert result.inputs["atr"] == Decimal(2)
    assert result.quantity == Decimal(50) and result.method == "atr"  # 100 / 2


def test_volatility_target_by_stdev():
    config = VolatilityTargetConfig(target=0.01, method="stdev", lookback=2)
    result = VolatilityTargetSizer(config).size(request(bars=bars([100, 110, 99])))
    returns = [Decimal("0.1"), Decimal(99) / 110 - 1]
    mean = sum(returns) / 2
    stdev = (sum((r - mean) ** 2 for r in returns) / 1).sqrt()
    assert result.inputs["stdev"] == stdev
    assert result.quantity == Decimal(100) / (stdev * 100)


@pytest.mark.parametrize(
    ("history", "code"),
    [
        ([100] * 3, "not_enough_bars"),
        ([], "not_enough_bars"),
        ([100] * 21, "zero_volatility"),
    ],
)
def test_volatility_target_refusals(history, code):
    sizer = VolatilityTargetSizer(VolatilityTargetConfig(method="stdev"))
    assert sizer.size(request(bars=bars(history))).code == code


def test_volatility_target_refuses_another_symbols_bars():
    sizer = VolatilityTargetSizer(VolatilityTargetConfig(lookback=3))
    assert sizer.size(request(bars=bars([1, 2, 3, 4], symbol="ZZZ"))).code == "bad_bars"


def test_kelly_is_scaled_and_capped():
    sizer = KellySizer(KellyConfig(payoff=1.0, fraction=0.5, cap=0.2))
    result = sizer.size(request(confidence=0.6))  # kelly 0.2, half 0.1
    assert result.inputs["weight"] == Decimal("0.1") and result.quantity == Decimal(10)
    capped = sizer.size(request(confidence=0.95))  # kelly 0.9, half 0.45 -> cap 0.2
    assert capped.inputs["weight"] == Decimal("0.2") and capped.quantity == Decimal(20)


@pytest.mark.parametrize("confidence", [0.0, 0.3, 0.5])
def test_kelly_without_an_edge_refuses(confidence):
    assert KellySizer().size(request(confidence=confidence)).code == "no_edge"


@pytest.mark.parametrize(
    ("config", "kwargs"),
    [
        (FixedFractionalConfig, {"risk": 0}),
        (FixedFractionalConfig, {"risk": 1.5}),
        (FixedFractionalConfig, {"stop_distance": -0.1}),
        (VolatilityTargetConfig, {"lookback": 0}),
        (VolatilityTargetConfig, {"target": float("nan")}),
        (KellyConfig, {"payoff": 0}),
        (KellyConfig, {"cap": 2}),
        (KellyConfig, {"fraction": float("inf")}),
    ],
)
def test_bad_config_is_refused(config, kwargs):
    with pytest.raises(ValueError):
        config(**kwargs)


prices = st.decimals(min_value=Decimal("1e-6"), max_value=Decimal("1e9"), places=6)


@st.composite
def hostile_bars(draw):
    count = draw(st.integers(0, 30))
    out = []
    for i in range(count):
        low, high = sorted([draw(prices), draw(prices)])
        close = draw(st.one_of(prices, st.sampled_from([low, high])))
        symbol = draw(st.sampled_from(["AAA", "AAA", "AAA", "ZZZ"]))
        out.append(Bar(symbol, AT + timedelta(days=i), close, high, low, close))
    return out


SIZERS = [
    FixedFractionalSizer(FixedFractionalConfig(stop_distance=0.01)),
    VolatilityTargetSizer(VolatilityTargetConfig(method="atr", lookback=5)),
    VolatilityTargetSizer(VolatilityTargetConfig(method="stdev", lookback=5)),
    KellySizer(),
]


@settings(max_examples=200, deadline=None)
@given(
    history=hostile_bars(),
    price=prices,
    budget=prices,
    confidence=st.floats(0, 1),
    side=st.sampled_from(["buy", "sell"]),
)
def test_no_sizer_raises_or_returns_a_bad_quantity(history, price, budget, confidence, side):
    req = request(side, price=price, budget=budget, bars=history, confidence=confidence)
    for sizer in SIZERS:
        result = sizer.size(req)
        if result.code is None:
            assert result.quantity.is_finite() and result.quantity >= 0
            assert result.quantity <= req.budget / req.price  # max_weight 1
        else:
            assert result.code in sizer.codes
