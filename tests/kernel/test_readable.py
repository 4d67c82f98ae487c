"""Money and quantities as a person reads them (tradekernel.readable): never more than the
cent, rounded half-even from the exact value, never an exponent; machine forms keep it all."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal

from hypothesis import given
from hypothesis import strategies as st
from tradekernel.readable import format_money, format_quantity

finite = st.decimals(allow_nan=False, allow_infinity=False)
any_number = st.one_of(
    finite,
    finite.map(str),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
EXACT = Context(prec=1000)
MONEY = re.compile(r"^-?\d+\.\d{2}$")


@given(any_number)
def test_money_never_has_more_than_two_places_and_is_the_rounded_value(value):
    text = format_money(value)
    assert MONEY.match(text), text
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    assert abs(EXACT.subtract(Decimal(text), exact)) <= Decimal("0.005")
    assert text != "-0.00"


@given(finite, st.integers(min_value=0, max_value=8))
def test_money_places_are_exactly_the_asked_ones(value, places):
    text = format_money(value, places)
    assert "e" not in text.lower()
    assert len(text.partition(".")[2]) == places


@given(finite)
def test_the_machine_form_keeps_every_digit_while_the_human_form_rounds(value):
    """What --json and report.v1 carry (the exact string) reads back to the same Decimal;
    only the shown text is rounded."""
    exact = format(value, "f")
    assert Decimal(json.loads(json.dumps({"equity": exact}))["equity"]) == value
    shown = format_money(exact)
    assert MONEY.match(shown) and abs(Decimal(shown) - value) <= Decimal("0.005")
    if value == value.quantize(Decimal("0.01"), ROUND_HALF_EVEN, Context(prec=1000)):
        assert Decimal(shown) == value  # nothing to round: the same amount


def test_the_dashboard_examples_of_the_issue():
    assert format_money("104200.83273127") == "104200.83"
    assert format_money("0.0000000000") == "0.00"
    assert format_money("-0.004") == "0.00"
    assert format_money("2.675") == "2.68"  # exact decimal, not the float 2.67499...
    assert format_money("2.665") == "2.66"  # half-even
    assert format_money("1E+3") == "1000.00"
    assert format_money(None) == "-"
    assert format_money("n/a") == "n/a" and format_money("NaN") == "NaN"
    assert format_money(True) == "True"  # a boolean is not an amount


@given(finite, st.sampled_from(["1", "0.1", "0.001", "0.00000001", "5", "0.25"]))
def test_quantity_shows_its_step_places_and_never_rounds_off_the_step(value, step):
    """At least the step's places; a value off its step keeps its own (up to 8)."""
    text = format_quantity(value, step)
    places = len(text.partition(".")[2])
    step_places = max(0, -Decimal(step).normalize().as_tuple().exponent)
    own_places = max(0, -value.normalize(EXACT).as_tuple().exponent) if value else 0
    assert step_places <= places <= max(step_places, min(own_places, 8))
    assert abs(EXACT.subtract(Decimal(text), value)) <= Decimal("0.000000005")
    if own_places <= 8:
        assert Decimal(text) == value  # nothing hidden


@given(finite)
def test_quantity_without_a_step_drops_trailing_zeros_and_keeps_at_most_eight_places(value):
    text = format_quantity(value)
    assert "e" not in text.lower() and text != "-0"
    assert len(text.partition(".")[2]) <= 8
    assert not text.endswith(".") and not ("." in text and text.endswith("0"))
    assert abs(EXACT.subtract(Decimal(text), value)) <= Decimal("0.000000005")


def test_quantity_examples():
    assert format_quantity("20.0000000000") == "20"
    assert format_quantity("0.123", "0.001") == "0.123"
    assert format_quantity("0.12345", "0.001") == "0.12345"  # off its step: not rounded
    assert format_quantity("2.5", 1) == "2.5"
    assert format_quantity("3", "0.01") == "3.00"
    assert format_quantity("100") == "100"
    assert format_quantity(None) == "-"
