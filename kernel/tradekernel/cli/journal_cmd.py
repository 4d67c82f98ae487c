"""``tradekernel journal``: verify the hash chain, export it, back the database up."""

from __future__ import annotations

from pathlib import Path

import click

from ..display import inert_json
from .context import AppContext, echo_json, json_option, pass_app


@click.group()
def journal() -> None:
    """Verify, export and back up the state journal."""


def _store(app: AppContext, *, check_anchor: bool = True):
    """The store; ``check_anchor=False`` (verify) opens it as it is even when it
    disagrees with the journal anchor, to report that."""
    from ..store import open_store

    return open_store(app.settings(), create=False, check_anchor=check_anchor)


@journal.command("verify")
@json_option
@pass_app
def verify(app: AppContext, as_json: bool) -> None:
    """Check the hash chain and that intent states agree with it (exit 4 when not)."""
    from ..errors import GateFailed, NotFoundError
    from ..serde import unstructure
    from ..store import open_store
    from ..store.anchor import read_anchor
    from ..store.states import DatabaseCorrupted

    try:  # read-only: an evidence copy in a read-only directory can be verified
        with open_store(app.settings(), create=False, read_only=True) as store:
            result = store.verify_journal()
    except DatabaseCorrupted as exc:  # a damaged file it could open: a failed verification
        raise GateFailed(f"journal verification failed: {exc}") from None
    except NotFoundError:
        anchor = read_anchor(app.settings().kernel.state_dir)
        if anchor is None:
            raise
        raise GateFailed(
            f"journal verification failed: journal truncated: anchor at seq {anchor.seq}, "
            "journal ends at 0 (the state database is missing)"
        ) from None
    if as_json:
        echo_json(unstructure(result))
    elif result.ok:
        click.echo(f"ok: {result.rows_checked} journal rows verified")
    if not result.ok:
        where = f"row {result.first_bad_seq}" if result.first_bad_seq else "state"
        raise GateFailed(f"journal verification failed at {where}: {result.problem}")


@journal.command("export")
@click.option("--jsonl", "jsonl", is_flag=True, required=True, help="One JSON object per row.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@pass_app
def export(app: AppContext, jsonl: bool, out: str | None) -> None:
    """Export the journal, one JSON object per line, in order."""
    from ..serde import unstructure

    with _store(app) as store:
        lines = [inert_json(unstructure(r), sort_keys=True) for r in store.journal_rows()]
    text = "".join(line + "\n" for line in lines)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"exported {len(lines)} rows to {out}", err=True)
    else:
        click.echo(text, nl=False)


@journal.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@pass_app
def backup(app: AppContext, path: str) -> None:
    """Copy the state database to PATH with SQLite's online backup (safe while running)."""
    from ..errors import RefusedError

    dest = Path(path)
    if dest.exists():
        raise RefusedError(f"{dest}: already exists; choose a new path (nothing was written)")
    with _store(app) as store:
        store.backup(dest)
    click.echo(f"backed up {store.path} to {dest}")
