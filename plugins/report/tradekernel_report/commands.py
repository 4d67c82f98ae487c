"""``tradekernel report``: reports aggregated from the recorded event log (added by the
``register_commands`` hook of this distribution)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from tradekernel.api import AppContext, pass_app

_DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def report() -> None:
    """Reports computed from the recorded events (report.v1)."""


@report.command("daily")
@click.option(
    "--date", "day", type=_DATE, metavar="YYYY-MM-DD", help="UTC day (default: today, UTC)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "md", "html"]),
    default="md",
    show_default=True,
    help="json (report.v1), md (Markdown) or html (the dashboard).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file, not stdout."
)
@click.option(
    "--source",
    type=click.Choice(["jsonl", "sqlite"]),
    help="Event log to read (default: sqlite when that sink is enabled, else jsonl).",
)
@pass_app
def daily(
    app: AppContext, day: datetime | None, fmt: str, out: str | None, source: str | None
) -> None:
    """The daily report of one UTC day: strategist and LLM, skills, resilience, intents,
    approvals, denials, orders, fills, P&L and notifications."""
    from tradekernel.api import utcnow

    from . import daily_report, render

    now = utcnow()
    result = daily_report(app.settings(), (day or now).date(), source=source, now=now)
    text = render(result, fmt)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path} ({fmt}, {result['events']['total']} events)")
    else:
        click.echo(text, nl=False)
    if result["note"]:
        click.echo(f"note: {result['note']}", err=True)


@report.command("compliance")
@click.option(
    "--date", "day", type=_DATE, metavar="YYYY-MM-DD", help="UTC day (default: today, UTC)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "md", "json"]),
    default="text",
    show_default=True,
    help="text, md (Markdown) or json (compliance.v1).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file, not stdout."
)
@click.option(
    "--source",
    type=click.Choice(["jsonl", "sqlite"]),
    help="Event log to read policy events from (default: sqlite when enabled, else jsonl).",
)
@pass_app
def compliance(
    app: AppContext, day: datetime | None, fmt: str, out: str | None, source: str | None
) -> None:
    """The compliance report of one UTC day: every intent with its policy version, the
    rule that decided it, its approvals and approvers; overrides; policy changes."""
    from tradekernel.api import utcnow

    from . import compliance_report, render_compliance

    now = utcnow()
    result = compliance_report(app.settings(), (day or now).date(), source=source, now=now)
    text = render_compliance(result, fmt)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path} ({fmt}, {len(result['intents'])} intents)")
    else:
        click.echo(text, nl=False)
    if result["note"]:
        click.echo(f"note: {result['note']}", err=True)
