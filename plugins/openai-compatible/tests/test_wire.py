"""Parsing of the provider wire format."""

from __future__ import annotations

import pytest


def test_negative_or_non_finite_usage_is_unknown_never_a_refund():
    from tradekernel_openai_compatible.wire import parse_usage

    usage = parse_usage(
        {"prompt_tokens": -1000, "completion_tokens": 3, "total_tokens": -997, "cost": -48.1}
    )
    assert (usage.prompt_tokens, usage.total_tokens, usage.cost_usd) == (None, None, None)
    assert usage.completion_tokens == 3
    assert parse_usage({"cost": float("nan")}).cost_usd is None
    assert parse_usage({"cost": float("inf")}).cost_usd is None


def test_finish_reason_is_carried_and_a_missing_one_is_marked():
    from tradekernel.api import FINISH_REASON_MISSING
    from tradekernel_openai_compatible.testing import completion
    from tradekernel_openai_compatible.wire import parse_completion

    def finish(value):
        return parse_completion(completion("{}", finish_reason=value))["finish_reason"]

    assert finish("stop") == "stop"
    assert finish(" LENGTH ") == "length"
    assert finish("content_filter") == "content_filter"
    assert finish(None) == FINISH_REASON_MISSING == "missing"  # no key at all
    body = completion("{}")
    for bad in (None, "", 3, ["stop"]):
        body["choices"][0]["finish_reason"] = bad
        assert parse_completion(body)["finish_reason"] == FINISH_REASON_MISSING
    with pytest.raises(Exception, match="no choices"):
        parse_completion({"choices": []})


# -- answer fields the parser used to drop -----------------------------------------------

TRADE = '{"decision": "trade", "intents": [{"symbol": "AAA", "side": "buy", "quantity": 1}]}'
HOLD = {"decision": "hold", "reason": "risk"}


def _message(**message):
    from tradekernel_openai_compatible.testing import completion

    body = completion(TRADE)
    body["choices"][0]["message"] = {"role": "assistant", **message}
    return body


def test_a_legacy_function_call_is_read_beside_the_content():
    import json

    from tradekernel_openai_compatible.wire import parse_completion

    parsed = parse_completion(
        _message(content=TRADE, function_call={"name": "decide", "arguments": json.dumps(HOLD)})
    )
    assert parsed["content"] == f"{TRADE}\n{json.dumps(HOLD)}"  # two answers: ambiguous


def test_refusal_parts_and_non_string_refusals_are_refusals():
    from tradekernel_openai_compatible.wire import parse_completion

    parts = [{"type": "text", "text": TRADE}, {"type": "refusal", "refusal": "I can't"}]
    assert parse_completion(_message(content=parts))["refusal"] == "I can't"
    assert parse_completion(_message(content=TRADE, refusal=True))["refusal"] == "true"
    refusal = parse_completion(_message(content=TRADE, refusal={"message": "no"}))["refusal"]
    assert refusal == '{"message": "no"}'
    for none in (None, False, "", {}):  # what servers send when the model did not refuse
        assert parse_completion(_message(content=TRADE, refusal=none))["refusal"] is None
    reasoning = [{"type": "reasoning", "text": "hold?"}, {"type": "text", "text": TRADE}]
    assert parse_completion(_message(content=reasoning))["content"] == TRADE


@pytest.mark.parametrize(
    "message",
    [
        {"content": TRADE, "tool_calls": [{"function": {"name": "d", "arguments": [HOLD]}}]},
        {"content": TRADE, "tool_calls": [{"function": {"name": "d", "parameters": HOLD}}]},
        {"content": TRADE, "tool_calls": [{"function": {"name": "d", "arguments": 1}}]},
        {"content": TRADE, "tool_calls": {"function": {"arguments": "{}"}}},
        {"content": TRADE, "tool_calls": ["hold"]},
        {"content": TRADE, "function_call": {"name": "d", "arguments": [HOLD]}},
        {"content": HOLD},
        {"content": 0.5},
        {"content": [{"type": "text", "text": TRADE}, {"type": "text", "content": "hold"}]},
        {"content": [{"type": "text", "text": TRADE}, {"type": "image_url", "image_url": "x"}]},
        {"content": [{"type": "text", "text": TRADE}, "hold"]},
    ],
    ids=lambda m: repr(m)[:60],
)
def test_an_answer_field_of_an_unknown_shape_is_a_bad_response(message):
    from tradekernel.api import ProviderError
    from tradekernel_openai_compatible.wire import parse_completion

    with pytest.raises(ProviderError, match="shape") as caught:
        parse_completion(_message(**message))
    assert caught.value.error_type == "bad_response"


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("MAX_TOKENS", "max_tokens"),
        ("max_tokens", "max_tokens"),
        ("length", "length"),
        ("STOP", "stop"),
        ("end_turn", "stop"),
        (None, "stop"),
        (7, "stop"),
    ],
)
def test_a_length_like_native_finish_reason_is_a_truncation(native, expected):
    """OpenRouter passes on the upstream model's own reason beside its normalised one."""
    from tradekernel_openai_compatible.testing import completion
    from tradekernel_openai_compatible.wire import parse_completion

    body = completion(TRADE, finish_reason="stop")
    body["choices"][0]["native_finish_reason"] = native
    assert parse_completion(body)["finish_reason"] == expected
