"""``tradekernel alerts``: evaluate the alert policy; show its effective thresholds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click
from tradekernel.api import AppContext, echo_json, inert, json_option, pass_app


def parse_day(_ctx: Any, param: Any, value: str | None) -> date | None:
    """``YYYY-MM-DD`` or ``today`` (None: today)."""
    if value is None or value == "today":
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD or today, got {value!r}") from None


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:g} ms"
    if unit == "s":
        return f"{value:g}s"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@click.group()
def alerts() -> None:
    """The alert policy: rules over the day's recorded events and the state store."""


@alerts.command("check")
@click.option("--date", "day", callback=parse_day, help="UTC day, YYYY-MM-DD (default: today).")
@click.option(
    "--no-notify", is_flag=True, help="Only evaluate: no alerts.* events, no notifications."
)
@json_option
@pass_app
def check(app: AppContext, day: date | None, no_notify: bool, as_json: bool) -> None:
    """Evaluate every alert rule; notify what fires (once per rule and day within the
    dedup window). Exit 4 when a rule fires, 0 otherwise."""
    from tradekernel.api import GateFailed

    from .alerts import check_alerts

    result = check_alerts(app.kernel(), day, announce=not no_notify)
    if as_json:
        echo_json(result.as_dict())
    else:
        click.echo(f"alerts {result.date.isoformat()} (profile {result.policy.profile})")
        width = max((len(r.name) for r in result.results), default=4)
        for r in result.results:
            fires = f"fires if {r.comparison} {_fmt(r.threshold, r.unit)}"
            click.echo(
                f"  {r.name:<{width}}  {r.status:<7}  {_fmt(r.value, r.unit):>10}  "
                f"{fires:<22}  {inert(r.detail)}"
            )
        for name in result.resolved:
            click.echo(f"resolved: {name}")
        for d in result.deliveries:
            error = f" ({inert(d['error'])})" if d["error"] else ""
            click.echo(f"notified: {d['notifier']} {d['status']} {d['dedup_key']}{error}")
    if result.firing:
        names = ", ".join(r.name for r in result.firing)
        raise GateFailed(f"{len(result.firing)} alert rule(s) firing: {names}")


@alerts.command("rules")
@json_option
@pass_app
def rules(app: AppContext, as_json: bool) -> None:
    """The effective policy: profile, every threshold and where it came from."""
    from .alerts import RULES, active_rules, load_policy

    policy = load_policy(app.settings())
    active = set(active_rules(policy))
    if as_json:
        data = policy.as_dict()
        data["active"] = [name for name in RULES if name in active]
        echo_json(data)
        return
    click.echo(f"profile {policy.profile}")
    for name, (_, key) in RULES.items():
        state = "on " if name in active else "off"
        value = policy.get(key)
        click.echo(f"  {state} {name:<24} {key} = {value}  ({policy.sources[key]})")
    for key in ("strategist_window", "strategist_min_calls"):
        click.echo(f"      {key} = {policy.get(key)}  ({policy.sources[key]})")
