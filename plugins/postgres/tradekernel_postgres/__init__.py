"""The ``postgres`` store: tradekernel's state on a PostgreSQL server (docs/scale-out.md).
psycopg is imported only when this store is opened, never when the plugin is."""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl


def _open(settings: Any, **options: Any) -> Any:
    """Open the store at ``[store] url`` (:func:`tradekernel_postgres.store.open_postgres`)."""
    from .store import open_postgres

    return open_postgres(settings, **options)


@hookimpl
def register_stores(register):
    register(
        "postgres",
        _open,
        description="The state on a PostgreSQL server ([store] url): several agents, hosts.",
        install="pip install tradekernel-postgres",
    )


@hookimpl
def register_commands(cli):
    """Add ``store`` (``store migrate``)."""
    from .commands import store

    cli.add_command(store)
