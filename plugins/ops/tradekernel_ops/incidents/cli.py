"""``tradekernel incidents``: list, show, acknowledge, resolve, postmortem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from tradekernel.api import AppContext, echo_json, inert, json_option, pass_app


def _approver(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """``--by`` as an approver name (exit 2 when it is not one). Not authentication."""
    from tradekernel.api import RefusedError, approver_name

    try:
        return approver_name(value)
    except RefusedError as exc:
        raise click.BadParameter(str(exc)) from None


_by = click.option(
    "--by",
    required=True,
    callback=_approver,
    help="Who: a name of letters, digits and . _ @ + - (not authenticated).",
)
_id = click.argument("incident_id", type=click.IntRange(min=1, max=2**63 - 1), metavar="ID")


def _reader(app: AppContext) -> Any:
    """Incidents for reading: nothing is created when there is no incidents.db yet."""
    from .service import Incidents
    from .store import DB_FILE

    settings = app.settings()
    if not (Path(settings.state_dir) / DB_FILE).exists():
        return None
    return Incidents(settings)


def _writer(app: AppContext) -> Any:
    from .observer import build

    return build(app.kernel())


def _line(item: Any) -> str:
    who = f" by {item.acknowledged_by}" if item.acknowledged_by else ""
    return (
        f"{item.id:>4}  {item.state:<12}  {item.severity:<8}  {item.opened:%Y-%m-%d %H:%M}"
        f"  {inert(item.title)[:80]}{who}"
    )


@click.group()
def incidents() -> None:
    """Incidents opened by alerts: list, show, acknowledge, resolve, postmortem."""


@incidents.command("list")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved incidents.")
@json_option
@pass_app
def list_(app: AppContext, include_resolved: bool, as_json: bool) -> None:
    """Open (and acknowledged) incidents, oldest first."""
    service = _reader(app)
    items = [] if service is None else service.list(include_resolved=include_resolved)
    if as_json:
        echo_json([i.as_dict() for i in items])
        return
    if not items:
        click.echo("no incidents" if include_resolved else "no open incidents")
    for item in items:
        click.echo(_line(item))


@incidents.command("show")
@_id
@json_option
@pass_app
def show(app: AppContext, incident_id: int, as_json: bool) -> None:
    """One incident with its escalation steps and timeline."""
    from tradekernel.api import NotFoundError

    service = _reader(app)
    if service is None:
        raise NotFoundError(f"no incident {incident_id}")
    item = service.get(incident_id)
    if as_json:
        echo_json(item.as_dict())
        return
    click.echo(_line(item))
    click.echo(f"  key: {inert(item.key)}")
    for step in item.steps:
        click.echo(f"  step {step['step']}: {step['notifier']} {step['status']} at {step['ts']}")
    for entry in item.timeline:
        click.echo(f"  {entry['ts']}  {inert(entry['what'])}  {inert(entry['detail'])}")


@incidents.command("ack")
@_id
@_by
@pass_app
def ack(app: AppContext, incident_id: int, by: str) -> None:
    """Acknowledge an incident: its escalation stops."""
    item = _writer(app).acknowledge(incident_id, by)
    click.echo(f"incident {item.id} acknowledged by {item.acknowledged_by}")


@incidents.command("resolve")
@_id
@_by
@pass_app
def resolve(app: AppContext, incident_id: int, by: str) -> None:
    """Resolve an incident (a new alert of its kind opens a new one)."""
    item = _writer(app).resolve(incident_id, by)
    click.echo(f"incident {item.id} resolved by {item.resolved_by}")


@incidents.command("postmortem")
@_id
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write it here."
)
@pass_app
def postmortem_cmd(app: AppContext, incident_id: int, output: Path | None) -> None:
    """A markdown postmortem skeleton from the incident's timeline."""
    from tradekernel.api import NotFoundError, atomic_write

    from .postmortem import postmortem

    service = _reader(app)
    if service is None:
        raise NotFoundError(f"no incident {incident_id}")
    text = postmortem(service.get(incident_id))
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write(output, text)
        click.echo(f"wrote {output}")
