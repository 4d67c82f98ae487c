"""The daily report's SLO section, from the day's ``slo.*`` events."""

from __future__ import annotations

from datetime import date

from tradekernel.api import Event, structure
from tradekernel_report import aggregate
from tradekernel_report.html import render_html
from tradekernel_report.markdown import render_markdown

from .conftest import DAY, ev

RATES = {"5m": 30.0, "30m": 20.0, "1h": 15.5, "6h": 4.0}


def _events() -> list[Event]:
    records = [
        ev(
            "10:00:00",
            "slo",
            "status",
            "debug",
            objective="cycles",
            indicator="cycle_success",
            target=0.99,
            budget_remaining=0.9,
            burn_rates={"1h": 0.5},
        ),
        ev(
            "10:05:00",
            "slo",
            "burn_rate",
            "critical",
            objective="cycles",
            indicator="cycle_success",
            alert="fast",
            burn_rate=15.5,
        ),
        ev(
            "11:00:00",
            "slo",
            "recovered",
            "info",
            objective="cycles",
            indicator="cycle_success",
            alert="fast",
            burn_rate=1.0,
        ),
        ev(
            "12:00:00",
            "slo",
            "status",
            "debug",
            objective="cycles",
            indicator="cycle_success",
            target=0.99,
            budget_remaining=0.4,
            burn_rates=RATES,
        ),
        ev(
            "12:00:00",
            "slo",
            "status",
            "debug",
            objective="<b>x</b>",
            indicator="\x1b[31m",
            target="nan",
            budget_remaining=float("inf"),
            burn_rates="hot",
        ),
    ]
    return [structure(r, Event) for r in records]


def test_the_section_keeps_the_last_status_and_the_day_alerts():
    report = aggregate(_events(), date.fromisoformat(DAY))
    cycles = report["slo"]["objectives"]["cycles"]
    assert cycles["budget_remaining"] == 0.4 and cycles["burn_rates"]["1h"] == 15.5
    assert (cycles["alerts"], cycles["recovered"]) == (1, 1)
    assert [a["kind"] for a in report["slo"]["alerts"]] == ["burn_rate", "recovered"]
    odd = report["slo"]["objectives"]["<b>x</b>"]
    assert odd["target"] is None and odd["budget_remaining"] is None
    md = render_markdown(report)
    assert "## SLOs" in md and "| cycles | cycle_success | 0.99 | 40.0% | 15.5 / 4 | 1 | 1 |" in md
    assert "\x1b" not in md
    html = render_html(report)
    assert "SLO alerts" in html and "<b>x</b>" not in html and "\x1b" not in html


def test_no_slo_events_no_section():
    report = aggregate([], date.fromisoformat(DAY))
    assert report["slo"] == {"objectives": {}, "alerts": []}
    assert "## SLOs" not in render_markdown(report)
