"""The daily report (``report.v1``): aggregates computed from the recorded events of one
UTC day, rendered as JSON, Markdown or a self-contained HTML dashboard; and the
compliance report (``compliance.v1``) of one day from the journal. See docs/reports.md.
This distribution (``tradekernel-report``) adds the ``tradekernel report`` command.

    report = daily_report(settings, date(2026, 3, 2))
    text = render(report, "md")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradekernel import hookimpl
from tradekernel.api import inert_json, lazy_exports

_LAZY = {
    "REPORT_SCHEMA": ".daily",
    "aggregate": ".daily",
    "daily_report": ".daily",
    "day_window": ".daily",
    "CHARTS": ".html",
    "render_html": ".html",
    "render_markdown": ".markdown",
    "percentile": ".stats",
    "COMPLIANCE_SCHEMA": ".compliance",
    "compliance_report": ".compliance",
}
"""Imported on first use: registering the plugin imports none of its renderers."""

TRADEKERNEL_API = ">=1.0,<2"
"""The range of :data:`tradekernel.api.API_VERSION` this plugin was built for."""

FORMATS = ("json", "md", "html")
COMPLIANCE_FORMATS = ("text", "md", "json")


def render_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON (key order as built), newline-terminated; inert on a
    terminal (outside text in it is ``\\u``-escaped, see ``tradekernel.display``)."""
    return inert_json(report, indent=2) + "\n"


def render(report: Mapping[str, Any], fmt: str) -> str:
    """``report`` as ``json``, ``md`` or ``html`` text."""
    from .html import render_html
    from .markdown import render_markdown

    renderers = {"json": render_json, "md": render_markdown, "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r} (one of: {', '.join(FORMATS)})")
    return renderers[fmt](report)


def render_compliance(report: Mapping[str, Any], fmt: str) -> str:
    """A ``compliance.v1`` report as ``text``, ``md`` or ``json`` text."""
    from . import compliance_render

    renderers = {
        "json": render_json,
        "md": compliance_render.render_markdown,
        "text": compliance_render.render_text,
    }
    if fmt not in renderers:
        choices = ", ".join(COMPLIANCE_FORMATS)
        raise ValueError(f"unknown compliance format {fmt!r} (one of: {choices})")
    return renderers[fmt](report)


@hookimpl
def register_commands(cli):
    """Add ``tradekernel report`` (imported only when the CLI asks for plugin commands)."""
    from .commands import report

    cli.add_command(report)


__all__ = [
    "CHARTS",
    "COMPLIANCE_FORMATS",
    "COMPLIANCE_SCHEMA",
    "FORMATS",
    "REPORT_SCHEMA",
    "aggregate",
    "compliance_report",
    "daily_report",
    "day_window",
    "percentile",
    "render",
    "render_compliance",
    "render_html",
    "render_json",
    "render_markdown",
]


__getattr__ = lazy_exports(__name__, _LAZY)
"""The names of :data:`__all__`, each imported on first use: registering this plugin
imports only what its registration needs."""
