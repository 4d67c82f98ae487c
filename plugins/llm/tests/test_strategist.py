"""The llm strategist through the kernel, against a local OpenRouter-format server."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from tradekernel.api import ConfigError, Decision, Side
from tradekernel_llm import LLMStrategist, budget_status
from tradekernel_openai_compatible.testing import completion

USAGE = {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960, "cost": 0.0021}


def intent(**kw):
    base = {
        "symbol": "AAA",
        "side": "buy",
        "quantity": 5,
        "notional": None,
        "order_type": "market",
        "limit_price": None,
        "time_in_force": "day",
        "rationale": "momentum",
        "confidence": 0.7,
    }
    base.update(kw)
    return base


def answer(*intents, decision="trade", reason="signal") -> str:
    return json.dumps({"decision": decision, "reason": reason, "intents": list(intents)})


def one_event(rec):
    events = rec.of("strategist_llm", "decision")
    assert len(events) == 1, events
    return events[0]


def test_trade_with_usage_and_cost(make_kernel, server, inputs):
    kernel, rec = make_kernel(
        server.base_url, "price_prompt_per_mtok = 1.0\nprice_completion_per_mtok = 4.0\n"
    )
    server.push(body=completion(answer(intent()), model="test/model", usage=USAGE))
    strategist = kernel.component("strategist")
    assert isinstance(strategist, LLMStrategist)
    decision = strategist.decide(inputs)
    assert decision.error_type is None and not decision.is_hold
    (it,) = decision.intents
    assert (it.symbol, it.side, it.quantity, it.notional) == ("AAA", Side.BUY, Decimal(5), None)
    assert it.strategist == "llm" and it.prompt_version == "v1"
    assert it.schema_version == "intent.v1" and it.as_of == inputs.as_of
    assert it.confidence == 0.7 and it.rationale == "momentum"
    event = one_event(rec)
    f = event.fields
    assert f["ok"] is True and f["error_type"] is None and f["cache_hit"] is False
    assert (f["provider"], f["model"], f["attempts"]) == ("openrouter", "test/model", 1)
    assert (f["prompt_tokens"], f["completion_tokens"], f["total_tokens"]) == (900, 60, 960)
    assert f["estimated_cost_usd"] == pytest.approx((900 * 1 + 60 * 4) / 1e6)
    assert f["reported_cost_usd"] == pytest.approx(0.0021)
    assert f["prompt_version"] == "v1" and f["schema_version"] == "intent.v1"
    assert "prompt" not in f and f["fallback_reason"] is None
    body = server.requests[0].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["max_tokens"] == 800 and body["temperature"] == 0.0
    user = body["messages"][1]["content"]
    assert '"candidates": [' in user and "max_order_notional" in user and '"sma10"' in user
    spend = strategist.budget_status()
    assert (spend.calls, spend.tokens) == (1, 960)
    assert spend.usd == pytest.approx(0.0021)  # the provider-reported cost wins


def test_no_prices_no_estimated_cost(make_kernel, server, inputs):
    kernel, rec = make_kernel(server.base_url)
    server.push(body=completion(answer(decision="hold", reason="flat"), usage=USAGE))
    decision = kernel.component("strategist").decide(inputs)
    assert decision == Decision.hold("flat")
    f = one_event(rec).fields
    assert "estimated_cost_usd" not in f
    assert f["ok"] is True and f["intents"] == 0


@pytest.mark.parametrize(
    "content",
    [
        "```json\n" + answer(intent()) + "\n```",
        "Here is my decision:\n```\n" + answer(intent()) + "\n```\nGood luck!",
        "After careful thought {I think} the answer is " + answer(intent()) + " as requested.",
    ],
    ids=["fenced", "fenced-no-lang", "prose"],
)
def test_json_inside_fences_or_prose(make_kernel, server, inputs, content):
    kernel, _ = make_kernel(server.base_url)
    server.push(body=completion(content))
    decision = kernel.component("strategist").decide(inputs)
    assert [i.symbol for i in decision.intents] == ["AAA"]


def test_tool_call_answer(make_kernel, server, inputs):
    kernel, _ = make_kernel(server.base_url)
    server.push(body=completion(None, tool_arguments=answer(intent(symbol="bbb", side="long"))))
    (it,) = kernel.component("strategist").decide(inputs).intents
    assert (it.symbol, it.side) == ("BBB", Side.BUY)


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        (completion(None, refusal="I cannot give trading advice."), "refusal"),
        (completion(None), "empty_content"),
        (completion("   "), "empty_content"),
        (completion("I would buy AAA, maybe."), "invalid_json"),
        (completion('["not", "an", "object"]'), "schema_violation"),
        (completion('{"decision": "yolo", "intents": []}'), "schema_violation"),
        (completion(answer()), "schema_violation"),
        (completion(answer(intent(symbol="ZZZ"))), "unknown_symbol"),
        (completion(answer(intent(quantity=None))), "missing_amount"),
        (completion(answer(intent(quantity=-3))), "schema_violation"),
        (completion(answer(intent(order_type="limit"))), "schema_violation"),
    ],
    ids=[
        "refusal",
        "null",
        "blank",
        "prose-no-json",
        "array",
        "bad-decision",
        "no-intents",
        "unknown-symbol",
        "no-amount",
        "negative",
        "limit-without-price",
    ],
)
def test_bad_answers_hold(make_kernel, server, inputs, body, error_type):
    kernel, rec = make_kernel(server.base_url)
    server.push(body=body)
    decision = kernel.component("strategist").decide(inputs)
    assert decision.is_hold and decision.intents == ()
    assert decision.error_type == error_type
    f = one_event(rec).fields
    assert f["ok"] is False and f["error_type"] == error_type
    assert f["fallback_reason"] == decision.hold_reason


def test_partially_valid_answer_keeps_valid_intents(make_kernel, server, inputs):
    kernel, _ = make_kernel(server.base_url, "max_intents = 2\n")
    server.push(
        body=completion(
            answer(
                intent(symbol="ZZZ"),
                intent(symbol=" bbb ", side="close", quantity=None),
                intent(notional="1,500.50", quantity=None, side="SELL", confidence=7),
                intent(symbol="AAA", quantity="3"),
            )
        )
    )
    decision = kernel.component("strategist").decide(inputs)
    assert decision.error_type is None
    close, notional = decision.intents
    assert (close.symbol, close.side, close.quantity) == ("BBB", Side.SELL, Decimal(12))
    assert (notional.notional, notional.quantity, notional.confidence) == (
        Decimal("1500.50"),
        None,
        1.0,
    )
    assert "intents[0]: unknown_symbol" in decision.detail
    assert "over max_intents=2" in decision.detail


def test_default_quantity(make_kernel, server, inputs):
    kernel, _ = make_kernel(server.base_url, "default_quantity = 2\n")
    server.push(body=completion(answer(intent(quantity=None, notional=None))))
    (it,) = kernel.component("strategist").decide(inputs).intents
    assert it.quantity == Decimal(2)


def test_same_inputs_same_intent_ids(make_kernel, server, inputs):
    kernel, _ = make_kernel(server.base_url)
    strategist = kernel.component("strategist")
    server.push(body=completion(answer(intent())))
    server.push(body=completion(answer(intent())))
    assert strategist.decide(inputs).intents[0].id == strategist.decide(inputs).intents[0].id


def test_429_then_success(make_kernel, server, inputs):
    kernel, rec = make_kernel(server.base_url)
    server.push(status=429, headers={"Retry-After": "1"})
    server.push(body=completion(answer(intent())))
    decision = kernel.component("strategist").decide(inputs)
    assert len(decision.intents) == 1
    assert one_event(rec).fields["attempts"] == 2


@pytest.mark.parametrize(
    ("pushes", "provider_section", "error_type", "attempts"),
    [
        ([{"status": 401}], "", "provider_http_401", 1),
        ([{"status": 502}] * 3, "", "provider_http_5xx", 3),
        ([{"delay": 0.4}] * 2, 'read_timeout = "100ms"\nmax_attempts = 2\n', "provider_timeout", 2),
        ([{"body": "<html>oops"}], "", "provider_bad_response", 1),
        ([{"body": {"error": {"code": 502, "message": "x"}}}] * 3, "", "provider_error", 3),
    ],
    ids=["401", "502x3", "timeout", "malformed", "error-object"],
)
def test_provider_failures_hold(
    make_kernel, server, inputs, pushes, provider_section, error_type, attempts
):
    kernel, rec = make_kernel(server.base_url, provider=provider_section)
    for push in pushes:
        server.push(**push)
    decision = kernel.component("strategist").decide(inputs)
    assert decision.is_hold and decision.error_type == error_type
    f = one_event(rec).fields
    assert f["attempts"] == attempts and f["ok"] is False
    assert one_event(rec).severity == "warning"
    assert server.count == attempts


def test_record_then_replay(make_kernel, server, inputs, tmp_path):
    tapes = tmp_path / "tapes"
    kernel, _ = make_kernel(server.base_url, f'record_dir = "{tapes}"\n')
    server.push(body=completion(answer(intent()), usage=USAGE))
    recorded = kernel.component("strategist").decide(inputs)
    (tape,) = tapes.glob("*.json")
    assert json.loads(tape.read_text())["schema"] == "llm_record.v1"
    calls = server.count
    server.stop()  # replay must not need the network

    replayer, rec = make_kernel(
        "http://127.0.0.1:9/api/v1", f'replay_dir = "{tapes}"\n', environ={}, name="replay.toml"
    )
    replayed = replayer.component("strategist").decide(inputs)
    assert [i.id for i in replayed.intents] == [i.id for i in recorded.intents]
    assert server.count == calls
    f = one_event(rec).fields
    assert f["provider"] == "replay" and f["total_tokens"] == 960


def test_replay_miss(make_kernel, server, inputs, inputs_factory, tmp_path):
    tapes = tmp_path / "tapes"
    tapes.mkdir()
    kernel, rec = make_kernel(server.base_url, f'replay_dir = "{tapes}"\n')
    decision = kernel.component("strategist").decide(inputs)
    assert decision.error_type == "replay_miss"
    assert one_event(rec).severity == "error"
    assert server.count == 0


def test_record_and_replay_exclusive(make_kernel, server, tmp_path):
    kernel, _ = make_kernel(
        server.base_url, f'record_dir = "{tmp_path}"\nreplay_dir = "{tmp_path}"\n'
    )
    with pytest.raises(ConfigError, match="mutually exclusive"):
        kernel.component("strategist")


def test_token_budget_exhausted_makes_no_request(make_kernel, server, inputs):
    kernel, rec = make_kernel(server.base_url, "budget_daily_tokens = 500\n")
    decision = kernel.component("strategist").decide(inputs)
    assert decision.error_type == "budget_exhausted" and decision.is_hold
    assert server.count == 0
    (alert,) = rec.of("budget", "exhausted")
    assert alert.severity == "warning"
    assert (alert.fields["scope"], alert.fields["used"], alert.fields["limit"]) == (
        "tokens",
        0,
        500,
    )
    assert one_event(rec).fields["error_type"] == "budget_exhausted"


def test_usd_budget_from_reported_cost(make_kernel, server, inputs, inputs_factory):
    kernel, rec = make_kernel(server.base_url, "budget_daily_usd = 0.002\n")
    strategist = kernel.component("strategist")
    server.push(body=completion(answer(intent()), usage=USAGE))  # costs 0.0021
    assert strategist.decide(inputs).error_type is None
    blocked = strategist.decide(inputs_factory(cycle_id="c2"))
    assert blocked.error_type == "budget_exhausted"
    assert server.count == 1
    (alert,) = rec.of("budget", "exhausted")
    assert alert.fields["scope"] == "usd" and alert.fields["used"] == pytest.approx(0.0021)
    status = budget_status(kernel.settings)
    assert status["usd_limit"] == 0.002 and status["calls"] == 1
    assert status["usd_left"] == pytest.approx(-0.0001)


def test_cache_hit_skips_the_call(make_kernel, server, inputs):
    kernel, rec = make_kernel(server.base_url, 'cache_ttl = "1h"\n')
    strategist = kernel.component("strategist")
    server.push(body=completion(answer(intent()), usage=USAGE))
    first = strategist.decide(inputs)
    second = strategist.decide(inputs)
    assert server.count == 1
    assert [i.id for i in first.intents] == [i.id for i in second.intents]
    hits = [e.fields["cache_hit"] for e in rec.of("strategist_llm", "decision")]
    assert hits == [False, True]
    assert strategist.budget_status().calls == 1


def test_cache_off_by_default(make_kernel, server, inputs):
    kernel, _ = make_kernel(server.base_url)
    strategist = kernel.component("strategist")
    strategist.decide(inputs)
    strategist.decide(inputs)
    assert server.count == 2


def test_no_candidates_holds_without_calling(make_kernel, server, inputs_factory):
    kernel, rec = make_kernel(server.base_url)
    decision = kernel.component("strategist").decide(inputs_factory(candidates=[]))
    assert decision.is_hold and decision.error_type is None
    assert server.count == 0 and one_event(rec).fields["ok"] is True


def test_log_prompts(make_kernel, server, inputs):
    kernel, rec = make_kernel(server.base_url, "log_prompts = true\n")
    kernel.component("strategist").decide(inputs)
    prompt = one_event(rec).fields["prompt"]
    assert [m["role"] for m in prompt] == ["system", "user"]


def test_api_key_never_leaks(make_kernel, server, inputs, logs, api_key):
    kernel, rec = make_kernel(server.base_url, "log_prompts = true\n")
    server.push(status=401, body={"error": {"code": 401, "message": f"key {api_key} is revoked"}})
    decision = kernel.component("strategist").decide(inputs)
    assert decision.error_type == "provider_http_401"
    texts = [repr(decision), *logs, *(json.dumps(e.fields, default=str) for e in rec.events)]
    assert logs and rec.events
    assert not [t for t in texts if api_key in t]


def test_missing_key_fails_at_startup(make_kernel, server):
    kernel, _ = make_kernel(server.base_url, environ={})
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        kernel.component("strategist")


def test_unknown_prompt_version(make_kernel, server):
    kernel, _ = make_kernel(server.base_url, 'prompt_version = "v9"\n')
    with pytest.raises(ConfigError, match=r"\[strategist.llm\] prompt_version"):
        kernel.component("strategist")
