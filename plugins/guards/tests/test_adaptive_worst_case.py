"""The adaptive limit never loosens because its inputs got worse or went missing: an
equity at or below zero is the deepest drawdown, a missing account keeps the last
drawdown, and bad closes are left out of the volatility (or the last measure is kept)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st
from tradekernel.api import Account, Bar
from tradekernel_guards import AdaptiveNotionalConfig, AdaptiveNotionalGuard
from tradekernel_guards.adaptive import realised_volatility


def guard() -> AdaptiveNotionalGuard:
    return AdaptiveNotionalGuard(AdaptiveNotionalConfig(ceiling=D(1000)))


def account(equity) -> Account:
    return Account(cash=equity, equity=equity)


def bars(h, closes) -> tuple[Bar, ...]:
    return tuple(
        Bar(symbol="AAA", ts=h.NOW, open=c, high=c, low=c, close=c, volume=1) for c in closes
    )


WILD = [100 * (1.1 if i % 2 else 1.0) for i in range(21)]


def test_equity_at_or_below_zero_is_the_deepest_drawdown(h):
    g = guard()
    g.check(h.intent(quantity=1), h.ctx(last=100, account=account(D(100_000))))  # the peak
    for equity in (D(0), D(-20_000)):
        limit, inputs = g.limit(h.intent(quantity=9), h.ctx(last=100, account=account(equity)))
        assert limit == D("100.00") and inputs["drawdown"] == 1.0
        assert not g.check(h.intent(quantity=9), h.ctx(last=100, account=account(equity))).allow


def test_a_first_equity_at_zero_is_the_floor(h):
    limit, _ = guard().limit(h.intent(), h.ctx(last=100, account=account(D(0))))
    assert limit == D("100.00")


def test_a_missing_account_keeps_the_last_drawdown(h):
    g = guard()
    g.check(h.intent(quantity=1), h.ctx(last=100, account=account(D(100_000))))
    g.check(h.intent(quantity=1), h.ctx(last=100, account=account(D(50_000))))
    limit, inputs = g.limit(h.intent(quantity=9), h.ctx(last=100, account=None))
    assert limit == D("100.00") and inputs["drawdown"] == 0.5
    assert guard().limit(h.intent(), h.ctx(last=100, account=None))[0] == D(1000)  # start-up


def test_a_bad_close_is_left_out_of_the_volatility(h):
    g = guard()
    tight, _ = g.limit(h.intent(), h.ctx(last=100, bars=bars(h, WILD)))
    assert tight < D(1000)
    limit, inputs = g.limit(h.intent(), h.ctx(last=100, bars=bars(h, [*WILD[:-1], 0])))
    assert limit < D(1000) and inputs["volatility"] > 0.02


def test_unmeasurable_volatility_keeps_the_last_measure(h):
    g = guard()
    tight, _ = g.limit(h.intent(), h.ctx(last=100, bars=bars(h, WILD)))
    assert g.limit(h.intent(), h.ctx(last=100, bars=bars(h, [0, 0, 0, 0])))[0] == tight
    assert g.limit(h.intent(), h.ctx(last=100, bars=()))[0] == tight
    assert guard().limit(h.intent(), h.ctx(last=100, bars=()))[0] == D(1000)  # start-up


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.just(0.0), max_size=30))
def test_volatility_skips_bad_closes_and_stays_finite(closes):
    vol = realised_volatility(closes)
    assert vol is None or vol >= 0
