"""``tradekernel report daily``: formats, --out, --date validation, empty days."""

from __future__ import annotations

import json

import pytest
from tradekernel.testing import invoke


def run(capsys, *args: str) -> tuple[int, str, str]:
    result = invoke(args)
    return result.exit_code, result.stdout, result.stderr


def test_json_format_is_report_v1(capsys, fixture_day):
    code, out, _ = run(capsys, "--config", str(fixture_day), "report", "daily",
                       "--date", "2026-03-02", "--format", "json")  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["schema"] == "report.v1" and report["date"] == "2026-03-02"
    assert report["strategist_llm"]["calls"] == 5
    assert report["intents"]["by_final_state"]["submitted"] == 2


def test_markdown_is_the_default_format(capsys, fixture_day):
    code, out, _ = run(capsys, "--config", str(fixture_day), "report", "daily",
                       "--date", "2026-03-02")  # fmt: skip
    assert code == 0
    assert out.startswith("# tradekernel daily report — 2026-03-02\n")
    for line in (
        "## Strategist LLM",
        "| success rate | 60.0% |",
        "| latency | p50 200 ms · p95 900 ms · max 900 ms |",
        "| tokens (prompt + completion = total) | 3500 + 350 = 3850 |",
        "| estimated cost (USD) | 0.0038 |",
        "| submitted | 2 |",
        "| max_notional | 2 |",
        "| equity | 100120.25 |",
        "| market.quote | 3 | 2 | 1 | no answer within 2s: 1 |",
        "| breaker time open | 900000.0 ms |",
        "| slack | 2 | 0 | 1 | 0 |",
    ):
        assert line in out, line


def test_out_writes_the_file(capsys, fixture_day, tmp_path):
    for fmt in ("json", "md", "html"):
        target = tmp_path / "reports" / f"daily.{fmt}"
        args = ["--date", "2026-03-02", "--format", fmt, "--out", str(target)]
        code, out, _ = run(capsys, "--config", str(fixture_day), "report", "daily", *args)
        assert code == 0
        assert out == f"wrote {target} ({fmt}, 76 events)\n"
        text = target.read_text(encoding="utf-8")
        assert {"json": '"schema": "report.v1"', "md": "# tradekernel daily report",
                "html": "<!DOCTYPE html>"}[fmt] in text  # fmt: skip


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "yesterday", "02/03/2026"])
def test_bad_date_exits_2(capsys, fixture_day, bad):
    code, out, err = run(capsys, "--config", str(fixture_day), "report", "daily", "--date", bad)
    assert code == 2
    assert out == ""
    assert "--date" in err


def test_a_day_without_events_is_an_empty_report_with_a_note(capsys, fixture_day):
    code, out, err = run(capsys, "--config", str(fixture_day), "report", "daily",
                         "--date", "2025-12-31", "--format", "json")  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["note"] == "no events recorded for 2025-12-31"
    assert report["events"]["total"] == 0
    assert "note: no events recorded for 2025-12-31" in err


def test_default_date_is_today_utc(capsys, fixture_day):
    from tradekernel.api import utcnow

    before = utcnow().date().isoformat()
    code, out, _ = run(capsys, "--config", str(fixture_day), "report", "daily", "--format", "json")
    assert code == 0
    assert json.loads(out)["date"] in (before, utcnow().date().isoformat())


def test_a_day_without_llm_calls_says_so_in_one_line():
    from datetime import date

    from tradekernel_report import aggregate, render_markdown

    text = render_markdown(aggregate([], date(2026, 1, 5)))
    assert "No LLM calls this day." in text
    assert "| calls |" not in text.split("## Strategist LLM")[1].split("##")[0]
