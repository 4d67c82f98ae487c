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


SQLITE = SqliteDialect()
"""The default store's dialect."""
