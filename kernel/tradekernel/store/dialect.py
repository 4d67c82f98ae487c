"""Where the stores' SQL differs: the one seam between the SQLite store and a server store.

:class:`tradekernel.store.Store` holds every rule (compare-and-set transitions, approvals
and quorum, the journal chain, controls, orders and fills) once, in SQL both SQLite and
PostgreSQL run. A :class:`Dialect` supplies the few pieces that differ: how a write
transaction takes the single writer's lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL an
advisory lock, so the journal's hash chain stays linear), how a reader learns that
another connection committed, and two statements. The connection it is given behaves as
a ``sqlite3.Connection`` in autocommit mode (``execute`` with ``?`` placeholders,
``in_transaction``, ``total_changes``, ``close``) and raises ``sqlite3``'s exception
classes, which is what the store's error mapping understands.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from .db import immediate, transaction

__all__ = ["SQLITE", "Dialect", "SqliteDialect", "transaction"]


class Dialect(Protocol):
    """What a store backend supplies where its SQL differs from SQLite's."""

    name: str
    """``sqlite``, ``postgres`` ...: shown in errors and ``store`` output."""
    open_orders_index: bool
    """Whether ``INDEXED BY intents_open_orders`` may be named (SQLite's partial index)."""
    control_keys_sql: str
    """A one-column ``SELECT value`` of the JSON array of keys bound as its one parameter."""

    def write(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """One write transaction holding the store's single-writer lock: committed on
        success, rolled back on any exception."""
        ...

    def data_version(self, conn: Any) -> int:
        """A number that changes whenever another connection may have committed."""
        ...

    row_id_type: str
    """The column definition of a row id the database assigns (a plugin table's)."""
    column_types: dict[str, str]
    """SQL types of a plugin table's ``int``, ``float``, ``str`` and ``bytes`` columns."""

    def tables(self, conn: Any) -> set[str]:
        """The names of the tables in the store's database (its schema)."""
        ...

    def columns(self, conn: Any, table: str) -> list[str]:
        """The columns of ``table``, in order."""
        ...

    def index_columns(self, conn: Any, name: str) -> tuple[str, tuple[str, ...]] | None:
        """The table and columns of the index ``name`` in the store's schema, if any."""
        ...

    def insert_id(self, conn: Any, sql: str, params: tuple[Any, ...], row_id: str) -> int:
        """Run the ``INSERT`` ``sql`` and return the ``row_id`` of the row it made."""
        ...

    def sync_row_id(self, conn: Any, table: str, row_id: str) -> None:
        """After rows were copied in with their ids: the next assigned id follows them."""
        ...

    def set_lock_wait(self, conn: Any, seconds: float) -> None:
        """Make a write on ``conn`` wait at most ``seconds`` for another writer's lock,
        for as long as the connection lives (a reconnect included)."""
        ...


class SqliteDialect:
    """SQLite's: ``BEGIN IMMEDIATE`` and ``PRAGMA data_version``."""

    name = "sqlite"
    open_orders_index = True
    control_keys_sql = "SELECT value FROM json_each(?)"

    def __repr__(self) -> str:  # the default in Store's signature (docs/api.md)
        return "SQLITE"

    def write(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        return immediate(conn)

    def data_version(self, conn: Any) -> int:
        return conn.execute("PRAGMA data_version").fetchone()[0]

    row_id_type = "INTEGER PRIMARY KEY"
    column_types = {"int": "INTEGER", "float": "REAL", "str": "TEXT", "bytes": "BLOB"}

    def tables(self, conn: Any) -> set[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows if not r[0].startswith("sqlite_")}

    def columns(self, conn: Any, table: str) -> list[str]:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]

    def index_columns(self, conn: Any, name: str) -> tuple[str, tuple[str, ...]] | None:
        row = conn.execute(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        rows = conn.execute("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,))
        return row[0], tuple(r[0] for r in rows)

    def insert_id(self, conn: Any, sql: str, params: tuple[Any, ...], row_id: str) -> int:
        return int(conn.execute(sql, params).lastrowid or 0)  # RETURNING needs SQLite 3.35

    def sync_row_id(self, conn: Any, table: str, row_id: str) -> None:
        """Nothing to do: SQLite assigns max(rowid) + 1."""

    def set_lock_wait(self, conn: Any, seconds: float) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")


SQLITE = SqliteDialect()
"""The default store's dialect."""
