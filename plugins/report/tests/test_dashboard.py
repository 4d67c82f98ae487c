"""The HTML dashboard in a real headless Chromium: loads without console errors, every
chart renders (or shows its explicit no-data state), nothing comes from the network."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from tradekernel_report import CHARTS, aggregate, daily_report, render_html

from .browser import load
from .conftest import DAY

D = date.fromisoformat(DAY)


def checks(dom: str) -> dict[str, str]:
    """chart id -> verdict the page's own check script wrote into the DOM."""
    items = re.search(r'<ul id="render-check">(.*?)</ul>', dom, re.S)
    assert items, "the render check did not run"
    return dict(re.findall(r"<li>([\w-]+):(\w+)</li>", items.group(1)))


def test_fixture_dashboard_renders_every_chart_in_chromium(fixture_settings, tmp_path):
    report = daily_report(fixture_settings, D, now=datetime(2026, 3, 5, tzinfo=UTC))
    page = tmp_path / "dashboard.html"
    page.write_text(render_html(report), encoding="utf-8")
    loaded = load(page)
    assert loaded.console == []  # no errors, no CSP violations, nothing logged at all
    assert checks(loaded.dom) == {chart_id: "rendered" for chart_id, _ in CHARTS}
    assert 'data-charts-checked="8"' in loaded.dom
    for chart_id, title in CHARTS:
        figure = re.search(
            rf'<figure class="chart" id="{chart_id}"[^>]*>(.*?)</figure>', loaded.dom, re.S
        )
        assert figure and title.replace("&", "&amp;") in figure.group(1)
        marks = re.search(
            r'<path d="M[\d.]+,[\d.]+|<rect class="series"[^>]*width="[\d.]+"', figure.group(1)
        )
        assert marks, chart_id


def test_empty_day_shows_no_data_panels_not_broken_charts(tmp_path):
    page = tmp_path / "empty.html"
    page.write_text(render_html(aggregate([], D)), encoding="utf-8")
    loaded = load(page)
    assert loaded.console == []
    assert checks(loaded.dom) == {chart_id: "empty" for chart_id, _ in CHARTS}
    assert "no events recorded for 2026-03-02" in loaded.dom
    assert loaded.dom.count(">no data</text>") == len(CHARTS)


def test_the_check_catches_console_errors_and_broken_charts(tmp_path):
    """The harness itself can fail: a script error is reported, a chart without marks is
    ``broken``."""
    html = (
        render_html(aggregate([], D))
        .replace('data-state="empty"', 'data-state="rendered"', 1)
        .replace("<script>", "<script>console.error('boom');", 1)
    )
    page = tmp_path / "broken.html"
    page.write_text(html, encoding="utf-8")
    loaded = load(page)
    assert any("boom" in message for message in loaded.console)
    assert checks(loaded.dom)["chart-equity"] == "broken"


def test_page_is_self_contained(fixture_settings):
    html = render_html(daily_report(fixture_settings, D))
    assert not re.search(r"(src|href)\s*=", html)  # no external scripts, styles or images
    assert "http://" not in html and "https://" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def replay_day(restarted: bool = False) -> list:
    """A replay session as the demo records it: 60 cycles written within one wall-clock
    second, each one market day later; equity with more digits than a cent and an exposure
    written as ``0.0000000000``. ``restarted``: the replay starts again halfway."""
    from datetime import timedelta

    from tradekernel.api import Event, structure

    from .conftest import ev

    raw = []
    for i in range(60):
        day = i % 30 if restarted else i
        as_of = datetime(2026, 1, 2, 14, 30, tzinfo=UTC) + timedelta(days=day)
        equity = f"{100000 + i * 70 + 0.83273127:.8f}" if i < 59 else "104200.83273127"
        raw.append(
            ev(
                f"09:00:{i:02d}",
                "report",
                "cycle",
                mode="paper",
                as_of=as_of.isoformat(),
                equity=equity,
                cash=equity,
                realized_pnl=f"{i * 70 + 0.83273127:.8f}",
                unrealized_pnl="0.0000000000",
            )
        )
    return [structure(e, Event) for e in raw]


def chart_xs(html: str, chart_id: str | None = None) -> tuple[str, list[float]]:
    """The x-axis caption of a line chart and the x of each point of its first line
    (``chart_id``: the figure in a page; None: ``html`` is one chart's SVG)."""
    if chart_id is not None:
        figure = re.search(
            rf'<figure class="chart" id="{chart_id}"[^>]*>(.*?)</figure>', html, re.S
        )
        assert figure, chart_id
        html = figure.group(1)
    axis = re.search(r'data-x-axis="([^"]+)"', html)
    path = re.search(r'<path d="([^"]+)"', html)
    assert axis and path, chart_id
    return axis.group(1), [float(x) for x in re.findall(r"[ML]([\d.]+),", path.group(1))]


def test_money_tiles_are_formatted_in_chromium(tmp_path):
    """The issue's tiles: ``104200.83273127`` reads ``104200.83``, ``Exposure 0.0000000000``
    reads ``0.00``; the JSON form keeps every digit."""
    report = aggregate(replay_day(), D)
    assert report["account"]["equity"] == "104200.83273127"  # report.v1 stays exact
    page = tmp_path / "replay.html"
    page.write_text(render_html(report), encoding="utf-8")
    loaded = load(page)
    assert loaded.console == []
    tiles = dict(
        re.findall(
            r'<div class="kpi"><div class="label">([^<]+)</div><div class="value">([^<]*)</div>',
            loaded.dom,
        )
    )
    assert tiles["Equity"] == "104200.83"
    assert tiles["Exposure"] == "0.00"
    assert tiles["Realized P&amp;L"] == "4130.83"
    assert tiles["Unrealized P&amp;L"] == "0.00"
    for label in ("Equity", "Realized P&amp;L", "Unrealized P&amp;L", "Exposure"):
        assert re.fullmatch(r"-?\d+\.\d{2}", tiles[label]), (label, tiles[label])
    assert "104200.83273127" not in loaded.dom and "0.0000000000" not in loaded.dom


def test_a_replay_session_is_drawn_over_market_time_not_a_vertical_line(tmp_path):
    """60 cycles in one wall-clock second over 60 market days: the x-axis is the market
    clock, the curve spans the plot, and its ticks are dates."""
    page = tmp_path / "replay.html"
    page.write_text(render_html(aggregate(replay_day(), D)), encoding="utf-8")
    loaded = load(page)
    assert checks(loaded.dom)["chart-equity"] == "rendered"
    for chart_id in ("chart-equity", "chart-pnl"):
        axis, xs = chart_xs(loaded.dom, chart_id)
        assert axis == "market time (UTC)"
        assert xs == sorted(xs) and len(set(xs)) == 60
        assert xs[0] == pytest.approx(64) and xs[-1] == pytest.approx(640 - 16)
    equity = re.search(r'id="chart-equity".*?</figure>', loaded.dom, re.S).group()
    assert re.findall(r">([A-Z][a-z]{2} \d\d)</text>", equity) == [
        "Jan 16",
        "Jan 30",
        "Feb 13",
        "Feb 27",
    ]


def test_a_restarted_replay_is_drawn_over_the_cycle_index_and_old_events_over_wall_time():
    """The market clock goes back (the same data replayed twice): the cycle index, not a
    zigzag over market time. Events without a market time keep the wall clock."""
    from tradekernel.api import Event, structure
    from tradekernel_report.html import charts

    from .conftest import ev

    axis, xs = chart_xs(charts(aggregate(replay_day(restarted=True), D))["chart-equity"])
    assert axis == "cycle" and xs == sorted(xs) and len(set(xs)) == 60
    live = [
        structure(ev(f"{h:02d}:00:00", "report", "cycle", equity=str(100 + h)), Event)
        for h in range(9, 17)
    ]
    axis, xs = chart_xs(
        charts(aggregate(live, D))["chart-pnl"] + charts(aggregate(live, D))["chart-equity"]
    )
    assert axis == "wall-clock time (UTC)" and len(set(xs)) == 8
