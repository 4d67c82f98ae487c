"""The ``release``, ``readiness``, ``health`` and ``backup`` commands."""

from __future__ import annotations

import contextlib
from typing import Any

import click
from tradekernel.api import (
    AppContext,
    Duration,
    GateFailed,
    NotFoundError,
    echo_json,
    inert,
    json_option,
    pass_app,
)


class DurationType(click.ParamType):
    """A positive duration option (``--max-age 5m``)."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> Duration:
        try:
            duration = Duration.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if duration <= 0:
            self.fail(f"expected a positive duration, got {value!r}", param, ctx)
        return duration


def _announce(app: AppContext, kind: str, severity: str = "info", **fields: Any) -> None:
    """Emit a ``deploy.<kind>`` event; the action already happened, so a failing event
    sink does not turn it into an error."""
    with contextlib.suppress(Exception):
        app.kernel().emit("deploy", kind, severity=severity, **fields)


def _store(app: AppContext) -> Any:
    from tradekernel.api import open_store

    settings = app.settings()
    return open_store(settings, redact=settings.redact)


# -- release -------------------------------------------------------------------------


@click.group()
def release() -> None:
    """Signed, content-addressed releases: create, list, diff, activate, rollback."""


@release.command("create")
@click.option("--note", default="", help="A note stored with the release.")
@click.option("--by", "actor", default="operator", show_default=True, help="Who creates it.")
@json_option
@pass_app
def create_cmd(app: AppContext, note: str, actor: str, as_json: bool) -> None:
    """Bundle the configuration, policy, prompt versions, strategist parameters and
    plugin versions in use; sign it with the audit key; store it (same content: same id)."""
    from .releases import create

    kernel = app.kernel()
    kernel.check()  # an invalid configuration is never released (exit 2)
    found, new = create(kernel, note=note, actor=actor)
    if new:
        _announce(app, "release_created", release=found.id, note=note, actor=actor)
    if as_json:
        echo_json({"id": found.id, "sha256": found.sha256, "new": new, "path": str(found.path)})
        return
    click.echo(f"{'created' if new else 'exists '} release {found.id}  {found.path}")


@release.command("list")
@json_option
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> None:
    """Every stored release, oldest first; the active one is marked."""
    from tradekernel.api import active_release

    from .releases import list_releases, problems

    settings = app.settings()
    found = list_releases(settings)
    active = None
    if (settings.state_dir / "state.db").exists():
        with _store(app) as store:
            active = active_release(store)
    bad = problems(settings)
    if as_json:
        echo_json(
            {
                "active": active,
                "releases": [
                    {"id": r.id, "active": r.id == active, **r.meta, "plugins": r.bundle["plugins"]}
                    for r in found
                ],
                "invalid": bad,
            }
        )
        return
    if not found and not bad:
        click.echo("no releases")
    for r in found:
        mark = "*" if r.id == active else " "
        click.echo(
            f"{mark} {r.id}  {r.meta.get('created', '')}  by {inert(str(r.meta.get('created_by')))}"
            f"  {inert(str(r.meta.get('note', '')))}"
        )
    for name, why in sorted(bad.items()):
        click.echo(f"! {inert(name)}  INVALID: {inert(why)}")


@release.command("diff")
@click.argument("a")
@click.argument("b")
@json_option
@pass_app
def diff_cmd(app: AppContext, a: str, b: str, as_json: bool) -> None:
    """What changed from release A to release B."""
    from .credentials import mask_credential_urls
    from .releases import diff, load

    settings = app.settings()

    def shown(value: Any) -> Any:  # a release stored before a check refused its secret
        if not isinstance(value, str):
            return value
        return settings.redact(mask_credential_urls(value))

    rows = [(p, shown(x), shown(y)) for p, x, y in diff(load(settings, a), load(settings, b))]
    if as_json:
        echo_json([{"path": p, "a": x, "b": y} for p, x, y in rows])
        return
    if not rows:
        click.echo("identical")
    for path, x, y in rows:
        if ":" in path:  # a line of the configuration or policy text
            click.echo(f"{path[:-2]}  {path[-1]} {inert(str(x if y is None else y))}")
        else:
            click.echo(f"{path}: {inert(str(x))} -> {inert(str(y))}")


def _activated(app: AppContext, result: Any, actor: str, reason: str, *, rollback: bool) -> None:
    _announce(
        app,
        "release_activated",
        "warning",
        release=result.release,
        previous=result.previous,
        rollback=rollback,
        stages=result.stages,
        actor=actor,
        reason=reason,
    )


def _print_activation(result: Any, as_json: bool, what: str) -> None:
    if as_json:
        echo_json({"release": result.release, "previous": result.previous, "stages": result.stages})
        return
    click.echo(f"{what} release {result.release} (was {result.previous or 'none'})")
    for name, stage in sorted(result.stages.items()):
        click.echo(f"  stage {name}: {stage or 'none'}")
    click.echo("a running agent applies it at its next cycle boundary")


@release.command("activate")
@click.argument("release_id")
@click.option("--by", "actor", default="operator", show_default=True, help="Who activates.")
@click.option("--reason", default="", help="Why (journaled).")
@json_option
@pass_app
def activate_cmd(app: AppContext, release_id: str, actor: str, reason: str, as_json: bool) -> None:
    """Make RELEASE_ID the agent's configuration (compare-and-set, journaled); each
    strategist gets the stage it earned under that release, else none."""
    from .activation import activate

    with _store(app) as store:
        result = activate(app.settings(), store, release_id, actor=actor, reason=reason)
    _activated(app, result, actor, reason, rollback=False)
    _print_activation(result, as_json, "activated")


@release.command("rollback")
@click.option("--by", "actor", default="operator", show_default=True, help="Who rolls back.")
@click.option("--reason", default="", help="Why (journaled).")
@json_option
@pass_app
def rollback_cmd(app: AppContext, actor: str, reason: str, as_json: bool) -> None:
    """Activate the release that was active before the current one."""
    from .activation import rollback

    with _store(app) as store:
        result = rollback(app.settings(), store, actor=actor, reason=reason)
    _activated(app, result, actor, reason, rollback=True)
    _print_activation(result, as_json, "rolled back to")


# -- readiness -------------------------------------------------------------------------


@click.command()
@click.option(
    "--for",
    "target",
    type=click.Choice(["live", "paper"]),
    default="live",
    show_default=True,
    help="The mode to check readiness for.",
)
@json_option
@pass_app
def readiness(app: AppContext, target: str, as_json: bool) -> None:
    """The production readiness checklist: each item passes or fails with its evidence.

    With an active release every item checks the release's settings (not --config):
    what a live start runs. Writes a signed report to the state directory and the
    audit archive; `run --mode live` needs a passing one made for that configuration.
    Exit 4 when any item fails. No order is sent."""
    from tradekernel.api import active_release

    from .readiness import run_checks, write_report
    from .releases import release_settings

    kernel = app.kernel()
    with _store(app) as store:
        active = active_release(store)
    if active is not None:  # check what a live start will run: the release's settings
        kernel = app.adopt(release_settings(app.settings(), active))
        kernel.check()
    with _store(app) as store:
        report = run_checks(kernel, store, target)
    path, archived = write_report(app.settings(), report)
    _announce(
        app,
        "readiness",
        "info" if report.passed else "error",
        result="passed" if report.passed else "failed",
        target=target,
        failed=[i.name for i in report.failed],
        release=report.release,
        report=str(path),
    )
    if as_json:
        echo_json({**report.as_dict(), "report": str(path), "archived": str(archived)})
    else:
        for item in report.items:
            mark = "ok  " if item.passed else "FAIL"
            click.echo(f"{mark} {item.name:<24} {inert(item.evidence)}")
        click.echo(f"report {path} (archived {archived})")
    if not report.passed:
        names = ", ".join(i.name for i in report.failed)
        raise GateFailed(f"not ready for {target}: {names}")


# -- health ------------------------------------------------------------------------------


@click.command()
@click.option("--max-age", type=DurationType(), help="The last cycle must be younger (5m).")
@json_option
@pass_app
def health(app: AppContext, max_age: Duration | None, as_json: bool) -> None:
    """Exit 0 when the agent holds its lock and its last cycle is recent, else 1 with
    the reason (for a container HEALTHCHECK and monitoring). Writes nothing."""
    from .health import check

    settings = app.settings()
    limit = float(max_age if max_age is not None else settings.deploy.health_max_age)
    result = check(settings.state_dir, limit)
    if as_json:
        echo_json({"ok": result.ok, "reason": result.reason, "pid": result.pid, "age": result.age})
    else:
        click.echo(("healthy: " if result.ok else "unhealthy: ") + result.reason)
    if not result.ok:
        raise SystemExit(1)


# -- backup ------------------------------------------------------------------------------


@click.command()
@click.option("--drill", is_flag=True, help="Restore the backup into a scratch dir and check it.")
@json_option
@pass_app
def backup(app: AppContext, drill: bool, as_json: bool) -> None:
    """Back up the state into [deploy] backup_dir (safe while the agent runs); with
    --drill run the restore drill on it and record the outcome (exit 4 when it fails)."""
    from .backup import drill as run_drill
    from .backup import make_backup

    settings = app.settings()
    if not (settings.state_dir / "state.db").exists():
        raise NotFoundError(f"{settings.state_dir}: no state.db to back up")
    path = make_backup(settings)
    record = run_drill(settings, path) if drill else None
    if as_json:
        echo_json({"backup": str(path), "drill": record})
    else:
        click.echo(f"backed up to {path}")
        if record is not None:
            click.echo(
                f"restore drill {'passed' if record['passed'] else 'FAILED'}: "
                f"{inert(record['detail'])}"
            )
    if record is not None and not record["passed"]:
        raise GateFailed(f"restore drill failed: {record['detail']}")
