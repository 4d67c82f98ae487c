"""Prompt v2: an intent may give a weight, a stop price, or only a direction, for the
kernel's sizing to size. Every hostile-answer rule still holds: a bad weight drops the
intent, two sizes at once hold the whole answer, and prompt v1 still needs an amount."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import ChatResponse, Decision
from tradekernel_llm import NormalizeOptions, interpret
from tradekernel_llm.prompt import build_messages
from tradekernel_llm.schema import DECISION_SCHEMA, DECISION_SCHEMA_V2, SCHEMAS

from .conftest import make_inputs

V1 = NormalizeOptions(prompt_version="v1", max_intents=3)
V2 = NormalizeOptions(prompt_version="v2", max_intents=3, sizing=True)


def decide(intents, options=V2, **answer) -> Decision:
    body = {"decision": "trade", "reason": "r", "intents": intents, **answer}
    response = ChatResponse(model="m", content=json.dumps(body), finish_reason="stop")
    return interpret(response, make_inputs(), options)


def test_a_weight_becomes_an_unsized_intent_with_its_target():
    (intent,) = decide(
        [{"symbol": "AAA", "side": "buy", "weight": 0.1, "stop_price": "98"}]
    ).intents
    assert intent.target_weight == Decimal("0.1") and intent.stop_price == Decimal(98)
    assert intent.quantity is None and intent.notional is None and not intent.sized


def test_a_direction_is_left_to_the_sizer():
    (intent,) = decide([{"symbol": "AAA", "side": "long", "confidence": 0.8}]).intents
    assert not intent.sized and intent.target_weight is None and intent.side == "buy"


def test_sell_to_weight_zero_closes():
    (intent,) = decide([{"symbol": "BBB", "side": "sell", "weight": 0}]).intents
    assert intent.target_weight == 0 and intent.side == "sell"


def test_an_amount_still_wins_over_nothing_and_default_quantity_over_a_direction():
    (intent,) = decide([{"symbol": "AAA", "side": "buy", "quantity": 3}]).intents
    assert intent.quantity == 3 and intent.sizing is None
    with_default = NormalizeOptions(prompt_version="v2", sizing=True, default_quantity=Decimal(2))
    (intent,) = decide([{"symbol": "AAA", "side": "buy"}], with_default).intents
    assert intent.quantity == 2


@pytest.mark.parametrize(
    "raw",
    [
        {"symbol": "AAA", "side": "buy", "weight": 0.1},
        {"symbol": "AAA", "side": "buy"},
        {"symbol": "AAA", "side": "buy", "stop_price": 95},
    ],
)
def test_prompt_v1_still_needs_an_amount(raw):
    decision = decide([raw], V1)
    assert decision.is_hold and decision.error_type == "missing_amount"


@pytest.mark.parametrize(
    "raw",
    [
        {"symbol": "AAA", "side": "buy", "weight": 0.1, "quantity": 5},
        {"symbol": "AAA", "side": "buy", "weight": "0.1", "notional": "100"},
        {"symbol": "AAA", "side": "buy", "WEIGHT": 0.5, "Quantity": 5},
        {"symbol": "BBB", "side": "close", "weight": 0.5},
    ],
)
@pytest.mark.parametrize("options", [V1, V2], ids=["v1", "v2"])
def test_two_sizes_at_once_hold_the_whole_answer(raw, options):
    fine = {"symbol": "BBB", "side": "buy", "quantity": 1}
    decision = decide([fine, raw], options)
    assert decision.is_hold and decision.error_type == "ambiguous_answer"


@pytest.mark.parametrize(
    "weight",
    [1.5, -0.1, "10%", "NaN", "Infinity", True, [0.1], {"w": 1}, "0,5", "1e400", "abc", 1e309],
)
def test_a_bad_weight_drops_the_intent(weight):
    decision = decide([{"symbol": "AAA", "side": "buy", "weight": weight}])
    assert decision.is_hold and decision.error_type == "schema_violation"


@pytest.mark.parametrize("stop", [-1, 0, "abc", True, "NaN", [95]])
def test_a_bad_stop_price_drops_the_intent(stop):
    decision = decide([{"symbol": "AAA", "side": "buy", "stop_price": stop}])
    assert decision.is_hold and decision.error_type == "schema_violation"


def test_a_hold_flag_beside_a_weight_still_holds():
    raw = {"symbol": "AAA", "side": "buy", "weight": 0.2, "execute": False}
    decision = decide([raw])
    assert decision.is_hold and decision.error_type == "ambiguous_answer"


def test_v2_has_its_own_prompt_and_schema_and_v1_is_unchanged():
    inputs = make_inputs()
    v1 = build_messages(inputs, "v1", max_intents=3)
    v2 = build_messages(inputs, "v2", max_intents=3)
    assert "weight" not in v1[0].content and '"weight"' in v2[0].content
    assert v1[1].content == v2[1].content  # the same market state
    assert SCHEMAS == {"v1": DECISION_SCHEMA, "v2": DECISION_SCHEMA_V2}
    assert "weight" not in DECISION_SCHEMA["properties"]["intents"]["items"]["properties"]
    items = DECISION_SCHEMA_V2["properties"]["intents"]["items"]
    assert set(items["required"]) == set(items["properties"]) >= {"weight", "stop_price"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**20), 10**20)
    | st.text(max_size=8)
    | st.sampled_from(["0.1", "1", "0", "-0", "1.0000001", " 0.5 ", "5%", "1e-30"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weight=json_values,
    quantity=json_values,
    notional=json_values,
    stop=json_values,
    side=st.sampled_from(["buy", "sell", "close", "long", "hold", 1]),
    sizing=st.booleans(),
)
def test_fuzzed_sizes_never_become_an_unsound_intent(
    weight, quantity, notional, stop, side, sizing
):
    options = V2 if sizing else V1
    raw = {"symbol": "AAA", "side": side, "weight": weight, "quantity": quantity}
    raw.update(notional=notional, stop_price=stop)
    decision = decide([raw], options)
    assert isinstance(decision, Decision)
    for intent in decision.intents:
        assert not (intent.target_weight is not None and intent.sized)
        if intent.target_weight is not None:
            assert sizing and 0 <= intent.target_weight <= 1
        if not intent.sized:
            assert sizing, "prompt v1 passed on an intent without an amount"
        if intent.stop_price is not None:
            assert intent.stop_price.is_finite() and intent.stop_price > 0
