"""``tradekernel audit``: signed daily archives, their verification, event-log retention,
restoring a state backup, and Ed25519 key generation (see docs/audit.md)."""

from __future__ import annotations

from typing import Any

import click
from tradekernel.api import AppContext, echo_json, inert, json_option, pass_app


@click.group()
def audit() -> None:
    """Signed audit archives, retention pruning and restore."""


@audit.command("archive")
@click.option("--date", "day", required=True, help="The UTC day to archive (YYYY-MM-DD).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write the bundle to OUT/<date> instead of [audit] archive_dir/<date>.",
)
@json_option
@pass_app
def archive(app: AppContext, day: str, out_dir: str | None, as_json: bool) -> None:
    """Write the signed bundle of one UTC day (exit 2 without a signing key)."""
    from . import archive_day

    result = archive_day(app.settings(), day, out_dir=out_dir)
    manifest = result.manifest
    if as_json:
        echo_json({"path": str(result.path), "manifest": manifest})
        return
    events = manifest["events"]
    counts = [f"{events['jsonl']['records']} jsonl events"]
    if events["sqlite"] is not None:
        counts.append(f"{events['sqlite']['records']} sqlite events")
    signed = manifest["signature"]
    click.echo(
        f"archived {manifest['date']} to {result.path}: {manifest['journal']['rows']} journal "
        f"rows, {', '.join(counts)}; signed {signed['algorithm']} by {signed['key_id']}"
    )
    if manifest["report"]["skipped"]:
        click.echo(
            f"note: no daily report in the bundle: {manifest['report']['skipped']}", err=True
        )
    skipped = manifest["compliance"]["skipped"]
    if skipped and skipped != manifest["report"]["skipped"]:
        click.echo(f"note: no compliance report in the bundle: {skipped}", err=True)


@audit.command("verify")
@click.argument("bundle", type=click.Path())
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="An Ed25519 public key file to verify with (repeatable), besides [audit]'s keys.",
)
@click.option(
    "--hmac-key-env",
    "hmac_envs",
    multiple=True,
    help="An environment variable holding an HMAC key to verify with (repeatable).",
)
@json_option
@pass_app
def verify(
    app: AppContext,
    bundle: str,
    public_keys: tuple[str, ...],
    hmac_envs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check a bundle's signature, files and journal chain (exit 4 naming the first problem)."""
    from tradekernel.api import ConfigError, GateFailed

    from . import verifiers_from_settings, verify_bundle

    app.env_names.update(hmac_envs)
    verifiers = verifiers_from_settings(
        app.settings(), public_keys=public_keys, hmac_key_envs=hmac_envs
    )
    if not verifiers:
        raise ConfigError(
            "no verifying key: pass --public-key PATH or --hmac-key-env NAME, or configure "
            "[audit] ed25519_public_keys / hmac_key_env"
        )
    check = verify_bundle(bundle, verifiers)
    if as_json:
        echo_json(check)
    elif check.ok:
        click.echo(inert(check.line()))
    if not check.ok:
        raise GateFailed(f"audit bundle verification failed: {check.line()}")


def _prune_line(day: Any) -> str:
    if day.action == "refused":
        return f"{day.date}  refused: {day.reason}"
    what = []
    if day.jsonl_file:
        what.append(day.jsonl_file)
    if day.sqlite_rows:
        what.append(f"{day.sqlite_rows} events rows")
    verb = "pruned" if day.action == "pruned" else "would prune"
    return f"{day.date}  {verb}: {', '.join(what) or 'nothing live'}"


@audit.command("prune")
@click.option("--before", help="Prune days before this UTC day (default: the retention cutoff).")
@click.option("--dry-run", is_flag=True, help="Verify and report; change nothing.")
@json_option
@pass_app
def prune_cmd(app: AppContext, before: str | None, dry_run: bool, as_json: bool) -> None:
    """Drop archived days older than [audit] retention from the event log (never the
    journal). A day without a verified, up-to-date archive is refused (exit 3)."""
    from tradekernel.api import RefusedError

    from . import prune

    result = prune(app.settings(), before=before, dry_run=dry_run)
    if as_json:
        echo_json(result)
    else:
        for day in result.days:
            click.echo(inert(_prune_line(day)))
        done = len(result.days) - len(result.refused)
        verb = "would prune" if dry_run else "pruned"
        click.echo(f"{verb} {done} day(s) before {result.before}; refused {len(result.refused)}")
    if result.refused:
        first = result.refused[0]
        others = [d.date for d in result.refused[1:]]
        more = f" (also refused: {', '.join(others)})" if others else ""
        raise RefusedError(
            f"prune refused for {first.date}: {first.reason}{more}; refused days were left "
            "untouched"
        )


@audit.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False))
@click.option(
    "--state-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="A new or empty directory to restore into.",
)
@json_option
def restore(backup: str, state_dir: str, as_json: bool) -> None:
    """Restore a `journal backup` file into a new state directory and verify its journal."""
    from . import restore_backup

    result = restore_backup(backup, state_dir)
    if as_json:
        echo_json({"path": str(result.path), "intents": result.intents, "journal": result.journal})
        return
    click.echo(
        f"restored {backup} to {result.path}: {result.intents} intents, "
        f"{result.journal.rows_checked} journal rows verified"
    )


@audit.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False))
def keygen(path: str) -> None:
    """Write a new Ed25519 key pair: PATH (private, mode 0600) and PATH.pub."""
    from . import generate_ed25519

    private_path, public_path, key_id = generate_ed25519(path)
    click.echo(f"wrote {private_path} (private; keep it secret) and {public_path}: {key_id}")
