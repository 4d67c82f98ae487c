"""Hostile budgets, allocators and ledgers: bad values are refused naming the strategy,
absurd amounts are refused, and the per-strategy books add up to the account exactly
whatever the shares, partial fills and prices (property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.errors import ConfigError
from tradekernel.models import Fill, Position
from tradekernel.portfolio.allocation import Allocation
from tradekernel.portfolio.ledger import StrategyLedger
from tradekernel.portfolio.sizing import size_intents
from tradekernel.runtime.control import Control
from tradekernel.store import Store

from .test_budgets import CONFIG

TWO = """
[components]
strategists = ["fast", "slow"]
[strategist.fast]
use = "sma-cross"
[strategist.slow]
use = "sma-cross"
fast = 3
slow = 9
[portfolio.budgets.fast]
amount = 100
[portfolio.budgets.slow]
{body}
"""


@pytest.mark.parametrize(
    "body",
    [
        "fraction = nan",
        "fraction = inf",
        "fraction = -0.5",
        "fraction = 1e308",
        "amount = nan",
        "amount = -inf",
        "amount = 0",
        'amount = "NaN"',
        "amount = true",
        "fraction = 0.1\nmax_gross_exposure = nan",
        "fraction = 0.1\ndrawdown_stop = nan",
        "fraction = 0.1\nfractoin = 0.2",
    ],
)
def test_a_bad_budget_is_refused_naming_its_strategy(kernel_factory, body):
    """Two budgets: the error says which one (``budgets.slow``), with the key."""
    with pytest.raises(ConfigError, match=r"\[portfolio\] budgets\.slow[.:]"):
        kernel_factory.build(TWO.format(body=body))


def test_a_budget_that_is_not_a_table_is_refused(kernel_factory):
    with pytest.raises(ConfigError, match=r"budgets\.fast: expected a table, got int"):
        kernel_factory.build("[portfolio.budgets]\nfast = 5\n")


@pytest.mark.parametrize(
    "body", ['amount = "1e999999"', "amount = 1e16", 'fraction = 0.1\nmax_gross_exposure = "9e99"']
)
def test_an_absurd_amount_is_refused(kernel_factory, body):
    """A finite Decimal of a million digits would be written out in events and reports."""
    with pytest.raises(ConfigError, match="at most 1e15"):
        kernel_factory.build(TWO.format(body=body))


def test_an_allocator_answering_an_absurd_amount_keeps_the_budget(kernel_factory):
    kernel, recorder = kernel_factory.build(CONFIG)
    control = Control(Store.open(kernel.settings.state_dir), kernel.settings.runtime)

    class Huge:
        def allocate(self, request):
            return {"fast": D("1e999999"), "slow": D("1e16")}

    allocation = Allocation(Huge(), kernel.settings.portfolio, control=control, emit=kernel.emit)
    ctx = allocation.context(StrategyLedger(), {}, D(100000))
    assert {n: lim.capital for n, lim in ctx.limits.items()} == {"fast": 10000, "slow": 25000}
    (event,) = [e for e in recorder.events if e.kind == "allocation"]
    assert event.fields["cause"] == "start" and len(str(event.fields)) < 300


T0 = datetime(2026, 1, 5, tzinfo=UTC)
weights = st.dictionaries(
    st.sampled_from(["a", "b", "c"]), st.integers(-50, 50).filter(bool), min_size=1, max_size=3
)
order = st.tuples(
    st.sampled_from(["buy", "sell"]),
    weights,
    st.lists(st.integers(1, 9), min_size=1, max_size=3),  # partial fills, in units
    st.integers(1, 4),  # decimal places of the quantities
    st.integers(100, 99999),  # price in cents
)


@settings(max_examples=150, deadline=None)
@given(st.lists(order, min_size=1, max_size=25), st.integers(100, 99999))
def test_fifo_books_add_up_to_the_account_exactly(orders, mark_cents):
    """Netted orders (signed shares, crossed strategies), split over partial fills at
    several precisions: positions, commissions and total P&L of the books equal the
    account's exactly (hence to the cent), and every part is clean at its precision."""
    ledger = StrategyLedger()
    cash = held = fees = D(0)
    n = 0
    for k, (side, raw, fills, at, cents) in enumerate(orders):
        total = sum(raw.values())
        if total == 0:
            continue
        oriented = {s: D(w if total > 0 else -w) for s, w in raw.items()}
        unit = D(1).scaleb(-at)
        price = D(cents) / 100
        for units in fills:
            n += 1
            qty = D(units) * unit
            fee = (qty * price * D("0.0013")).quantize(D("0.0000001"))
            fill = Fill(
                f"f{n}", f"o{k}", "AAA", side, qty, price, ts=T0 + timedelta(n), commission=fee
            )
            parts = ledger.apply(fill, oriented)
            signed = (p.quantity if p.side == fill.side else -p.quantity for p in parts.values())
            assert sum(signed, D(0)) == qty
            for part in parts.values():
                assert part.quantity == part.quantity.quantize(unit)
                assert part.commission == part.commission.quantize(D("0.0000001"))
            assert sum((p.commission for p in parts.values()), D(0)) == fee
            sign = 1 if side == "buy" else -1
            cash -= sign * qty * price
            held += sign * qty
            fees += fee
    mark = D(mark_cents) / 100
    account = cash + held * mark - fees
    books = ledger.books.values()
    assert ledger.positions().get("AAA", D(0)) == held
    assert sum((b.commissions for b in books), D(0)) == fees
    assert sum(ledger.pnl({"AAA": mark}).values(), D(0)) == account


@pytest.mark.parametrize("answer", ["1e999999", "123456789012345678901234567890.5", "2e15"])
def test_a_sizer_answering_an_absurd_size_is_dropped_never_raised(answer):
    """Beyond 1e15 units decimal arithmetic rounds (up) or overflows: dropped with a code."""
    from .test_sizing import Fixed, ctx, intent

    out, denials = size_intents([intent(confidence=0.5)], ctx(Fixed(answer)))
    assert out == [] and [d.code for d in denials] == ["size_too_large"]


def test_sizing_overflow_is_a_sizer_error_not_a_crash():
    from .test_sizing import Fixed, ctx, intent, quotes

    weight = intent(target_weight=D("1"))
    out, denials = size_intents([weight], ctx(Fixed("1"), quotes=quotes("1e-999990")))
    assert out == [] and [d.code for d in denials] in (["size_too_large"], ["sizer_error"])


def test_a_target_weight_counts_the_strategys_own_position():
    """The account holds 30 AAA (fast's 10, slow's 20): fast's weight of 0.1 of 10,000
    at 100 (10 units) is reached by its own 10; slow's sell is capped at its own 20."""
    from .test_sizing import Fixed, ctx, intent

    own = {"fast": {"AAA": D(10)}, "slow": {"AAA": D(20)}}
    account = {"AAA": Position(symbol="AAA", quantity=D(30), avg_price=D(100))}
    c = ctx(Fixed("50"), positions=account, strategy_positions=own)
    out, denials = size_intents([intent(target_weight=D("0.2"))], c)
    assert [i.quantity for i in out] == [10] and denials == []  # 20 wanted, 10 its own
    out, denials = size_intents([intent(strategist="slow", side="sell", confidence=0.5)], c)
    assert [i.quantity for i in out] == [20]  # capped at slow's own 20, not the account's 30
    alone = ctx(Fixed("50"), positions=account)
    assert [i.quantity for i in size_intents([intent(target_weight=D("0.2"))], alone)[0]] == []
