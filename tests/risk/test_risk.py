from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.components import GuardContext
from tradekernel.models import GuardVerdict, Intent, Position, Quote
from tradekernel.risk import RiskResult, evaluate, reduces_position

NOW = datetime(2024, 6, 3, 15, tzinfo=UTC)


def intent(side="buy", quantity=None, notional=None, symbol="AAA") -> Intent:
    if quantity is None and notional is None:
        quantity = 10
    return Intent.create(symbol=symbol, side=side, quantity=quantity, notional=notional, as_of=NOW)


def ctx(state="active", positions=None, last=None) -> GuardContext:
    return GuardContext(
        as_of=NOW,
        quote=Quote(symbol="AAA", ts=NOW, last=last) if last is not None else None,
        positions={s: Position(s, *v) for s, v in (positions or {}).items()},
        account=None,
        trading_state=state,
    )


class Fixed:
    def __init__(self, allow: bool, code: str = "ok", name: str = "x") -> None:
        self.verdict = GuardVerdict(guard=name, allow=allow, code=code)
        self.calls = 0

    def check(self, intent, ctx):
        self.calls += 1
        return self.verdict


class Raises:
    def check(self, intent, ctx):
        raise ZeroDivisionError("boom")


class Answers:
    def __init__(self, answer):
        self.answer = answer

    def check(self, intent, ctx):
        return self.answer


def summary(result: RiskResult) -> list[tuple[str, bool, str]]:
    return [(v.guard, v.allow, v.code) for v in result.verdicts]


def test_every_guard_runs_and_the_first_deny_is_named():
    guards = [
        ("a", Fixed(True)),
        ("b", Fixed(False, "b_denied")),
        ("c", Fixed(True)),
        ("d", Fixed(False, "d_denied")),
    ]
    result = evaluate(guards, intent(), ctx())
    assert not result.allowed
    assert result.first_deny == GuardVerdict.denied("b", "b_denied")
    assert summary(result) == [
        ("trading_state", True, "ok"),
        ("a", True, "ok"),
        ("b", False, "b_denied"),
        ("c", True, "ok"),
        ("d", False, "d_denied"),
    ]
    assert [v.guard for v in result.denials] == ["b", "d"]
    assert all(g.calls == 1 for _, g in guards)


def test_order_is_precedence():
    guards = [("d", Fixed(False, "d_denied")), ("b", Fixed(False, "b_denied"))]
    assert evaluate(guards, intent(), ctx()).first_deny.guard == "d"


def test_all_allow_and_no_guards():
    result = evaluate([("a", Fixed(True)), ("b", Fixed(True))], intent(), ctx())
    assert result.allowed and result.first_deny is None and len(result.verdicts) == 3
    bare = evaluate([], intent(), ctx())
    assert bare.allowed and summary(bare) == [("trading_state", True, "ok")]


def test_verdicts_are_recorded_under_the_configured_name():
    result = evaluate([("my_limit", Fixed(False, "too_big", name="other"))], intent(), ctx())
    assert result.first_deny.guard == "my_limit"


def test_a_raising_guard_fails_closed_and_the_rest_still_run():
    after = Fixed(True)
    result = evaluate([("bad", Raises()), ("after", after)], intent(), ctx())
    assert not result.allowed
    assert result.first_deny.guard == "bad"
    assert result.first_deny.code == "guard_error"
    assert result.first_deny.detail == "ZeroDivisionError: boom"
    assert after.calls == 1


@pytest.mark.parametrize("answer", [None, True, "ok", {"allow": True}])
def test_a_guard_answering_nonsense_fails_closed(answer):
    result = evaluate([("odd", Answers(answer))], intent(), ctx())
    assert not result.allowed
    assert result.first_deny.code == "guard_error"
    assert result.first_deny.detail.startswith("TypeError: check() returned")


def test_halted_denies_first_but_guards_are_still_recorded():
    guard = Fixed(True)
    result = evaluate(
        [("a", guard)], intent(side="sell", quantity=1), ctx("halted", {"AAA": (5, 1)})
    )
    assert not result.allowed
    assert result.first_deny == GuardVerdict.denied(
        "trading_state", "trading_halted", "trading is halted"
    )
    assert summary(result)[1] == ("a", True, "ok")
    assert guard.calls == 1


def test_reducing_only_lets_reducing_orders_pass():
    book = {"AAA": (50, 10)}
    assert evaluate([], intent(side="sell", quantity=50), ctx("reducing", book)).allowed
    for denied in (
        intent(side="buy", quantity=1),  # adds
        intent(side="sell", quantity=51),  # flips
        intent(side="sell", quantity=1, symbol="BBB"),  # opens a short
    ):
        result = evaluate([], denied, ctx("reducing", book))
        assert result.first_deny.code == "reducing_only"
    # a reducing order still needs every configured guard
    result = evaluate(
        [("g", Fixed(False, "no"))], intent(side="sell", quantity=5), ctx("reducing", book)
    )
    assert result.first_deny.guard == "g"


def test_reducing_notional_intent_uses_the_quote():
    book = {"AAA": (10, 10, 12)}
    # at the quote 20, notional 200 is 10 shares: reducing; at the market price 12 it would be 16.7
    assert evaluate([], intent(side="sell", notional=200), ctx("reducing", book, last=20)).allowed
    assert not evaluate([], intent(side="sell", notional=200), ctx("reducing", book)).allowed


def test_unknown_trading_state_fails_closed():
    assert evaluate([], intent(), ctx("paused-ish")).first_deny.code == "unknown_trading_state"


@pytest.mark.parametrize(
    ("side", "quantity", "held", "expected"),
    [
        ("sell", 5, 10, True),  # part of a long
        ("sell", 10, 10, True),  # all of a long
        ("sell", 11, 10, False),  # flips long to short
        ("buy", 5, 10, False),  # adds to a long
        ("buy", 5, -10, True),  # buys back part of a short
        ("buy", 10, -10, True),  # covers the short
        ("buy", 11, -10, False),  # flips short to long
        ("sell", 1, -10, False),  # adds to a short
        ("sell", 1, 0, False),  # flat
        ("buy", 1, None, False),  # no position
    ],
)
def test_reduces_position(side, quantity, held, expected):
    positions = {} if held is None else {"AAA": Position("AAA", held, 10)}
    assert reduces_position(intent(side=side, quantity=quantity), positions) is expected


def test_reduces_position_with_notional():
    positions = {"AAA": Position("AAA", 10, 10, 20)}
    sell = intent(side="sell", notional=150)
    assert reduces_position(sell, positions)  # at market price 20: 7.5 shares
    assert not reduces_position(sell, positions, price=Decimal(10))  # 15 shares: flips
    assert not reduces_position(sell, {"AAA": Position("AAA", 10, 10)})  # avg 10: 15 shares


@given(
    held=st.integers(-1000, 1000),
    quantity=st.integers(1, 2000),
    side=st.sampled_from(["buy", "sell"]),
)
def test_reducing_means_smaller_without_flipping(held, quantity, side):
    after = held + (quantity if side == "buy" else -quantity)
    expected = (held != 0 and abs(after) < abs(held)) or (held != 0 and after == 0)
    expected = expected and (after == 0 or (after > 0) == (held > 0))
    positions = {"AAA": Position("AAA", held, 10)}
    assert reduces_position(intent(side=side, quantity=quantity), positions) is expected
