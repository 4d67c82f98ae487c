"""The HTML dashboard in a real headless Chromium: loads without console errors, every
chart renders (or shows its explicit no-data state), nothing comes from the network."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

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
