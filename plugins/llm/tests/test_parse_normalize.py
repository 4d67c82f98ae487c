"""Parser and normalizer: examples and property-based tests (nothing raises, every
result is a valid Decision: valid intents on candidates, or a hold)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import ChatResponse, Decision, Intent
from tradekernel_llm import NormalizeOptions, ParseFailure, extract_json, interpret, normalize

OPTIONS = NormalizeOptions(prompt_version="v1", max_intents=3)


def decide(content, inputs, options=OPTIONS) -> Decision:
    """What the strategist does with content: parse, then normalize; failures hold."""
    return interpret(
        ChatResponse(model="m", content=content, finish_reason="stop"), inputs, options
    )


def assert_valid(decision: Decision, inputs) -> None:
    assert isinstance(decision, Decision)
    if decision.is_hold:
        assert decision.hold_reason
        return
    assert decision.error_type is None
    assert 1 <= len(decision.intents) <= OPTIONS.max_intents
    for intent in decision.intents:
        assert isinstance(intent, Intent)
        assert intent.symbol in inputs.candidates
        assert (intent.quantity is None) != (intent.notional is None)
        amount = intent.quantity if intent.quantity is not None else intent.notional
        assert amount.is_finite() and amount > 0
        assert 0.0 <= intent.confidence <= 1.0
        assert intent.strategist == "llm" and intent.as_of == inputs.as_of


# -- examples -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  ```json\n{"a": 1.10}\n```  ', {"a": Decimal("1.10")}),
        ('text ```\n{"a": 2}\n``` more', {"a": 2}),
        ('noise {not json} then {"a": {"b": "}"}} tail', {"a": {"b": "}"}}),
        ("[1, 2]", [1, 2]),
    ],
)
def test_extract_json(content, expected):
    assert extract_json(content) == expected


@pytest.mark.parametrize(
    ("content", "error_type"),
    [
        (None, "empty_content"),
        ("", "empty_content"),
        ("\n ", "empty_content"),
        ("no json here", "invalid_json"),
        ("{broken", "invalid_json"),
        ("x" * 300_000, "content_too_long"),
    ],
)
def test_extract_json_failures(content, error_type):
    with pytest.raises(ParseFailure) as info:
        extract_json(content)
    assert info.value.error_type == error_type


def test_hold_wins_over_intents(inputs):
    answer = {
        "decision": "HOLD",
        "reason": "wait",
        "intents": [{"symbol": "AAA", "side": "buy", "quantity": 1}],
    }
    assert normalize(answer, inputs, OPTIONS) == Decision.hold("wait")


def test_missing_decision_is_inferred_from_intents(inputs):
    decision = normalize(
        {"intents": [{"symbol": "aaa", "side": "Buy", "quantity": "2"}]}, inputs, OPTIONS
    )
    (it,) = decision.intents
    assert (it.symbol, it.quantity, it.confidence) == ("AAA", Decimal(2), 0.5)


def test_both_amounts_quantity_wins(inputs):
    (it,) = normalize(
        {
            "decision": "trade",
            "intents": [{"symbol": "AAA", "side": "short", "quantity": 1, "notional": 100}],
        },
        inputs,
        OPTIONS,
    ).intents
    assert (str(it.side), it.quantity, it.notional) == ("sell", Decimal(1), None)


def test_close_without_position_is_dropped(inputs):
    decision = normalize(
        {"decision": "trade", "intents": [{"symbol": "AAA", "side": "close"}]}, inputs, OPTIONS
    )
    assert decision.error_type == "schema_violation" and "no long position" in decision.detail


def test_limit_order_and_market_ignores_limit_price(inputs):
    limit, market = normalize(
        {
            "decision": "trade",
            "intents": [
                {
                    "symbol": "AAA",
                    "side": "buy",
                    "quantity": 1,
                    "order_type": "LIMIT",
                    "limit_price": "101.25",
                    "time_in_force": "GTC",
                },
                {"symbol": "BBB", "side": "buy", "quantity": 1, "limit_price": 5},
            ],
        },
        inputs,
        OPTIONS,
    ).intents
    assert (str(limit.order_type), limit.limit_price, str(limit.time_in_force)) == (
        "limit",
        Decimal("101.25"),
        "gtc",
    )
    assert market.limit_price is None


def test_duplicates_are_dropped(inputs):
    it = {"symbol": "AAA", "side": "buy", "quantity": 1}
    decision = normalize({"decision": "trade", "intents": [it, it]}, inputs, OPTIONS)
    assert len(decision.intents) == 1 and "duplicate" in decision.detail


@pytest.mark.parametrize("bad", [True, "abc", "NaN", "Infinity", [1], {"x": 1}, 0, "-5", 1e13])
def test_bad_amounts(inputs, bad):
    decision = normalize(
        {"decision": "trade", "intents": [{"symbol": "AAA", "side": "buy", "quantity": bad}]},
        inputs,
        OPTIONS,
    )
    assert decision.is_hold and decision.error_type == "schema_violation"


# -- properties ----------------------------------------------------------------------------

PROPS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

numbers = (
    st.integers(-10, 10**14)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True)
    | st.from_regex(r"-?\$?[0-9,]{0,8}(\.[0-9]{0,4})?", fullmatch=True)
    | st.none()
    | st.booleans()
    | st.text(max_size=5)
)
intent_like = st.fixed_dictionaries(
    {},
    optional={
        "symbol": st.sampled_from(["AAA", " bbb", "aaa ", "ZZZ", "", "AAA\n"])
        | st.text(max_size=6)
        | st.integers(),
        "side": st.sampled_from(["buy", "SELL", "long", "short", "close", "hold", ""])
        | json_values,
        "quantity": numbers,
        "notional": numbers,
        "order_type": st.sampled_from(["market", "limit", "Stop"]) | json_values,
        "limit_price": numbers,
        "time_in_force": st.sampled_from(["day", "gtc", "ioc", "fok"]) | json_values,
        "rationale": json_values,
        "confidence": numbers,
    },
)
answers = st.fixed_dictionaries(
    {},
    optional={
        "decision": st.sampled_from(["trade", "hold", "TRADE", "sell"]) | json_values,
        "reason": json_values,
        "intents": st.lists(intent_like | json_values, max_size=6) | json_values,
    },
)


@PROPS
@given(content=st.text(max_size=400))
def test_any_text_gives_a_valid_decision(inputs, content):
    assert_valid(decide(content, inputs), inputs)


@PROPS
@given(value=json_values, prose=st.text(max_size=30))
def test_any_json_value_gives_a_valid_decision(inputs, value, prose):
    assert_valid(normalize(value, inputs, OPTIONS), inputs)
    text = json.dumps(value)
    for content in (text, f"```json\n{text}\n```", f"{prose} {text} {prose}"):
        assert_valid(decide(content, inputs), inputs)


@PROPS
@given(answer=answers)
def test_answer_shaped_values_give_a_valid_decision(inputs, answer):
    decision = normalize(answer, inputs, OPTIONS)
    assert_valid(decision, inputs)
    text = json.dumps(answer, default=str)
    assert_valid(decide(text, inputs), inputs)


amounts = (
    st.integers(1, 10**6)
    | st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4)
    .filter(lambda d: d > 0)
    .map(str)
    | st.floats(min_value=0.001, max_value=1e6)
)
good_intent = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAA", " bbb", "aaa ", "Bbb"]),
        "side": st.sampled_from(["buy", "SELL", "long", "Short", " sell "]),
        "quantity": amounts,
    },
    optional={
        "order_type": st.just("market"),
        "time_in_force": st.sampled_from(["day", "GTC", "ioc", None]),
        "rationale": st.text(max_size=40),
        "confidence": st.floats(-5, 5) | st.none(),
        "notional": amounts | st.none(),
    },
)


@PROPS
@given(
    intents=st.lists(good_intent, min_size=1, max_size=5),
    junk=st.lists(intent_like, max_size=3),
    fence=st.booleans(),
)
def test_good_intents_always_trade(inputs, intents, junk, fence):
    text = json.dumps({"decision": "trade", "reason": "r", "intents": intents}, default=str)
    decision = decide(f"```json\n{text}\n```" if fence else text, inputs)
    assert_valid(decision, inputs)
    assert not decision.is_hold  # a fully valid answer is never lost
    mixed = normalize({"decision": "trade", "intents": junk + intents}, inputs, OPTIONS)
    assert_valid(mixed, inputs)
    if mixed.error_type == "ambiguous_answer":  # junk that may say "hold" (a nested
        assert mixed.is_hold  # "decision"-like key): the whole answer holds, by design
    else:
        assert not mixed.is_hold  # invalid intents are dropped, valid ones kept


@pytest.mark.parametrize("text", ["0,5", "1,5", "10,5", "1,50"])
def test_a_decimal_comma_is_refused_never_read_as_thousands(text):
    from tradekernel_llm.normalize import Invalid, to_amount

    with pytest.raises(Invalid, match="ambiguous number"):
        to_amount(text, "quantity")


def test_thousands_grouping_still_parses():
    from decimal import Decimal

    from tradekernel_llm.normalize import to_amount

    assert to_amount("1,500.50", "notional") == Decimal("1500.50")
    assert to_amount("$12,345", "notional") == Decimal("12345")


# -- ambiguity, bare answers, finish reasons -----------------------------------------------


@pytest.mark.parametrize(
    ("content", "count"),
    [
        ('{"a": 1}', 1),
        ('Draft: {"a": 1} Final: {"a": 2}', 2),
        ('```json\n{"a": 1}\n```\n```json\n{"a": 2}\n```', 2),
        ('see [1] and {"a": 1}', 1),  # an array of numbers is not an answer
        ('[{"a": 1}, {"b": 2}] then {"c": 3}', 2),
        ('{"a": 1, "a": 1}', 1),  # a repeated key with the same value is harmless
    ],
)
def test_extract_answers_finds_every_json_value(content, count):
    from tradekernel_llm import extract_answers

    assert len(extract_answers(content)) == count


@pytest.mark.parametrize(
    ("content", "error_type"),
    [
        ('{"decision": "hold", "decision": "trade"}', "ambiguous_answer"),
        ('x {"i": [{"q": 1, "q": 2}]} y', "ambiguous_answer"),
        ('{"a": {"b": {"c": 1, "c": 2}}}', "ambiguous_answer"),
        ('{"a": 1} ' * 21, "ambiguous_answer"),
        ('{"wrapper": {"decision": "trade", "intents": []}', "invalid_json"),
        ('{"x": 1} and then {"decision": "trade"', "invalid_json"),
        ("{not json} " * 201, "invalid_json"),
        ("[" * 100_000, "invalid_json"),
    ],
    ids=["dup", "dup-nested", "dup-deep", "too-many", "unclosed", "unclosed-last", "junk", "deep"],
)
def test_extract_answers_refuses(content, error_type):
    from tradekernel_llm import extract_answers

    with pytest.raises(ParseFailure) as info:
        extract_answers(content)
    assert info.value.error_type == error_type


def test_extract_json_refuses_different_values():
    with pytest.raises(ParseFailure, match="several different"):
        extract_json('{"a": 1} {"a": 2}')
    assert extract_json('{"a": 1} {"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    ("finish_reason", "problem"),
    [
        (None, None),
        ("stop", None),
        ("Tool_Calls", None),
        ("length", "truncated"),
        ("error", "truncated"),
        ("missing", "truncated"),
        ("content_filter", "content_filtered"),
    ],
)
def test_finish_problem(finish_reason, problem):
    from tradekernel_llm.answer import finish_problem

    assert finish_problem(finish_reason) == problem


def test_redact_answer_uses_the_given_redactor():
    from tradekernel_llm import redact_answer

    secret = "sk-test-0123456789abcdef"
    response = ChatResponse(model="m", content=f"x {secret} y", refusal=None, raw={"c": secret})
    assert redact_answer(response, lambda t: t.replace(secret, "***")) is True
    assert (response.content, response.raw) == ("x *** y", None)
    clean = ChatResponse(model="m", content="x y")
    assert redact_answer(clean, lambda t: t.replace(secret, "***")) is False


@pytest.mark.parametrize(
    "value", [["hold"], False, 0, {"action": "hold"}, None, Decimal(1), ["trade"]]
)
def test_a_non_string_decision_is_a_schema_violation(inputs, value):
    answer = {"decision": value, "intents": [{"symbol": "AAA", "side": "buy", "quantity": 1}]}
    decision = normalize(answer, inputs, OPTIONS)
    assert decision.is_hold and decision.error_type == "schema_violation"
    assert "decision=" in decision.detail


def test_a_bare_intent_and_a_bare_list_trade(inputs):
    bare = {"symbol": "aaa", "side": "LONG", "quantity": "10"}
    (it,) = normalize(bare, inputs, OPTIONS).intents
    assert (it.symbol, str(it.side), it.quantity) == ("AAA", "buy", Decimal(10))
    both = normalize([bare, {"symbol": "BBB", "side": "sell", "notional": 100}], inputs, OPTIONS)
    assert [i.symbol for i in both.intents] == ["AAA", "BBB"]
    assert normalize([], inputs, OPTIONS).error_type == "schema_violation"


BARE = {"symbol": "AAA", "side": "buy", "quantity": 10}
FULL = {"decision": "trade", "intents": [BARE]}


@pytest.mark.parametrize(
    "answer",
    [
        {**BARE, "hold": True},
        {**BARE, "trade": False},
        {**BARE, "execute": False},
        {**BARE, "approved": True},
        {**BARE, "action": "no_trade"},
        {**BARE, "status": "HOLD - do not execute"},
        {**BARE, "recommendation": "hold off"},
        {**BARE, "meta": {"decision": "hold"}},
        {**BARE, "notes": [{"meta": {"Decision": "trade"}}]},
        [BARE, {**BARE, "symbol": "BBB", "execute": False}],
        {"decision": "trade", "intents": [{**BARE, "action": "skip"}]},
        {"decision": "trade", "intents": [{**BARE, "extra": {"decision": "hold"}}]},
        {**FULL, "final": {"decision": "hold"}},
        {**FULL, "execute": False},
        {**FULL, "approved": False},
        {**FULL, "hold": True},
        {**FULL, "status": "wait for the open"},
    ],
    ids=lambda a: json.dumps(a)[:70],
)
def test_a_hold_in_a_flag_status_or_nested_decision_is_ambiguous(inputs, answer):
    decision = decide(json.dumps(answer), inputs)
    assert decision.intents == () and decision.error_type == "ambiguous_answer"


@pytest.mark.parametrize(
    "answer",
    [
        {**BARE, "rationale": "hold for two weeks; do not hold overnight"},
        {**FULL, "reason": "HOLD then add", "execute": True},
        {"decision": "trade", "intents": [{**BARE, "notes": "wait for a pullback next time"}]},
        {**BARE, "side": "buy", "confidence": 0.7, "analysis": "Hold-like wording is prose"},
    ],
    ids=lambda a: json.dumps(a)[:70],
)
def test_prose_that_mentions_holding_still_trades(inputs, answer):
    decision = decide(json.dumps(answer), inputs)
    assert decision.error_type is None and len(decision.intents) == 1
