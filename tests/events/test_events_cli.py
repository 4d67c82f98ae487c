"""``tradekernel events query`` and ``tradekernel events validate``."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from tradekernel.cli import main

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def recorded(make_kernel, tmp_path):
    """A kernel (jsonl + sqlite) with a small day of events recorded; returns the config path."""

    def record(sinks=("jsonl",)):
        kernel = make_kernel(list(sinks))
        times = iter(START + timedelta(minutes=m) for m in range(100))
        kernel.events.clock = lambda: next(times)
        kernel.emit("commander", "route", node="hydrate", next="strategist", action="end")
        kernel.emit(
            "strategist_llm",
            "decision",
            provider="openrouter",
            model="gpt-x",
            ok=True,
            latency_ms=812.4,
            prompt_tokens=900,
            completion_tokens=50,
            estimated_cost_usd="0.0012",
        )
        kernel.emit("risk", "verdict", intent_id="i1", symbol="AAA", guard="g", allow=False)
        kernel.emit("risk", "verdict", intent_id="i2", symbol="BBB", guard="g", allow=True)
        kernel.close()
        return str(tmp_path / "plugins.toml")

    return record


def test_query_lists_one_line_per_event_with_special_summaries(capsys, recorded):
    config = recorded()
    code, out, _ = run(capsys, "--config", config, "events", "query")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "2026-03-02 12:00:00 commander.route info hydrate → strategist end"
    assert lines[1] == (
        "2026-03-02 12:01:00 strategist_llm.decision info openrouter/gpt-x ok 812ms "
        "tokens=900+50 cost=$0.0012"
    )
    assert lines[2] == (
        "2026-03-02 12:02:00 risk.verdict info intent_id=i1 symbol=AAA guard=g allow=false"
    )
    assert len(lines) == 4


def test_query_filters_limit_and_json(capsys, recorded):
    config = recorded()
    code, out, _ = run(capsys, "--config", config, "events", "query", "--stage", "risk", "--json")
    assert code == 0
    data = json.loads(out)
    assert [d["fields"]["intent_id"] for d in data] == ["i1", "i2"]
    assert data[0]["schema"] == "event.v1" and data[0]["severity"] == "info"

    code, out, _ = run(capsys, "--config", config, "events", "query", "--limit", "1")
    assert out.splitlines() == [
        "2026-03-02 12:03:00 risk.verdict info intent_id=i2 symbol=BBB guard=g allow=true"
    ]
    code, out, _ = run(capsys, "--config", config, "events", "query", "--kind", "route", "--json")
    assert [d["stage"] for d in json.loads(out)] == ["commander"]
    code, out, err = run(capsys, "--config", config, "events", "query", "--date", "2026-03-01")
    assert (code, out, err.strip()) == (0, "", "no events")


def test_validate_passes_a_good_day(capsys, recorded):
    config = recorded()
    code, out, _ = run(capsys, "--config", config, "events", "validate", "--date", "2026-03-02")
    assert (code, out.strip()) == (0, "ok: 4 events valid (jsonl, 2026-03-02)")
    code, out, _ = run(capsys, "--config", config, "events", "validate", "--json")
    assert code == 0
    assert json.loads(out) == {
        "ok": True,
        "source": "jsonl",
        "date": None,
        "checked": 4,
        "invalid": 0,
        "invalid_events": [],
    }


def test_validate_names_a_corrupted_line(capsys, recorded, tmp_path):
    config = recorded()
    path = tmp_path / "state" / "events" / "2026-03-02.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:40]  # a torn line
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "--config", config, "events", "validate")
    assert code == 4
    assert "4 events checked (jsonl): 1 invalid" in out
    assert f"{path}:2: invalid JSON" in err


def test_validate_names_a_missing_field(capsys, recorded, tmp_path):
    config = recorded()
    path = tmp_path / "state" / "events" / "2026-03-02.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    del record["fields"]["guard"]
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "--config", config, "events", "validate", "--json")
    assert code == 4
    report = json.loads(out)
    assert (report["ok"], report["invalid"]) == (False, 1)
    assert report["invalid_events"][0]["location"] == f"{path}:3"
    assert f"{path}:3: risk.verdict: required field 'guard' is missing" in err


def test_validate_reads_the_sqlite_table_when_enabled(capsys, recorded, tmp_path):
    config = recorded(sinks=("jsonl", "sqlite"))
    code, out, _ = run(capsys, "--config", config, "events", "validate")
    assert (code, out.strip()) == (0, "ok: 4 events valid (sqlite)")
    db = tmp_path / "state" / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET severity = 'loud' WHERE rowid = 3")
    conn.commit()
    conn.close()
    code, _, err = run(capsys, "--config", config, "events", "validate")
    assert code == 4
    assert f"{db}:events rowid 3: severity: expected one of" in err
    code, _, _ = run(capsys, "--config", config, "events", "validate", "--source", "jsonl")
    assert code == 0
