"""Parsing of the provider wire format."""

from __future__ import annotations


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
    import pytest
    from tradekernel.llm import FINISH_REASON_MISSING
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
