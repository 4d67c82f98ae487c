"""The ``strategies`` section of report.v1: books from the store, events of the day,
the CLI's json and markdown, every key documented."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal as D

from tradekernel.api import Fill, Intent, Settings, Store, validate_event
from tradekernel.testing import invoke
from tradekernel_report import daily_report

from .conftest import ev, write_config, write_day
from .test_docs import DOCS, schema_keys

EVENTS = [
    ev("09:00:00", "portfolio", "allocation", budgets={"fast": "10000", "slow": "20000"}),
    ev("09:10:00", "portfolio", "budget_denied", "warning", strategy="slow", intent_id="int_x",
       symbol="AAA", code="strategy_budget_exceeded", detail="cap"),
    ev("09:20:00", "portfolio", "strategy_state", "warning", strategy="slow", state="reducing",
       previous="active", drawdown="0.12"),
]  # fmt: skip


def _state(tmp_path):
    config = write_config(tmp_path)
    write_day(tmp_path / "state", EVENTS)
    settings = Settings.load(config, environ={})
    with Store.open(settings.state_dir) as store:
        for n, (strategy, side, qty, price) in enumerate(
            [
                ("fast", "buy", "10", "100"),
                ("slow", "buy", "5", "100"),
                ("fast", "sell", "4", "110"),
            ]
        ):
            intent = Intent.create(
                symbol="AAA", side=side, quantity=D(qty), strategist=strategy, rationale=str(n)
            )
            store.add_intent(intent, cycle_id="c", broker="paper")
            ts = datetime(2026, 3, 2, 10, n, tzinfo=UTC)
            fill = Fill(f"f{n}", intent.client_order_id, "AAA", side, D(qty), D(price), ts=ts,
                        commission=D("0.5"))  # fmt: skip
            store.record_fill(fill)
    return config, settings


def test_each_strategy_and_the_portfolio(tmp_path):
    _config, settings = _state(tmp_path)
    report = daily_report(settings, date(2026, 3, 2), now=datetime(2026, 3, 5, tzinfo=UTC))
    section = report["strategies"]
    fast, slow = section["strategies"]
    assert (fast["strategy"], fast["positions"], fast["realized_pnl"]) == (
        "fast",
        {"AAA": "6"},
        "40",
    )
    assert fast["unrealized_pnl"] == "60" and fast["commissions"] == "1" and fast["pnl"] == "99"
    assert (fast["budget"], fast["state"], fast["budget_denials"]) == ("10000", None, {})
    assert slow["state"] == "reducing" and slow["budget_denials"] == {"strategy_budget_exceeded": 1}
    assert section["portfolio"]["positions"] == {"AAA": "11"}
    assert D(section["portfolio"]["pnl"]) == D(fast["pnl"]) + D(slow["pnl"])
    assert section["marks"] == {"AAA": "110"}
    keys = schema_keys(report)
    text = DOCS.read_text(encoding="utf-8")
    assert {"strategy", "state_changes", "gross_exposure"} <= keys
    assert sorted(k for k in keys if f"`{k}`" not in text) == []
    for event in EVENTS:
        assert validate_event(event) == []


def test_fills_after_the_window_are_left_out(tmp_path):
    _config, settings = _state(tmp_path)
    report = daily_report(settings, date(2026, 3, 1), now=datetime(2026, 3, 5, tzinfo=UTC))
    assert report["strategies"]["strategies"] == []
    assert report["strategies"]["portfolio"]["pnl"] == "0"


def test_the_cli_shows_each_strategy(tmp_path):
    config, _settings = _state(tmp_path)
    args = ["--config", str(config), "report", "daily", "--date", "2026-03-02"]
    result = invoke([*args, "--format", "json"])
    assert result.exit_code == 0
    names = [s["strategy"] for s in json.loads(result.stdout)["strategies"]["strategies"]]
    assert names == ["fast", "slow"]
    result = invoke(args)
    assert "## Strategies" in result.stdout
    assert "| fast | active | 10000.00 | 99.00 | 40.00 | 60.00 | 1.00 | 660.00 | 2 | - |" in (
        result.stdout
    )
    assert "| **portfolio** |" in result.stdout


def test_the_dashboard_has_a_strategies_table(tmp_path):
    config, _settings = _state(tmp_path)
    args = ["--config", str(config), "report", "daily", "--date", "2026-03-02"]
    html = invoke([*args, "--format", "html"]).stdout
    assert "<h2>Strategies</h2>" in html
    assert "<td>fast</td><td>active</td><td>10000.00</td><td>99.00</td>" in html
    assert "<td>portfolio</td>" in html
