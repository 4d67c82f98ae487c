"""``tradekernel config``: the effective settings and whether they are valid."""

from __future__ import annotations

import click

from ..display import inert
from .context import AppContext, echo_json, json_option, pass_app


@click.group()
def config() -> None:
    """Show and check the configuration."""


def _flatten(data: dict, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    rows = []
    for key, value in data.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            rows.extend(_flatten(value, path))
        else:
            rows.append((path, value))
    return rows


@config.command("show")
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print the effective settings and where each value came from (secrets masked)."""
    settings = app.settings()
    effective = settings.effective()
    rows = [
        {"key": ".".join(path), "value": value, "source": settings.source_of(*path)}
        for path, value in _flatten(effective)
    ]
    if as_json:
        echo_json({"config_path": str(settings.config_path or ""), "settings": rows})
        return
    click.echo(f"# config file: {settings.config_path or 'none (built-in defaults)'}")
    for row in rows:
        click.echo(f"{row['key']} = {row['value']!r}  # {row['source']}")


@config.command("check")
@json_option
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Validate the configuration and every selected component: exit 0 when valid, else 2."""
    from ..files import check_place

    kernel = app.kernel()
    warnings = kernel.check()
    settings = app.settings()
    check_place(settings.state_dir)  # what `run` would meet, checked without writing
    if as_json:
        instances = [{"kind": k, "instance": n, "use": u} for k, n, u in settings.instances()]
        echo_json(
            {"ok": True, "mode": settings.kernel.mode, "warnings": warnings}
            | ({"instances": instances} if instances else {})
        )
        return
    for warning in warnings:
        click.echo(f"warning: {inert(warning)}", err=True)
    brokers = ",".join(kernel.selected("broker"))
    click.echo(
        f"ok: mode={settings.kernel.mode} approval={settings.kernel.approval_mode} "
        f"broker{'s' if settings.components.brokers else ''}={brokers} "
        f"strategist={settings.components.strategist}"
    )
    for kind, name, used in settings.instances():
        click.echo(inert(f"instance: {kind}.{name} -> {kind}:{used}"))
