from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.api import Account, Bar, ConfigError, GuardContext, Intent
from tradekernel_guards import AdaptiveNotionalConfig, AdaptiveNotionalGuard
from tradekernel_guards.adaptive import realised_volatility

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)


def bars(closes, h):
    return tuple(
        Bar(symbol="AAA", ts=h.NOW, open=c, high=c, low=c, close=c, volume=1) for c in closes
    )


def calm(n=21):
    return [100 + (i % 2) * 0.5 for i in range(n)]  # ~0.5 % moves


def wild(n=21):
    return [100 * (1.1 if i % 2 else 1.0) for i in range(n)]  # ~10 % moves


def guard(events=None, **cfg):
    cfg.setdefault("ceiling", D(1000))
    emit = (lambda *a, **k: events.append((a, k))) if events is not None else None
    return AdaptiveNotionalGuard(AdaptiveNotionalConfig(**cfg), emit=emit)


def account(equity):
    return Account(cash=equity, equity=equity)


def test_calm_market_gets_the_ceiling(h):
    events = []
    g = guard(events)
    verdict = g.check(h.intent(quantity=10), h.ctx(last=100, bars=bars(calm(), h)))
    assert verdict.allow and "limit 1000 of ceiling 1000" in verdict.detail
    assert events == []  # nothing adjusted


def test_volatility_tightens_the_limit_and_emits_its_inputs(h):
    events = []
    g = guard(events, vol_reference=0.02)
    verdict = g.check(h.intent(quantity=10), h.ctx(last=100, bars=bars(wild(), h)))
    assert not verdict.allow and verdict.code == "adaptive_notional_exceeded"
    assert "volatility" in verdict.detail
    ((args, fields),) = events
    assert args == ("guard", "adaptive_limit")
    assert D(fields["limit"]) < D(1000) and fields["ceiling"] == "1000"
    assert fields["volatility"] > 0.02 and fields["bars"] == 21
    # the same limit again: no second event
    g.check(h.intent(quantity=1), h.ctx(last=100, bars=bars(wild(), h)))
    assert len(events) == 1


def test_drawdown_tightens_down_to_the_floor(h):
    g = guard(drawdown_max=0.2, floor_ratio=0.1)
    c = lambda eq: h.ctx(last=100, account=account(eq), bars=bars(calm(), h))  # noqa: E731
    assert g.limit(h.intent(), c(10_000))[0] == D(1000)
    limit, inputs = g.limit(h.intent(), c(9_000))  # 10 % down: half way to the floor
    assert limit == D("550.00") and inputs["drawdown"] == 0.1
    assert g.limit(h.intent(), c(5_000))[0] == D("100.00")  # deeper than max: the floor
    assert g.limit(h.intent(), c(11_000))[0] == D(1000)  # a new peak


def test_no_price_denies(h):
    assert guard().check(h.intent(quantity=1), h.ctx()).code == "no_price"


@given(
    closes=st.lists(st.floats(min_value=0.01, max_value=1e6), min_size=0, max_size=40),
    equity=st.decimals(min_value=1, max_value=10**9, places=2),
)
def test_never_looser_than_the_ceiling(closes, equity):
    g = guard(ceiling=D(500))
    ctx = GuardContext(
        as_of=None,
        quote=None,
        positions={},
        account=account(equity),
        bars=tuple(
            Bar(symbol="AAA", ts=NOW, open=c, high=c, low=c, close=c, volume=1) for c in closes
        ),
    )
    limit, _ = g.limit(Intent.create(symbol="AAA", side="buy", quantity=1), ctx)
    assert D("50.00") <= limit <= D(500)
    vol = realised_volatility(closes)
    assert vol is None or (math.isfinite(vol) and vol >= 0)


def test_config_is_validated(h, tmp_path):
    with pytest.raises(ConfigError, match="floor_ratio"):
        h.load_settings(
            tmp_path,
            '[components]\nguards = ["adaptive_notional"]\n'
            "[guard.adaptive_notional]\nceiling = 100\nfloor_ratio = 0\n",
        ).component_config("guard", "adaptive_notional", AdaptiveNotionalConfig)
