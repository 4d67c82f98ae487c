"""``tradekernel ops``: the scheduled batch (reconcile, alerts check, daily report)."""

from __future__ import annotations

import click
from tradekernel.api import AppContext, echo_json, inert, json_option, pass_app


@click.group()
def ops() -> None:
    """Scheduled operations for cron or a systemd timer."""


@ops.command("batch")
@click.option(
    "--status-file",
    type=click.Path(dir_okay=False),
    help="Where to write the status artifact (default: <state_dir>/ops-status.json).",
)
@json_option
@pass_app
def batch(app: AppContext, status_file: str | None, as_json: bool) -> None:
    """Reconcile stuck executions, check the alert policy and write today's report, under
    a lock (a second concurrent run exits 3 at once). Exit 1 when a step failed, 4 when
    only alerts fired, 0 otherwise."""
    from tradekernel.api import GateFailed, TradekernelError

    from .batch import run_batch

    result = run_batch(app.settings(), app.kernel, status_file=status_file)
    if as_json:
        echo_json(result.as_dict())
    else:
        for step in result.steps:
            timing = f"{step.duration_ms:>9.1f} ms"
            click.echo(f"{step.name:<10} {step.result:<7} {timing}  {inert(step.detail)}")
        click.echo(f"{result.result} (status: {result.status_file})")
    if result.failed:
        raise TradekernelError(f"ops batch: step(s) failed: {', '.join(result.failed)}")
    if result.exit_code == GateFailed.exit_code:
        raise GateFailed("ops batch: alert rule(s) firing (see the alerts step)")
