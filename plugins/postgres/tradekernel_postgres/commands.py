"""The ``store`` command group: ``store migrate``, ``store accept-identity``."""

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
    """Copy every intent, journal row, control, order, fill and share, and every plugin
    table, into an empty store, the journal byte for byte, then verify it there (exit 4
    when it does not verify, 3 when the destination holds state). Stop the agent first."""
    from .connection import mask_url
    from .migrate import migrate, parse_address

    settings = app.settings()
    settings.add_store_url(source)  # -v tracebacks and logs mask them too
    settings.add_store_url(destination)
    copied = migrate(source, destination, settings)
    kind, _ = parse_address(destination, "--to")
    shown = {
        "from": mask_url(source) if "://" in source else source,
        "to": copied.destination,
        "rows": copied.rows,
        "journal_head": {"seq": copied.head_seq, "hash": copied.head_hash},
        "verified": True,
        "anchor": copied.anchor,
        "not_copied": list(copied.not_copied),
    }
    if as_json:
        echo_json(shown)
        return
    counts = ", ".join(f"{n} {table}" for table, n in copied.rows.items())
    click.echo(f"copied {counts}")
    for line in copied.not_copied:
        click.echo(f"not copied: {line}")
    click.echo(
        f"journal verified at {copied.destination}: head seq {copied.head_seq} "
        f"({(copied.head_hash or '-')[:16]}), the same as the source's"
    )
    if kind == "postgres":
        click.echo('to use it: [components] store = "postgres" and [store] url (or TK_STORE_URL)')


@store.command("accept-identity")
@click.option("--by", "actor", default="operator", show_default=True, help="Who accepts.")
@click.option("--reason", required=True, help="Why, and how it was reconciled (journaled).")
@json_option
@pass_app
def accept_identity_cmd(app: AppContext, actor: str, reason: str, as_json: bool) -> None:
    """Accept the database at [store] url after a restore, a re-created database or a
    failover, once its intents and orders were reconciled with the broker: journals the
    acceptance, records the database's identity and moves this host's journal anchor to
    its head. Run it on each host that refuses the database (docs/scale-out.md)."""
    from .store import accept_identity

    done = accept_identity(app.settings(), actor=actor, reason=reason)
    if as_json:
        echo_json(done)
        return
    ident = done["identity"]
    click.echo(
        f"accepted the database (system identifier {ident['system_identifier']}, database "
        f"OID {ident['database_oid']}, timeline {ident['timeline']}); journaled as "
        f"control:store_identity; this host's anchor is at seq "
        f"{(done['anchor'] or {}).get('seq', 0)} ({done['anchor_file']})"
    )
