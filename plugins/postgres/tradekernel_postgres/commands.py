"""The ``store`` command group: ``store migrate``."""

from __future__ import annotations

import click
from tradekernel.api import AppContext, echo_json, json_option, pass_app


@click.group()
def store() -> None:
    """The state store: move it between SQLite and PostgreSQL (docs/scale-out.md)."""


@store.command("migrate")
@click.option(
    "--from",
    "source",
    required=True,
    help="The store to copy: sqlite:STATE_DIR (or sqlite:PATH/state.db) or postgresql://...",
)
@click.option(
    "--to",
    "destination",
    required=True,
    help="An empty store to copy into: postgresql://USER@HOST/DBNAME or sqlite:STATE_DIR.",
)
@json_option
@pass_app
def migrate_cmd(app: AppContext, source: str, destination: str, as_json: bool) -> None:
    """Copy every intent, journal row, control, order, fill and share into an empty store,
    the journal byte for byte, then verify it there (exit 4 when it does not verify, 3
    when the destination holds state). Stop the agent first."""
    from .connection import mask_url
    from .migrate import anchor_note, migrate, parse_address

    settings = app.settings()
    copied = migrate(source, destination, settings)
    kind, where = parse_address(destination, "--to")
    shown = {
        "from": mask_url(source) if "://" in source else source,
        "to": copied.destination,
        "rows": copied.rows,
        "journal_head": {"seq": copied.head_seq, "hash": copied.head_hash},
        "verified": True,
        "anchor": anchor_note(kind, where, settings),
    }
    if as_json:
        echo_json(shown)
        return
    counts = ", ".join(f"{n} {table}" for table, n in copied.rows.items())
    click.echo(f"copied {counts}")
    click.echo(
        f"journal verified at {copied.destination}: head seq {copied.head_seq} "
        f"({(copied.head_hash or '-')[:16]}), the same as the source's"
    )
    if kind == "postgres":
        click.echo('to use it: [components] store = "postgres" and [store] url (or TK_STORE_URL)')
