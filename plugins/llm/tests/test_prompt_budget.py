"""The prompt-size budget (``[budgets] prompt_tokens``): the trimming rule, its event,
and a prompt that cannot fit becoming a hold, against the local chat server."""

from __future__ import annotations

import json

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import Position, Quote
from tradekernel_llm.prompt import build_messages
from tradekernel_llm.trim import estimate_tokens, fit_prompt
from tradekernel_openai_compatible.testing import completion

from .conftest import AS_OF, _bars, make_inputs

USAGE = {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960}


def build(inputs):
    return build_messages(inputs, "v1", max_intents=3)


def tokens(inputs) -> int:
    return estimate_tokens(build(inputs))


def wide_inputs():
    """Four candidates ranked AAA, BBB (held), CCC, DDD."""
    base = make_inputs()
    quotes = dict(base.quotes)
    bars = dict(base.bars)
    for symbol, price in (("CCC", 20), ("DDD", 30)):
        quotes[symbol] = Quote(symbol, AS_OF, str(price))
        bars[symbol] = _bars(symbol, price)
    return attrs.evolve(base, candidates=["AAA", "BBB", "CCC", "DDD"], quotes=quotes, bars=bars)


def test_history_goes_first_then_the_lowest_ranked_candidates_never_a_held_one():
    inputs = wide_inputs()
    fit = fit_prompt(inputs, build, 1)
    assert fit.dropped == [
        "bars:DDD",
        "bars:CCC",
        "bars:AAA",
        "bars:BBB",
        "candidate:DDD",
        "candidate:CCC",
        "candidate:AAA",
    ]
    assert not fit.fits and fit.inputs.candidates == ["BBB"]
    system = build(inputs)[0].content
    assert fit.messages[0].content == system  # rules, safety and schema: never trimmed
    user = fit.messages[1].content
    assert '"positions"' in user and '"account"' in user and '"max_order_notional"' in user


def test_trimming_stops_as_soon_as_the_prompt_fits():
    inputs = wide_inputs()
    full = tokens(inputs)
    assert fit_prompt(inputs, build, full).dropped == []
    fit = fit_prompt(inputs, build, full - 1)
    assert fit.dropped == ["bars:DDD"] and fit.fits and fit.tokens_after <= full - 1
    assert fit.tokens_before == full and set(fit.inputs.bars) == {"AAA", "BBB", "CCC"}


def test_an_unheld_position_is_still_never_dropped_when_held_by_the_strategy():
    inputs = attrs.evolve(
        wide_inputs(),
        positions={},
        strategy_positions={"CCC": 5},
    )
    fit = fit_prompt(inputs, build, 1)
    assert "candidate:CCC" not in fit.dropped and "CCC" in fit.inputs.candidates
    inputs = attrs.evolve(wide_inputs(), positions={"DDD": Position("DDD", "1", "30")})
    assert "candidate:DDD" not in fit_prompt(inputs, build, 1).dropped


def _answer(symbol: str) -> str:
    intent = {
        "symbol": symbol,
        "side": "buy",
        "quantity": 1,
        "notional": None,
        "order_type": "market",
        "limit_price": None,
        "time_in_force": "day",
        "rationale": "r",
        "confidence": 0.6,
    }
    return json.dumps({"decision": "trade", "reason": "r", "intents": [intent]})


def _budget(limit: int) -> str:
    return f"\n[budgets]\nprompt_tokens = {limit}\n"


def test_a_trimmed_prompt_is_sent_with_an_event_naming_what_was_dropped(
    make_kernel, server, inputs
):
    limit = tokens(inputs) - 1
    kernel, rec = make_kernel(server.base_url, _budget(limit))
    server.push(body=completion(_answer("AAA"), model="test/model", usage=USAGE))
    decision = kernel.component("strategist").decide(inputs)
    assert [i.symbol for i in decision.intents] == ["AAA"]
    (trimmed,) = rec.of("budget", "prompt_trimmed")
    assert trimmed.fields["dropped"] == ["bars:AAA"] and trimmed.fields["fits"] is True
    assert trimmed.fields["tokens_after"] <= limit == trimmed.fields["limit"]
    sent = server.requests[0].body["messages"][1]["content"]
    assert sent.count('"sma10"') == 1  # BBB's history only
    (event,) = rec.of("strategist_llm", "decision")
    assert event.fields["ok"] is True and len(event.fields["prompt_digest"]) >= 16


def test_a_dropped_candidate_cannot_be_traded(make_kernel, server, inputs):
    no_bars = attrs.evolve(inputs, bars={})
    kernel, rec = make_kernel(server.base_url, _budget(tokens(no_bars) - 1))
    server.push(body=completion(_answer("AAA"), model="test/model", usage=USAGE))
    decision = kernel.component("strategist").decide(inputs)
    (trimmed,) = rec.of("budget", "prompt_trimmed")
    assert trimmed.fields["dropped"] == ["bars:AAA", "bars:BBB", "candidate:AAA"]
    assert decision.intents == ()  # AAA was not a candidate of the prompt sent
    assert '"AAA"' not in server.requests[0].body["messages"][1]["content"]


def test_a_prompt_that_cannot_fit_is_a_hold_and_nothing_is_asked(make_kernel, server, inputs):
    kernel, rec = make_kernel(server.base_url, _budget(50))
    decision = kernel.component("strategist").decide(inputs)
    assert decision.is_hold and decision.intents == ()
    assert decision.error_type == "prompt_over_budget"
    assert server.count == 0
    (trimmed,) = rec.of("budget", "prompt_trimmed")
    assert trimmed.fields["fits"] is False and trimmed.severity.value == "warning"
    (event,) = rec.of("strategist_llm", "decision")
    assert event.fields["error_type"] == "prompt_over_budget" and event.fields["ok"] is False


def test_a_prompt_trimmed_to_no_candidate_is_a_hold_and_nothing_is_asked(
    make_kernel, server, inputs
):
    unheld = attrs.evolve(inputs, positions={}, strategy_positions={})
    empty = attrs.evolve(unheld, candidates=[], quotes={}, bars={})
    kernel, rec = make_kernel(server.base_url, _budget(tokens(empty)))  # fits only empty
    server.push(body=completion(_answer("AAA"), model="test/model", usage=USAGE))
    decision = kernel.component("strategist").decide(unheld)
    assert decision.is_hold and decision.intents == ()
    assert decision.error_type == "prompt_no_candidates"
    assert server.count == 0
    (trimmed,) = rec.of("budget", "prompt_trimmed")
    assert trimmed.fields["fits"] is True and trimmed.severity.value == "warning"
    assert {"candidate:AAA", "candidate:BBB"} <= set(trimmed.fields["dropped"])
    (event,) = rec.of("strategist_llm", "decision")
    assert event.fields["error_type"] == "prompt_no_candidates"
    assert event.fields["attempts"] == 0 and not event.fields.get("total_tokens")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=-5, max_value=4000))
def test_any_limit_trims_a_prefix_of_the_rule_and_never_the_system_or_a_held_symbol(limit):
    inputs = wide_inputs()
    order = ["bars:DDD", "bars:CCC", "bars:AAA", "bars:BBB"]
    order += ["candidate:DDD", "candidate:CCC", "candidate:AAA"]
    fit = fit_prompt(inputs, build, limit)
    assert fit.dropped == order[: len(fit.dropped)]
    assert fit.fits == (fit.tokens_after <= limit)
    assert fit.fits or fit.dropped == order
    assert fit.messages[0].content == build(inputs)[0].content
    assert "BBB" in fit.inputs.candidates and fit.tokens_after == tokens(fit.inputs)
