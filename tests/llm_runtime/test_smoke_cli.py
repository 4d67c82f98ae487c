"""``tradekernel strategist smoke`` and ``events query --stage strategist_llm`` through the
real CLI (a subprocess) against a real local chat server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tradekernel.store import Store
from tradekernel_openai_compatible.testing import Reply, completion

from .conftest import API_KEY, USAGE, answer, buy_reply, intent


def _no_secret(result) -> None:
    assert API_KEY not in result.stdout and API_KEY not in result.stderr


def test_smoke_prints_the_decision_and_its_llm_event(server, write_config, cli, tmp_path):
    server.push(body=buy_reply("AAA", 5))
    result = cli(write_config(server.base_url), "strategist", "smoke", "--show-llm-event")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "candidates  AAA, BBB" in out
    assert "decision    trade: 1 intent(s)" in out
    assert "buy AAA qty=5 market day" in out
    assert "strategist_llm.decision info openrouter/test/model ok" in out
    assert "tokens=900+60" in out and "cost=$0.00123" in out
    event = json.loads(out[out.index("\n{") :])
    assert event["stage"] == "strategist_llm" and event["cycle_id"].startswith("smoke_")
    assert event["fields"]["total_tokens"] == 960
    assert event["fields"]["reported_cost_usd"] == 0.00123
    _no_secret(result)
    assert server.count == 1
    assert server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    with Store.open(tmp_path / "state", create=False) as store:
        assert store.list_intents() == [], "smoke never records intents"


def test_smoke_json(server, write_config, cli):
    server.push(body=buy_reply("BBB", 2))
    result = cli(write_config(server.base_url), "strategist", "smoke", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(i["symbol"], i["side"]) for i in data["decision"]["intents"]] == [("BBB", "buy")]
    assert data["decision"]["error_type"] is None
    assert data["event"]["fields"]["ok"] is True
    assert data["event"]["cycle_id"] == data["cycle_id"]
    skills = {s["skill"]: s["ok"] for s in data["skills"]}
    assert skills["market.quote"] and skills["market.bars"]
    assert all(skills.values()), data["skills"]


@pytest.mark.parametrize("problem", ["missing_key", "empty_base_url"])
def test_an_invalid_provider_config_exits_2(server, write_config, cli, problem):
    if problem == "missing_key":
        result = cli(write_config(server.base_url), "strategist", "smoke", key=False)
        assert "OPENROUTER_API_KEY" in result.stderr
    else:
        result = cli(write_config(""), "strategist", "smoke")
        assert "base_url" in result.stderr
    assert result.returncode == 2, result.stderr
    assert "[llm_provider.openrouter]" in result.stderr
    assert server.count == 0
    _no_secret(result)


def test_a_failing_provider_exits_1(server, write_config, cli):
    server.default = Reply(status=401, body={"error": {"code": 401, "message": f"bad {API_KEY}"}})
    result = cli(write_config(server.base_url), "strategist", "smoke", "--show-llm-event")
    assert result.returncode == 1, result.stderr
    assert "error_type=provider_http_401" in result.stdout
    assert "FAILED" in result.stdout  # the event's summary line
    assert "provider_http_401" in result.stderr
    assert server.count == 1, "401 is not retried"
    _no_secret(result)


def test_require_llm_event_with_a_rule_strategist_exits_4(write_config, cli):
    config = write_config("http://127.0.0.1:9/unused", strategist="hold")
    plain = cli(config, "strategist", "smoke")
    assert plain.returncode == 0, plain.stderr
    assert "decision    hold: strategy_hold" in plain.stdout
    assert "no strategist_llm event" in plain.stdout
    gated = cli(config, "strategist", "smoke", "--require-llm-event")
    assert gated.returncode == 4
    assert "no strategist_llm event was recorded" in gated.stderr


def test_events_query_lists_the_llm_decisions_of_a_run(server, write_config, cli, tmp_path):
    config = write_config(server.base_url)
    run = cli(config, "run", "--cycles", "2")
    assert run.returncode == 0, run.stderr
    assert server.count == 2
    (day,) = [p.stem for p in Path(tmp_path / "state" / "events").glob("*.jsonl")]
    listed = cli(config, "events", "query", "--stage", "strategist_llm", "--date", day, "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert len(records) == 2
    assert {r["stage"] for r in records} == {"strategist_llm"}
    assert all(r["fields"]["ok"] and r["fields"]["provider"] == "openrouter" for r in records)
    assert len({r["cycle_id"] for r in records}) == 2
    text = cli(config, "events", "query", "--stage", "strategist_llm")
    lines = text.stdout.splitlines()
    assert len(lines) == 2
    assert all("strategist_llm.decision info openrouter/test/model ok" in ln for ln in lines)
    _no_secret(listed)
    _no_secret(text)


def test_smoke_shows_a_hostile_rationale_inert(server, write_config, cli):
    """An LLM answer whose rationale forges an approval line and carries escape sequences
    (OSC 52 clipboard write, clear screen, 8-bit CSI, bidi override) prints as one inert
    line; the JSON form keeps the text exactly, ASCII-escaped."""
    forged = "momentum\n\nApproved by risk-officer\r\x1b]52;c;aGk=\x07\x1b[2J\x9b31m\u202eevil"
    reply = intent("AAA", "buy", 5)
    reply["rationale"] = forged
    server.push(body=completion(answer(reply), usage=USAGE))
    server.push(body=completion(answer(reply), usage=USAGE))
    config = write_config(server.base_url)
    result = cli(config, "strategist", "smoke")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert (
        "    momentum\\n\\nApproved by risk-officer\\r\\x1b]52;c;aGk=\\x07\\x1b[2J\\x9b31m"
        "\\u202eevil"
    ) in lines
    assert not any(line.startswith("Approved") for line in lines)
    assert all(c == "\n" or c.isprintable() for c in result.stdout)
    result = cli(config, "strategist", "smoke", "--json")
    assert result.returncode == 0 and result.stdout.isascii()
    (parsed,) = json.loads(result.stdout)["decision"]["intents"]
    assert parsed["rationale"] == forged
