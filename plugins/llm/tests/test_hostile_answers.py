"""Answers that look like a trade but must not become one: truncated or filtered
answers, non-string decisions, conflicting answers, echoed secrets; and bare intents,
which must trade. Each goes through the real HTTP provider path (local server)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest
from tradekernel.api import Side
from tradekernel_openai_compatible.testing import completion

from .conftest import API_KEY

TRADE = {"symbol": "AAA", "side": "buy", "quantity": 5}
OTHER = {"symbol": "BBB", "side": "buy", "quantity": 7}


def answer(decision="trade", intents=(TRADE,), **extra) -> str:
    return json.dumps({"decision": decision, "reason": "r", "intents": list(intents), **extra})


def decide(make_kernel, server, inputs, body, strategist=""):
    kernel, rec = make_kernel(server.base_url, strategist)
    server.push(body=body)
    decision = kernel.component("strategist").decide(inputs)
    (event,) = rec.of("strategist_llm", "decision")
    return decision, event, kernel, rec


def assert_hold(decision, event, error_type):
    assert decision.is_hold and decision.intents == ()
    assert decision.error_type == error_type, (decision.error_type, decision.detail)
    assert event.fields["ok"] is False and event.fields["error_type"] == error_type
    assert event.fields["intents"] == 0 and event.severity == "warning"


# -- truncation ------------------------------------------------------------------------

TRUNCATED_WRAPPER = '{"analysis": "momentum is strong", "answer": ' + answer()  # outer never closed


@pytest.mark.parametrize(
    ("content", "finish_reason", "error_type"),
    [
        (answer(), "length", "truncated"),
        (TRUNCATED_WRAPPER, "length", "truncated"),
        (answer(), "content_filter", "content_filtered"),
        (answer(), "error", "truncated"),
        (answer(), None, "truncated"),  # the key is missing: OpenRouter always sends one
        (answer(), "", "truncated"),
        (answer(), "something_new", "truncated"),
        (TRUNCATED_WRAPPER, "stop", "invalid_json"),  # a broken wrapper, whatever it says
    ],
    ids=[
        "length",
        "length-wrapper",
        "content-filter",
        "error",
        "missing",
        "empty",
        "unknown",
        "stop-wrapper",
    ],
)
def test_an_incomplete_answer_holds(
    make_kernel, server, inputs, content, finish_reason, error_type
):
    body = completion(content, finish_reason=finish_reason)
    decision, event, _, _ = decide(make_kernel, server, inputs, body)
    assert_hold(decision, event, error_type)


@pytest.mark.parametrize(
    "finish_reason", ["stop", "STOP", "tool_calls", "end_turn", "eos_token", "eos"]
)
def test_normal_finish_reasons_trade(make_kernel, server, inputs, finish_reason):
    decision, _, _, _ = decide(
        make_kernel, server, inputs, completion(answer(), finish_reason=finish_reason)
    )
    assert [i.symbol for i in decision.intents] == ["AAA"]


@pytest.mark.parametrize("finish_reason", [1, ["stop"], {"type": "stop"}, b"stop"])
def test_a_finish_reason_that_is_not_a_string_holds(inputs, finish_reason):
    """A third-party provider may pass on whatever its wire held: never an exception."""
    from tradekernel.api import ChatResponse
    from tradekernel_llm import NormalizeOptions, decide_answer

    response = ChatResponse(model="m", content=answer(), finish_reason=finish_reason)
    decision = decide_answer(response, inputs, NormalizeOptions(), lambda text: text)
    assert decision.intents == () and decision.error_type == "truncated"


# -- the decision must be a string from the allowed set ----------------------------------


@pytest.mark.parametrize(
    "value", [["hold"], ["trade"], False, True, 0, 1, {"action": "hold"}, None, "buy", ""]
)
def test_a_decision_that_is_not_an_allowed_string_is_a_schema_violation(
    make_kernel, server, inputs, value
):
    body = completion(answer(decision=value))
    decision, event, _, _ = decide(make_kernel, server, inputs, body)
    assert_hold(decision, event, "schema_violation")


# -- conflicts ---------------------------------------------------------------------------

HOLD = answer("hold", ())


@pytest.mark.parametrize(
    "content",
    [
        '{"decision": "hold", "decision": "trade", "intents": [' + json.dumps(TRADE) + "]}",
        '{"decision": "trade", "intents": [{"symbol": "AAA", "side": "buy", '
        '"quantity": 1, "quantity": 1000}]}',
        '{"decision": "trade", "intents": [{"symbol": "AAA", "symbol": "BBB", "side": "buy", '
        '"quantity": 1}]}',
        f"Draft: {answer()}\nFinal answer: {HOLD}",
        f"Draft: {HOLD}\nFinal answer: {answer()}",
        f"```json\n{answer()}\n```\nOn second thought:\n```json\n{answer(intents=[OTHER])}\n```",
        f"{answer()} {answer(intents=[TRADE, OTHER])}",
        f"Option A: {json.dumps(TRADE)} Option B: {json.dumps(OTHER)}",
        f"{answer()} or maybe {answer(decision=['hold'])}",
    ],
    ids=[
        "duplicate-decision",
        "duplicate-quantity",
        "duplicate-symbol",
        "draft-trade-final-hold",
        "draft-hold-final-trade",
        "two-fences",
        "different-intents",
        "two-bare-intents",
        "valid-and-invalid",
    ],
)
def test_conflicting_answers_are_ambiguous(make_kernel, server, inputs, content):
    decision, event, _, _ = decide(make_kernel, server, inputs, completion(content))
    assert_hold(decision, event, "ambiguous_answer")


@pytest.mark.parametrize(
    "content",
    [
        f"Draft: {answer()}\nFinal answer: {answer()}",
        f"```json\n{answer()}\n```\nAgain:\n```\n{answer()}\n```",
        '{"decision": "trade", "decision": "trade", "intents": [' + json.dumps(TRADE) + "]}",
        # the same decision in other words: case, rationale and reason do not matter
        f"{answer()} {answer(decision='TRADE', intents=[{**TRADE, 'rationale': 'x'}])}",
    ],
    ids=["same-twice", "same-fences", "same-duplicate-key", "same-normalised"],
)
def test_copies_of_one_decision_are_fine(make_kernel, server, inputs, content):
    decision, _, _, _ = decide(make_kernel, server, inputs, completion(content))
    assert decision.error_type is None
    assert [(i.symbol, i.quantity) for i in decision.intents] == [("AAA", 5)]


# -- a hold written carelessly is still a hold ---------------------------------------------

T = json.dumps(TRADE)


@pytest.mark.parametrize(
    ("content", "error_type"),
    [
        # almost-valid JSON: a broken part that reads like an answer
        (
            f"Draft: {{'decision': 'hold', 'reason': 'too risky'}}\nFinal JSON: {answer()}",
            "ambiguous_answer",
        ),
        (f'Draft: {{"decision": "hold",}}\nFinal: {answer()}', "ambiguous_answer"),
        (f'{answer()} Correction: {{"decision": "hold" /* risk */}}', "ambiguous_answer"),
        (f'{{decision: "hold"}} {answer()}', "ambiguous_answer"),
        (f'{answer()} then ["hold"]', "ambiguous_answer"),
        (
            '{"decision": "hold", "pad": ' + "[" * 3000 + "]" * 3000 + f"}} {answer()}",
            "invalid_json",
        ),
        # a bare list is intents only when every item is a bare intent
        (f'[{{"decision": "hold", "reason": "too risky"}}, {T}]', "ambiguous_answer"),
        (f'[{T}, {{"decision": "hold", "intents": []}}]', "ambiguous_answer"),
        (f'[{T}, {{"note": "do not execute"}}]', "schema_violation"),
        (f'[{answer()}, {{"decision": "hold"}}]', "ambiguous_answer"),
        (f'{{"decision": "trade", "intents": [{{"decision": "hold"}}, {T}]}}', "ambiguous_answer"),
        # look-alike keys
        (f'{{"decis\u0456on": "hold", "intents": [{T}]}}', "ambiguous_answer"),
        (f'{{"decisions": "hold", "intents": [{T}]}}', "ambiguous_answer"),
        (f'{{"action": "hold", "intents": [{T}]}}', "ambiguous_answer"),
        (f'{{"verdict": "HOLD", "decision": "trade", "intents": [{T}]}}', "ambiguous_answer"),
        (f'{{"decision": "trade", "Decision": "hold", "intents": [{T}]}}', "ambiguous_answer"),
        ('{"symbol": "AAA", "side": "hold", "quantity": 1}', "ambiguous_answer"),
    ],
    ids=[
        "python-dict-draft",
        "trailing-comma",
        "comment",
        "unquoted-key",
        "non-answer-value",
        "deep-nesting",
        "list-hold-then-intent",
        "list-intent-then-answer",
        "list-intent-and-note",
        "list-of-answers",
        "answer-in-intents",
        "cyrillic-key",
        "near-miss-key",
        "action-key",
        "verdict-key",
        "case-twins",
        "bare-side-hold",
    ],
)
def test_a_hold_written_carelessly_is_never_a_trade(
    make_kernel, server, inputs, content, error_type
):
    decision, event, _, _ = decide(make_kernel, server, inputs, completion(content))
    assert_hold(decision, event, error_type)


@pytest.mark.parametrize(
    "content",
    [
        f'{{"DECISION": "HOLD", "intents": [{T}]}}',
        '{"Decision": "hold", "symbol": "AAA", "side": "buy", "quantity": 1}',
        f'{{"decision ": "hold", "intents": [{T}]}}',
        f'{{"\uff44ecision": "hold", "intents": [{T}]}}',  # fullwidth d: NFKC folds it
    ],
    ids=["upper-case", "capitalised-bare", "trailing-space", "fullwidth"],
)
def test_a_decision_key_is_read_whatever_its_case_or_width(make_kernel, server, inputs, content):
    decision, event, _, _ = decide(make_kernel, server, inputs, completion(content))
    assert decision.is_hold and decision.intents == () and event.fields["intents"] == 0


@pytest.mark.parametrize(
    "content",
    [
        f"{{I think}} this is right: {answer()}",
        f"Prices [101.5, 102] and {{momentum: strong}} so: {answer()}",
        f'{answer()} (sources: ["AAA 10-K", "news"])',
    ],
    ids=["braced-prose", "list-of-numbers", "list-of-strings"],
)
def test_prose_in_brackets_stays_harmless(make_kernel, server, inputs, content):
    decision, _, _, _ = decide(make_kernel, server, inputs, completion(content))
    assert decision.error_type is None
    assert [(i.symbol, i.quantity) for i in decision.intents] == [("AAA", 5)]


def test_every_tool_call_is_read_so_that_two_different_answers_are_ambiguous():
    """A trade in the first tool call and a hold in the second (or in the content) is
    never read as the trade alone."""
    import json

    from tradekernel.api import ChatResponse, StrategyInput
    from tradekernel_llm import NormalizeOptions, decide_answer
    from tradekernel_openai_compatible.wire import parse_completion

    trade = {"decision": "trade", "intents": [{"symbol": "AAA", "side": "buy", "quantity": 1}]}
    hold = {"decision": "hold", "reason": "changed my mind"}

    def call(arguments):
        return {
            "id": "c",
            "type": "function",
            "function": {"name": "decide", "arguments": arguments},
        }

    def decide(message):
        body = {"model": "m", "choices": [{"message": message, "finish_reason": "tool_calls"}]}
        response = ChatResponse(**parse_completion(body))
        inputs = StrategyInput(cycle_id="c", as_of=None, candidates=["AAA"], skill_results={})
        return decide_answer(response, inputs, NormalizeOptions(), lambda text: text)

    two_calls = {"content": None, "tool_calls": [call(json.dumps(trade)), call(hold)]}
    content_and_call = {"content": json.dumps(trade), "tool_calls": [call(json.dumps(hold))]}
    for message in (two_calls, content_and_call):
        decision = decide(message)
        assert decision.intents == () and decision.error_type == "ambiguous_answer"
    same_twice = {"content": None, "tool_calls": [call(json.dumps(trade)), call(trade)]}
    assert [i.symbol for i in decide(same_twice).intents] == ["AAA"]
    assert [i.symbol for i in decide({"tool_calls": [call(trade)]}).intents] == ["AAA"]


# -- bare answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"symbol": "aaa", "side": "LONG", "quantity": "10"}', [("AAA", Side.BUY, 10)]),
        (
            '[{"symbol": "aaa", "side": "buy", "quantity": 2}, '
            '{"symbol": "BBB", "side": "sell", "quantity": "3"}]',
            [("AAA", Side.BUY, 2), ("BBB", Side.SELL, 3)],
        ),
        (
            'Sure:\n```json\n{"symbol": "BBB", "side": "short", "quantity": 1}\n```',
            [("BBB", Side.SELL, 1)],
        ),
        ('My orders: [{"symbol": "AAA", "side": "buy", "quantity": 4}]', [("AAA", Side.BUY, 4)]),
    ],
    ids=["object", "list", "fenced-object", "list-in-prose"],
)
def test_a_bare_intent_or_list_trades(make_kernel, server, inputs, content, expected):
    decision, event, _, _ = decide(make_kernel, server, inputs, completion(content))
    assert decision.error_type is None and event.fields["ok"] is True
    got = [(i.symbol, i.side, i.quantity) for i in decision.intents]
    assert got == [(s, side, Decimal(q)) for s, side, q in expected]


@pytest.mark.parametrize(
    ("content", "error_type"),
    [
        ("[]", "schema_violation"),
        ('["AAA", "buy"]', "schema_violation"),
        ('[{"symbol": "AAA", "side": "buy", "quantity": 1}, "hold"]', "schema_violation"),
        ('{"symbol": "AAA", "quantity": 1}', "schema_violation"),
        (
            '{"symbol": "AAA", "side": "buy", "quantity": 1, "decision": "maybe"}',
            "schema_violation",
        ),
        ('{"symbol": "ZZZ", "side": "buy", "quantity": 1}', "unknown_symbol"),
        ('{"symbol": "AAA", "side": "buy", "quantity": 1} {"symbol": "AAA"}', "ambiguous_answer"),
    ],
    ids=["empty", "strings", "mixed", "no-side", "bad-decision", "unknown", "two-objects"],
)
def test_an_unclear_bare_answer_holds(make_kernel, server, inputs, content, error_type):
    decision, event, _, _ = decide(make_kernel, server, inputs, completion(content))
    assert_hold(decision, event, error_type)


# -- the model on a provider failure ------------------------------------------------------


@pytest.mark.parametrize(
    ("pushes", "error_type"),
    [([{"status": 402}], "provider_http_402"), ([{"status": 429}] * 3, "provider_http_429")],
    ids=["402", "429-exhausted"],
)
def test_a_provider_failure_records_the_configured_model(
    make_kernel, server, inputs, pushes, error_type
):
    kernel, rec = make_kernel(server.base_url)
    for push in pushes:
        server.push(**push)
    decision = kernel.component("strategist").decide(inputs)
    assert decision.error_type == error_type
    (event,) = rec.of("strategist_llm", "decision")
    assert event.fields["model"] == "test/model"  # from [llm_provider.openrouter] model


def test_the_strategist_model_wins_on_failure(make_kernel, server, inputs):
    kernel, rec = make_kernel(server.base_url, 'model = "strategist/model"\n')
    server.push(status=402)
    kernel.component("strategist").decide(inputs)
    (event,) = rec.of("strategist_llm", "decision")
    assert event.fields["model"] == "strategist/model"
    assert server.requests[0].body["model"] == "strategist/model"


# -- secrets -----------------------------------------------------------------------------

ESCAPED_KEY = "".join(f"\\u{ord(c):04x}" if i % 7 == 0 else c for i, c in enumerate(API_KEY))
"""The key as a JSON string spells it with every 7th character escaped (decodes to it)."""
ECHOES = {
    "escaped": completion(
        answer(intents=[{**TRADE, "rationale": "key @@"}]).replace("@@", ESCAPED_KEY)
    ),
    "escaped-twice": completion(  # a JSON string holding the escaped answer
        json.dumps(answer(intents=[{**TRADE, "rationale": "@@"}])).replace("@@", ESCAPED_KEY)
    ),
    "rationale": completion(answer(intents=[{**TRADE, "rationale": f"auth {API_KEY}"}])),
    "reason": completion(json.dumps({"decision": "trade", "reason": API_KEY, "intents": [TRADE]})),
    "symbol": completion(answer(intents=[{**TRADE, "symbol": API_KEY}])),
    "prose": completion(f"Your key is {API_KEY}. {answer()}"),
    "refusal": completion(None, refusal=f"I will not use {API_KEY}"),
    "model": completion(answer(), model=f"echo/{API_KEY}"),
}


@pytest.mark.parametrize("where", sorted(ECHOES))
def test_an_answer_with_a_secret_holds_and_is_stored_redacted(
    make_kernel, server, inputs, tmp_path, where
):
    tapes = tmp_path / "tapes"
    decision, event, kernel, rec = decide(
        make_kernel, server, inputs, ECHOES[where], f'record_dir = "{tapes}"\n'
    )
    assert_hold(decision, event, "secret_in_answer")
    assert API_KEY not in repr(decision)
    (tape,) = tapes.glob("*.json")
    recorded = tape.read_text()
    assert "********" in recorded and API_KEY not in recorded
    assert API_KEY[1:9] not in recorded and ESCAPED_KEY[3:12] not in recorded
    kernel.close()
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        dump = "\n".join(db.iterdump())
    assert "llm_spend" in dump and API_KEY not in dump and ESCAPED_KEY[3:12] not in dump
    assert API_KEY not in "".join(json.dumps(e.fields, default=str) for e in rec.events)


def test_a_recorded_secret_is_refused_on_replay(make_kernel, server, inputs, tmp_path):
    """A recording written before this check (secret in clear) replays as a hold."""
    tapes = tmp_path / "tapes"
    kernel, _ = make_kernel(server.base_url, f'record_dir = "{tapes}"\n')
    server.push(body=completion(answer()))
    assert kernel.component("strategist").decide(inputs).error_type is None
    (tape,) = tapes.glob("*.json")
    data = json.loads(tape.read_text())
    data["response"]["content"] = answer(intents=[{**TRADE, "rationale": API_KEY}])
    tape.write_text(json.dumps(data))
    replayer, _ = make_kernel(server.base_url, f'replay_dir = "{tapes}"\n', name="replay.toml")
    replayer.component("llm_provider")  # the provider reads (and so registers) the key
    decision = replayer.component("strategist").decide(inputs)
    assert decision.error_type == "secret_in_answer" and decision.intents == ()


@pytest.mark.parametrize("where", sorted(ECHOES))
def test_a_held_secret_answer_is_held_again_on_replay(make_kernel, server, inputs, tmp_path, where):
    """The recording is redacted, and its redacted text may be a valid trade: the
    recording says the answer held a secret, and replay holds it again, even with no
    key configured in the replaying run."""
    tapes = tmp_path / "tapes"
    decision, *_ = decide(make_kernel, server, inputs, ECHOES[where], f'record_dir = "{tapes}"\n')
    assert decision.error_type == "secret_in_answer"
    (tape,) = tapes.glob("*.json")
    assert json.loads(tape.read_text())["secret_in_answer"] is True
    replayer, rec = make_kernel(
        "http://127.0.0.1:9/api/v1", f'replay_dir = "{tapes}"\n', environ={}, name="replay.toml"
    )
    again = replayer.component("strategist").decide(inputs)
    assert again.error_type == "secret_in_answer" and again.intents == ()
    (event,) = rec.of("strategist_llm", "decision")
    assert event.fields["error_type"] == "secret_in_answer"


# -- recordings made before finish reasons were checked ----------------------------------


@pytest.mark.parametrize(
    ("finish", "error_type"),
    [("absent", None), (None, None), ("stop", None), ("length", "truncated")],
)
def test_recordings_replay_by_their_finish_reason(
    make_kernel, server, inputs, tmp_path, finish, error_type
):
    """``llm_record.v1`` files without a finish_reason (or null: the provider did not
    report one) replay as before; a recorded ``length`` is now a truncated hold."""
    tapes = tmp_path / "tapes"
    kernel, _ = make_kernel(server.base_url, f'record_dir = "{tapes}"\n')
    server.push(body=completion(answer()))
    kernel.component("strategist").decide(inputs)
    (tape,) = tapes.glob("*.json")
    data = json.loads(tape.read_text())
    if finish == "absent":
        del data["response"]["finish_reason"]
    else:
        data["response"]["finish_reason"] = finish
    tape.write_text(json.dumps(data))
    replayer, _ = make_kernel(
        "http://127.0.0.1:9/api/v1", f'replay_dir = "{tapes}"\n', environ={}, name="replay.toml"
    )
    decision = replayer.component("strategist").decide(inputs)
    assert decision.error_type == error_type
    assert len(decision.intents) == (0 if error_type else 1)
