"""``tradekernel plugins``: what is installed, what it registers, and what failed."""

from __future__ import annotations

import click

from ..display import inert
from .context import AppContext, echo_json, json_option, pass_app, redact_text
from .plugins_new import new


@click.group()
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("list")
@json_option
@pass_app
def list_plugins(app: AppContext, as_json: bool) -> None:
    """List plugins: distribution, version, components, commands, hooks, status and load
    error. Imports every allowed plugin."""
    infos = app.registry().listing()
    for info in infos:  # a load error may quote a secret (the registry masks it too)
        info.error = redact_text(info.error) if info.error else info.error
    if as_json:
        echo_json(infos)
        return
    for info in infos:
        version = f" {info.version}" if info.version else ""
        click.echo(f"{info.name}  ({info.distribution}{version})  [{info.status}]")
        for i, component in enumerate(info.components):
            label = "    components: " if i == 0 else " " * 16
            about = f"  {inert(component.description)}" if component.description else ""
            click.echo(f"{label}{component.key} (version {inert(component.version)}){about}")
        twice = [c for c in info.conflicts if not c.startswith("entry-point:")]
        if twice:
            click.echo(f"    conflicts:  {', '.join(twice)} (registered twice: neither loads)")
        for clash in sorted(set(info.conflicts) - set(twice)):
            click.echo(f"    conflicts:  {clash} (another distribution installs it too)")
        if info.commands:
            click.echo(f"    commands:   {', '.join(info.commands)}")
        hooks = [h for h in info.hooks if not h.startswith("register_")]
        if hooks:
            click.echo(f"    observes:   {', '.join(hooks)}")
        if info.install:
            click.echo(f"    install:    {inert(info.install)}")
        if info.error:
            click.echo(f"    error:      {inert(info.error)}")
    for kind, name, used in app.settings().instances():
        click.echo(inert(f"instance {kind}.{name}  uses {kind}:{used}"))


plugins.add_command(new)
