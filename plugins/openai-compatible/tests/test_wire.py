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
