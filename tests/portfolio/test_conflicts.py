"""Conflict resolution between strategies: net, priority, veto, and the fill split."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.portfolio.conflicts import ConflictPolicy, resolve_conflicts
from tradekernel.portfolio.shares import Share, split_fill

AS_OF = datetime(2026, 1, 5, 15, tzinfo=UTC)


def intent(strategist: str, side: str, qty: str | int, symbol: str = "AAA", **kw):
    from tradekernel.models import Intent

    return Intent.create(
        symbol=symbol,
        side=side,
        quantity=Decimal(str(qty)),
        strategist=strategist,
        as_of=AS_OF,
        **kw,
    )


NET = ConflictPolicy("net", ("fast", "slow"))
PRIORITY = ConflictPolicy("priority", ("slow", "fast"))
VETO = ConflictPolicy("veto", ("fast", "slow"))


def test_one_strategy_per_symbol_is_no_conflict():
    a, b = intent("fast", "buy", 10), intent("slow", "sell", 4, symbol="BBB")
    for policy in (NET, PRIORITY, VETO):
        res = resolve_conflicts([a, b], policy)
        assert res.intents == [a, b] and not res.dropped and not res.conflicts


def test_net_makes_one_intent_for_the_net_with_each_share():
    a, b, other = (
        intent("fast", "buy", 10),
        intent("slow", "sell", 4),
        intent("fast", "buy", 1, "BBB"),
    )
    res = resolve_conflicts([a, b, other], NET)
    ((netted, shares),) = res.netted
    assert res.intents == [netted, other]
    assert netted.side.value == "buy" and netted.quantity == 6 and netted.symbol == "AAA"
    assert netted.strategist == "fast+slow"
    assert [(s.strategist, s.intent_id, s.amount) for s in shares] == [
        ("fast", a.id, Decimal(10)),
        ("slow", b.id, Decimal(-4)),
    ]
    assert not res.dropped
    # deterministic: the same inputs net to the same intent, hence the same client order id
    again = resolve_conflicts([b, a, other], NET).netted[0][0]
    assert again.id == netted.id and again.client_order_id == netted.client_order_id


def test_net_to_zero_drops_both():
    a, b = intent("fast", "buy", 5), intent("slow", "sell", 5)
    res = resolve_conflicts([a, b], NET)
    assert res.intents == [] and not res.netted
    assert sorted(c for _, c in res.dropped) == ["conflict_netted_out"] * 2
    assert res.conflicts[0].policy == "net"


def test_net_falls_back_to_priority_when_the_inputs_cannot_be_summed():
    a = intent("fast", "buy", 5)
    b = intent("slow", "sell", 3, order_type="limit", limit_price=Decimal("9"))
    res = resolve_conflicts([a, b], NET)
    assert res.intents == [a] and res.dropped == [(b, "conflict_lost")]
    assert res.conflicts[0].policy == "priority" and "not nettable" in res.conflicts[0].note


def test_priority_keeps_the_higher_ranked_strategy():
    a, b = intent("fast", "buy", 5), intent("slow", "sell", 3)
    res = resolve_conflicts([a, b], PRIORITY)
    assert res.intents == [b] and res.dropped == [(a, "conflict_lost")]


def test_priority_ranks_unlisted_strategies_last_by_name():
    a, b = intent("zeta", "buy", 5), intent("alpha", "buy", 3)
    res = resolve_conflicts([a, b], ConflictPolicy("priority", ()))
    assert res.intents == [b]


def test_veto_cancels_opposite_sides_and_keeps_one_side():
    a, b = intent("fast", "buy", 5), intent("slow", "sell", 3)
    res = resolve_conflicts([a, b], VETO)
    assert res.intents == [] and {c for _, c in res.dropped} == {"conflict_vetoed"}
    c, d = intent("fast", "buy", 5), intent("slow", "buy", 3)
    res = resolve_conflicts([c, d], VETO)
    assert res.intents == [c, d] and not res.dropped


def test_split_fill_gives_each_strategy_its_part():
    shares = [Share("fast", "a", Decimal(10)), Share("slow", "b", Decimal(-4))]
    assert split_fill(Decimal(6), shares) == {"fast": Decimal(10), "slow": Decimal(-4)}
    half = split_fill(Decimal(3), shares)
    assert half == {"fast": Decimal(5), "slow": Decimal(-2)}


def test_split_fill_refuses_a_zero_net():
    with pytest.raises(ValueError):
        split_fill(Decimal(1), [Share("a", "x", Decimal(1)), Share("b", "y", Decimal(-1))])


amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3)


@given(
    st.lists(st.tuples(amounts, st.booleans()), min_size=2, max_size=5),
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(1), places=8),
)
def test_split_fill_parts_sum_to_the_fill_exactly(raw, fraction):
    shares = [Share(f"s{i}", f"i{i}", a if buy else -a) for i, (a, buy) in enumerate(raw)]
    net = sum((s.amount for s in shares), Decimal(0))
    if net == 0:
        return
    quantity = (abs(net) * fraction).quantize(Decimal("0.00000001")) or Decimal("0.00000001")
    parts = split_fill(quantity, shares)
    assert sum(parts.values(), Decimal(0)) == (quantity if net > 0 else -quantity)
    for s in shares:  # each part is its share's proportion, by largest remainder at 1e-8
        exact = s.amount * quantity / abs(net)
        assert abs(parts[s.strategist] - exact) < Decimal("1e-8")


def test_split_fill_is_exact_beyond_the_default_decimal_precision():
    shares = [Share("a", "x", Decimal(10)), Share("b", "y", Decimal(-4))]
    for fill in (Decimal("12345678901234567.123456789012345"), Decimal("1e20")):
        parts = split_fill(fill, shares)
        with localcontext() as context:  # the check's own sum must not round either
            context.prec = 80
            assert sum(parts.values()) == fill
        assert "E" not in str(parts["a"]) and "E" not in str(parts["b"])
    close = [Share("a", "x", Decimal("1e17")), Share("b", "y", Decimal("-99999999999999999"))]
    assert split_fill(Decimal(1), close) == {
        "a": Decimal("100000000000000000"),
        "b": Decimal("-99999999999999999"),
    }
