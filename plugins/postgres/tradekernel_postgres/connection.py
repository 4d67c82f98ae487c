"""A psycopg connection that the store drives as it drives SQLite's.

:class:`PgConnection` runs the store's SQL on PostgreSQL: ``?`` placeholders become
``%s``, ``BEGIN`` (a reader's snapshot) becomes a ``REPEATABLE READ`` transaction and
``BEGIN IMMEDIATE`` (a plugin's write transaction) takes the store's write lock. Errors
come back in the store's vocabulary: ``sqlite3`` exception classes for what the store
already handles (a missing table, a constraint, damaged data), and one-line errors for
what an operator must fix (the server unreachable, the disk full, writes refused). A
password in the URL never appears in any of them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tradekernel.api import ConfigError, DiskFull, StateConflict, StateUnusable, TradekernelError

STORE_LOCK_KEY = 0x746B73746F7265
"""The advisory lock every write transaction of the store holds (``tkstore`` in ASCII):
one writer at a time, as SQLite's ``BEGIN IMMEDIATE``, so the journal chain is linear."""
LOCK_SQL = f"SELECT pg_advisory_xact_lock({STORE_LOCK_KEY})"
SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ"
WRITE_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
CONNECT_TIMEOUT_S = 10
_WRITES = ("INSERT", "UPDATE", "DELETE")
MASK = "********"


class StoreUnreachable(TradekernelError):
    """The PostgreSQL server cannot be reached or dropped the connection (exit 1: run the
    command again when it is back)."""


def mask_url(url: str) -> str:
    """``url`` with its password (userinfo or ``password=`` query value) masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password:
            user = parts.username or ""
            netloc = f"{user}:{MASK}@{netloc.rsplit('@', 1)[1]}"
        query = urlencode(
            [
                (k, MASK if k.lower() == "password" else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ],
            safe="*/",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "the [store] url"


def url_secrets(url: str) -> list[str]:
    """The password(s) written in ``url``, to scrub from a server's message."""
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    except ValueError:
        return []
    return found


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The store's SQLite-flavoured statement as PostgreSQL runs it."""
    head = sql.strip().upper()
    if head == "BEGIN":
        return SNAPSHOT
    if head == "BEGIN IMMEDIATE":
        return f"{WRITE_BEGIN}; {LOCK_SQL}"
    return sql.replace("%", "%%").replace("?", "%s")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class PgConnection:
    """A psycopg connection in autocommit mode with ``sqlite3.Connection``'s surface
    (what :class:`tradekernel.api.Store` uses)."""

    def __init__(self, raw: Any, label: str, secrets: list[str] | None = None) -> None:
        self.raw = raw
        self.label = label
        """The server's URL with its password masked: what errors name."""
        self._secrets = [s for s in (secrets or []) if s]
        self.total_changes = 0
        """Rows this connection inserted, updated or deleted (as SQLite counts them)."""
        self._versions = itertools.count(1)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Any = ()) -> Any:
        query = translate(sql)
        try:
            if params or "%s" in query or "%%" in query:
                cur = self.raw.execute(query, tuple(params))
            else:
                cur = self.raw.execute(query)
        except Exception as exc:
            raise self.mapped(exc) from None
        if cur.rowcount > 0 and query.lstrip()[:6].upper() in _WRITES:
            self.total_changes += cur.rowcount
        return cur

    def executemany(self, sql: str, rows: Any) -> None:
        try:
            with self.raw.cursor() as cur:
                cur.executemany(translate(sql), [tuple(r) for r in rows])
        except Exception as exc:
            raise self.mapped(exc) from None

    def next_version(self) -> int:
        """A fresh number on every call: the server tells a client nothing as cheap as
        SQLite's ``data_version``, so nothing read is reused (always read afresh)."""
        return next(self._versions)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a dead connection: nothing left to release
            self.raw.close()

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def mapped(self, exc: BaseException) -> BaseException:
        """``exc`` (a psycopg error) in the store's vocabulary."""
        import psycopg
        from psycopg import errors as e

        if not isinstance(exc, psycopg.Error):
            return exc
        text = self.scrub(_first_line(exc))
        if isinstance(exc, e.UndefinedTable | e.UndefinedColumn):
            return sqlite3.OperationalError(f"no such table or column: {text}")
        if isinstance(exc, e.DiskFull | e.OutOfMemory):
            return DiskFull(
                f"{self.label}: the database server is out of space ({text}); the "
                "transaction was rolled back, nothing was written: free space on the server "
                "and run the command again"
            )
        if isinstance(exc, e.DataCorrupted | e.IndexCorrupted):
            return sqlite3.DatabaseError(f"database disk image is malformed: {text}")
        if isinstance(exc, e.SerializationFailure | e.DeadlockDetected):
            return StateConflict(
                f"{self.label}: a concurrent write won ({text}); nothing was written: run it again"
            )
        if isinstance(exc, e.ReadOnlySqlTransaction | e.InsufficientPrivilege):
            return StateUnusable(
                f"{self.label}: the database refused the write ({text}); grant the [store] "
                "url's user write access to its tables; nothing was written"
            )
        if isinstance(exc, psycopg.IntegrityError | e.RaiseException):
            return sqlite3.IntegrityError(text)
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return StoreUnreachable(
                f"{self.label}: lost the connection to the PostgreSQL server ({text}); "
                "what was not committed was rolled back: run the command again"
            )
        return sqlite3.DatabaseError(text)


def connect(url: str, *, read_only: bool = False) -> PgConnection:
    """Connect to ``url`` (autocommit; ``read_only``: every transaction read-only).

    A server that is down is :class:`StoreUnreachable` (exit 1); one that refuses the
    credentials or lacks the database, or a malformed URL, a :class:`ConfigError` naming
    ``[store] url`` (exit 2). Neither message shows the password."""
    import psycopg

    label = mask_url(url)
    secrets = url_secrets(url)
    conn = PgConnection(None, label, secrets)
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"[store] url: not a usable PostgreSQL address ({conn.scrub(_first_line(exc))})"
        ) from None
    except psycopg.OperationalError as exc:
        text = conn.scrub(" ".join(str(exc).split())[:300])
        lowered = text.lower()
        if any(w in lowered for w in ("authentication", "password", "does not exist", "role")):
            raise ConfigError(
                f"[store] url: {label}: the PostgreSQL server refused the connection ({text}); "
                "check the user, password and database name"
            ) from None
        raise StoreUnreachable(
            f"{label}: cannot reach the PostgreSQL server ({text}); start it or fix "
            "[store] url, then run the command again; nothing was changed"
        ) from None
    conn.raw = raw
    if read_only:
        conn.execute("SET default_transaction_read_only = on")
    return conn
