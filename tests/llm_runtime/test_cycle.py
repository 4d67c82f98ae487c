"""The ``llm`` strategist with the ``openrouter`` provider inside a full runtime cycle:
a good answer trades through guards and approval; a bad answer is a hold, never an order."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradekernel.errors import ConfigError
from tradekernel.runtime import Runtime, run_cycles
from tradekernel.store import IntentState
from tradekernel_openai_compatible.testing import completion

from .conftest import API_KEY, USAGE, answer, buy_reply, intent


def _recorded(tmp_path: Path) -> str:
    files = sorted((tmp_path / "state" / "events").glob("*.jsonl"))
    assert files, "the jsonl sink recorded nothing"
    return "".join(f.read_text() for f in files)


def test_a_good_answer_trades_through_guards_and_auto_approval(server, make_kernel, logs, tmp_path):
    server.push(body=buy_reply("AAA", 5))
    kernel, rec = make_kernel(server.base_url)
    with Runtime(kernel) as runtime:
        runtime.start()
        state = runtime.run_cycle()
        assert state.candidates == ["AAA", "BBB"]
        assert state.decision.error_type is None
        assert len(state.submitted) == 1, state.notes
        record = runtime.store.get(state.submitted[0])
        assert record.state == IntentState.SUBMITTED
        assert (record.intent.symbol, record.intent.quantity) == ("AAA", 5)
        assert record.intent.strategist == "llm"
        assert record.intent.as_of == state.as_of
        assert [v.allow for v in record.verdicts] and all(v.allow for v in record.verdicts)
        order = kernel.component("broker").get_order(record.client_order_id)
        assert order is not None and order.symbol == "AAA" and order.quantity == 5
    # the prompt went to the local server, with the key in the Authorization header only
    assert server.count == 1
    seen = server.requests[0]
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    prompt = "\n".join(m["content"] for m in seen.body["messages"])
    assert '"AAA"' in prompt and '"BBB"' in prompt
    # telemetry: exactly one strategist_llm event, with tokens and the reported cost
    (event,) = rec.of("strategist_llm", "decision")
    f = event.fields
    assert f["ok"] is True and f["provider"] == "openrouter" and f["intents"] == 1
    assert (f["prompt_tokens"], f["completion_tokens"], f["total_tokens"]) == (900, 60, 960)
    assert f["reported_cost_usd"] == USAGE["cost"]
    assert event.cycle_id == state.cycle_id
    kernel.close()  # flush the sinks
    text = _recorded(tmp_path)
    assert '"stage":"strategist_llm"' in text and '"prompt_tokens":900' in text
    assert API_KEY not in text
    assert logs and API_KEY not in "\n".join(logs)


BAD_ANSWERS = {
    "invalid_json": completion("buy AAA now {not json", usage=USAGE),
    "unknown_symbol": completion(answer(intent("ZZZ")), usage=USAGE),
    "refusal": completion(None, refusal="I cannot give trading advice."),
    "schema_violation": completion(answer(decision="trade"), usage=USAGE),
    "truncated": completion(answer(intent()), finish_reason="length", usage=USAGE),
    "content_filtered": completion(answer(intent()), finish_reason="content_filter"),
    "ambiguous_answer": completion(
        f"Draft: {answer(intent())}\nFinal answer: {answer(decision='hold')}", usage=USAGE
    ),
    "secret_in_answer": completion(
        answer({**intent(), "rationale": f"use {API_KEY}"}), usage=USAGE
    ),
}


@pytest.mark.parametrize("error_type", sorted(BAD_ANSWERS))
def test_a_bad_answer_is_a_hold_never_an_order(server, make_kernel, error_type):
    server.push(body=BAD_ANSWERS[error_type])
    kernel, rec = make_kernel(server.base_url)
    with Runtime(kernel) as runtime:
        runtime.start()
        state = runtime.run_cycle()
        assert server.count == 1, "the model was asked"
        assert state.decision.is_hold
        assert state.decision.error_type == error_type
        assert state.intents == [] and state.submitted == []
        assert runtime.store.list_intents() == []
        assert kernel.component("broker").orders() == []
        assert runtime.breaker.snapshot()["failures"] == 1
    (event,) = rec.of("strategist_llm", "decision")
    assert event.fields["ok"] is False and event.fields["error_type"] == error_type
    assert not rec.of("risk", "verdict")


def test_a_missing_api_key_stops_the_run_at_start(server, make_kernel):
    kernel, _ = make_kernel(server.base_url, environ={})
    with Runtime(kernel) as runtime:
        with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
            run_cycles(runtime, cycles=2)
        assert runtime.cycles == 0
        assert runtime.breaker.state == "closed" and runtime.control.degrade is None
    assert server.count == 0


def test_building_the_strategist_first_leaves_a_usable_state_db(server, make_kernel):
    """The llm strategist's tables go into a proper tradekernel state.db, so a Store opened
    after it (``strategist smoke``, ``config check`` then ``run``) accepts the file."""
    server.push(body=buy_reply("AAA", 1))
    kernel, _ = make_kernel(server.base_url)
    kernel.component("strategist")  # creates state.db before any Store
    with Runtime(kernel) as runtime:
        runtime.start()
        assert runtime.run_cycle().decision.error_type is None


def test_an_echoed_secret_is_stored_nowhere(server, make_kernel, tmp_path):
    """The key echoed in a rationale: a hold, and no file of the state dir (state.db
    with its intents, journal and LLM tables, events) holds it."""
    server.push(body=BAD_ANSWERS["secret_in_answer"])
    kernel, _ = make_kernel(server.base_url)
    with Runtime(kernel) as runtime:
        runtime.start()
        state = runtime.run_cycle()
        assert state.decision.error_type == "secret_in_answer"
        assert runtime.store.list_intents() == []
        assert runtime.store.verify_journal().ok
    kernel.close()
    files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert any(p.name == "state.db" for p in files)
    leaks = [p.name for p in files if API_KEY.encode() in p.read_bytes()]
    assert leaks == []


ORDINARY_HEADERS = """
[llm_provider.openai-compatible]
base_url = "http://127.0.0.1:9/v1"
[llm_provider.openai-compatible.headers]
User-Agent = "TradeKernel/1.0"
OpenAI-Beta = "assistants=v2"
X-Api-Version = "2026-11-01"
"""


def test_ordinary_provider_headers_do_not_garble_a_run(server, make_kernel, tmp_path):
    """A User-Agent, a beta flag and a dated API version are not secrets: the cycle
    trades, and timestamps, rationales and the journal are stored as written."""
    reply = answer({**intent(), "rationale": "tradekernel assistant: momentum since 2026-11-01"})
    server.push(body=completion(reply, usage=USAGE))
    kernel, _ = make_kernel(server.base_url, extra=ORDINARY_HEADERS)
    with Runtime(kernel) as runtime:
        runtime.start()
        state = runtime.run_cycle()
        assert len(state.submitted) == 1, state.notes
        record = runtime.store.get(state.submitted[0])
        assert record.intent.rationale == "tradekernel assistant: momentum since 2026-11-01"
        assert runtime.store.verify_journal().ok
    kernel.close()
    assert "********" not in _recorded(tmp_path)
