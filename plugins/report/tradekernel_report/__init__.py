"""The daily report (``report.v1``): aggregates computed from the recorded events of one
UTC day, rendered as JSON, Markdown or a self-contained HTML dashboard. See docs/reports.md.
This distribution (``tradekernel-report``) adds the ``tradekernel report`` command.

    report = daily_report(settings, date(2026, 3, 2))
    text = render(report, "md")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradekernel import hookimpl
from tradekernel.api import inert_json

from .daily import REPORT_SCHEMA, aggregate, daily_report, day_window
from .html import CHARTS, render_html
from .markdown import render_markdown
from .stats import percentile

TRADEKERNEL_API = ">=1.0,<2"
"""The range of :data:`tradekernel.api.API_VERSION` this plugin was built for."""

FORMATS = ("json", "md", "html")


def render_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON (key order as built), newline-terminated; inert on a
    terminal (outside text in it is ``\\u``-escaped, see ``tradekernel.display``)."""
    return inert_json(report, indent=2) + "\n"


def render(report: Mapping[str, Any], fmt: str) -> str:
    """``report`` as ``json``, ``md`` or ``html`` text."""
    renderers = {"json": render_json, "md": render_markdown, "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r} (one of: {', '.join(FORMATS)})")
    return renderers[fmt](report)


@hookimpl
def register_commands(cli):
    """Add ``tradekernel report`` (imported only when the CLI asks for plugin commands)."""
    from .commands import report

    cli.add_command(report)


__all__ = [
    "CHARTS",
    "FORMATS",
    "REPORT_SCHEMA",
    "aggregate",
    "daily_report",
    "day_window",
    "percentile",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
]
