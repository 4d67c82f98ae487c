"""``store migrate``: copy a whole store from one backend to another, journal byte for byte.

The source is opened read-only and its journal verified first (a broken chain is not
copied); the destination must hold no state; every table is copied in one transaction
under the destination's write lock (all or nothing), in its stored order (the journal by
``seq``, shares in insertion order), column for column as text, so every journal row,
hash and payload arrives unchanged. The source is read in one snapshot (its check, its
head and every table); the copy is verified and its head compared with the source's
inside the destination's transaction, before the commit, so a copy that does not match
leaves the destination empty. The destination's journal anchor is written (a server
database's in its own directory, :func:`tradekernel_postgres.store.anchor_dir_for`).
After the store's tables, in the same transaction, every plugin table of the source
(:mod:`tradekernel_postgres.migrate_tables`: the catalogue's, and the older ones inferred
from their columns) is created at the destination and its rows copied with their ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from tradekernel.api import (
    DB_FILENAME,
    STORE_TABLES,
    ConfigError,
    GateFailed,
    NotFoundError,
    RefusedError,
    Store,
    journal_anchor_path,
    mask_store_url,
)

from . import migrate_tables

COPIED = tuple(t for t in STORE_TABLES if t != "tradekernel_meta")
"""The tables a migration copies, in an order that satisfies every reference."""
ORDER = {"journal": "seq", "fills": "rowid", "strategy_shares": "rowid"}
"""Tables whose stored order is part of their meaning."""
SCHEMES = ("sqlite:", "postgres://", "postgresql://")


@attrs.frozen
class Copied:
    """What a migration copied: rows per table and the journal head both sides share."""

    rows: dict[str, int]
    head_seq: int
    head_hash: str | None
    destination: str
    anchor: str
    """The destination's journal anchor on this host."""
    not_copied: tuple[str, ...] = ()
    """One line per source table left behind (``table: why``)."""


def parse_address(text: str, flag: str) -> tuple[str, str]:
    """``("sqlite", state_dir)`` or ``("postgres", url)`` for ``--from``/``--to``: a
    SQLite address names a state directory or its ``state.db`` (another ``.db`` file is
    a :class:`ConfigError`: the store's file is always ``state.db``)."""
    if text.startswith("sqlite:"):
        path = Path(text[len("sqlite:") :]).expanduser()
        if not str(path) or str(path) == ".":
            raise ConfigError(f"{flag}: sqlite:PATH needs a state directory or a state.db file")
        if path.name == DB_FILENAME:
            return "sqlite", str(path.parent)
        if path.suffix == ".db" and not path.is_dir():
            raise ConfigError(
                f"{flag}: sqlite:PATH names a state directory or its {DB_FILENAME}, "
                f"not {path.name!r}"
            )
        return "sqlite", str(path)
    if text.startswith(("postgres://", "postgresql://")):
        return "postgres", text
    raise ConfigError(
        f"{flag}: expected sqlite:PATH or postgresql://USER@HOST/DBNAME, not {text.split(':')[0]!r}"
    )


def _open(kind: str, where: str, settings: Any, *, source: bool) -> Store:
    if kind == "sqlite":
        return Store.open(where, create=not source, read_only=source)
    from .store import open_postgres

    return open_postgres(settings, url=where, create=not source, read_only=source)


def _columns(store: Store, table: str) -> list[str]:
    if store.dialect.name == "postgres":
        rows = store.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
    else:
        rows = ((r[1],) for r in store.conn.execute(f"PRAGMA table_info({table})"))
    return [r[0] for r in rows if r[0] != "rowid"]


def _count(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def migrate(source: str, destination: str, settings: Any) -> Copied:
    """Copy the store at ``source`` into the empty store at ``destination``.

    Raises :class:`NotFoundError` for a source without state, :class:`GateFailed`
    (exit 4) when the source's journal does not verify or the copy's does not match,
    :class:`RefusedError` (exit 3) for a destination holding state, and what opening
    either store raises (a foreign or newer database, a server down)."""
    src_kind, src_where = parse_address(source, "--from")
    dst_kind, dst_where = parse_address(destination, "--to")
    if (src_kind, src_where) == (dst_kind, dst_where):
        raise ConfigError("--from and --to name the same store")
    shown = mask_store_url(source) if src_kind == "postgres" else source
    with _open(src_kind, src_where, settings, source=True) as src:
        src.conn.execute("BEGIN")  # one snapshot: the check, the head and every table
        try:
            checked = src.verify_journal()
            if not checked.ok:
                raise GateFailed(
                    f"{shown}: its journal does not verify (seq {checked.first_bad_seq}: "
                    f"{checked.problem}); nothing was copied"
                )
            head = src.journal_head()
            plans, not_copied = migrate_tables.plan(src)
            with _open(dst_kind, dst_where, settings, source=False) as dst:
                rows = _copy(src, dst, head, plans)
                where = str(dst.path)
                dst.write_anchor(force=True)  # the destination's own anchor
                anchor = str(journal_anchor_path(dst.state_dir))
        finally:
            if src.conn.in_transaction:
                src.conn.execute("COMMIT")
    return Copied(rows, head[0], head[1], where, anchor, tuple(not_copied))


def _copy(
    src: Store, dst: Store, head: tuple[int, str | None], plans: list[migrate_tables.Plan]
) -> dict[str, int]:
    """Copy every table and check the copy inside the destination's write transaction:
    a refusal or a copy that does not verify is rolled back, leaving it empty."""
    rows: dict[str, int] = {}
    with dst.dialect.write(dst.conn) as conn:
        full = [t for t in COPIED if _count(dst, t)] + migrate_tables.holding_rows(dst, plans)
        if full:
            raise RefusedError(
                f"{dst.path}: the destination holds state already ({', '.join(full)}); "
                "migrate into an empty database or state directory; nothing was copied"
            )
        for table in COPIED:
            columns = [c for c in _columns(dst, table) if c in set(_columns(src, table))]
            names = ", ".join(columns)
            order = f" ORDER BY {ORDER[table]}" if table in ORDER else ""
            data = [tuple(r) for r in src.conn.execute(f"SELECT {names} FROM {table}{order}")]
            if data:
                marks = ", ".join("?" * len(columns))
                conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", data)
            rows[table] = len(data)
        rows.update(migrate_tables.copy(src, dst, conn, plans))
        copied = dst.verify_journal()
        if not copied.ok or dst.journal_head() != head:
            raise GateFailed(
                f"{dst.path}: the copied journal does not match its source "
                f"({copied.problem or 'another head'}); the copy was rolled back, the "
                "destination is as it was: nothing was copied"
            )
    return rows


__all__ = ["Copied", "NotFoundError", "migrate", "parse_address"]
