"""``tradekernel slo``: the objectives' error budgets and burn rates from the recorded
events, and targets calibrated from them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from tradekernel.api import AppContext, echo_json, inert, json_option, pass_app


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


@click.group()
def slo() -> None:
    """Service level objectives: error budgets and burn-rate alerts ([slo])."""


@slo.command("status")
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Each objective's budget remaining and burn rates, replayed from the events
    recorded over its window. Exit 4 when an alert is firing."""
    from tradekernel.api import GateFailed

    from .slo import slo_status

    report = slo_status(app.settings(), datetime.now(UTC))
    if as_json:
        echo_json(report)
    elif not report["objectives"]:
        click.echo("no objectives: add [slo.objectives.<name>] tables (docs/operations.md)")
    else:
        click.echo(
            f"slo {report['now']} (fast burn {report['fast_burn']:g}, "
            f"slow burn {report['slow_burn']:g})"
        )
        for o in report["objectives"]:
            rates = "  ".join(f"{w} {_rate(r)}" for w, r in o["burn_rates"].items())
            click.echo(
                f"  {inert(o['objective'])}  {o['indicator']}  target {o['target']:g} "
                f"over {o['window']}  sli {_rate(o['sli'])}  budget left "
                f"{o['budget_remaining']:.1%}  burn {rates}  "
                f"{'FIRING ' + o['firing'] if o['firing'] else 'ok'}"
            )
    firing = [o["objective"] for o in report["objectives"] if o["firing"]]
    if firing:
        raise GateFailed(f"{len(firing)} objective(s) burning: {', '.join(firing)}")


@slo.command("calibrate")
@click.option(
    "--days",
    type=click.IntRange(1, 90),
    default=14,
    show_default=True,
    help="Days of recorded events to calibrate from.",
)
@json_option
@pass_app
def calibrate(app: AppContext, days: int, as_json: bool) -> None:
    """Propose targets (and latency thresholds: the p99 with a margin) from the last
    DAYS days, and show what each proposal would have fired. Changes nothing."""
    from .slo import calibrate as run

    report = run(app.settings(), datetime.now(UTC), days)
    if as_json:
        echo_json(report)
        return
    if not report["objectives"]:
        click.echo("no objectives: add [slo.objectives.<name>] tables (docs/operations.md)")
    for o in report["objectives"]:
        threshold = ""
        if o["proposed_threshold"] is not None:
            threshold = f"  threshold {o['proposed_threshold']:g}s (p99 {_rate(o['p99'])}s)"
        click.echo(
            f"{inert(o['objective'])}  {o['indicator']}  {o['samples']} samples  observed "
            f"{_rate(o['observed'])}  target {o['current_target']:g} -> "
            f"{o['proposed_target']:g}{threshold}  would fire {len(o['would_fire'])} "
            f"(the current objective: {len(o['fires_now'])})"
        )
        for label, fired in (("proposed", o["would_fire"]), ("current", o["fires_now"])):
            for f in fired:
                click.echo(f"    {label}: {f['ts']}  {f['alert']}  burn {f['burn_rate']:g}")
