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

from tradekernel.api import (
    ConfigError,
    DiskFull,
    StateConflict,
    StateUnusable,
    TradekernelError,
    mask_store_url,
    store_url_secrets,
)

STORE_LOCK_KEY = 0x746B73746F7265
"""The advisory lock every write transaction of the store holds (``tkstore`` in ASCII):
one writer at a time, as SQLite's ``BEGIN IMMEDIATE``, so the journal chain is linear."""
LOCK_SQL = f"SELECT pg_advisory_xact_lock({STORE_LOCK_KEY})"
SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ"
WRITE_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
CONNECT_TIMEOUT_S = 10
"""How long a connection attempt may take before the server counts as unreachable."""
LOCK_TIMEOUT_S = 30
"""How long a writer waits for the store's lock (SQLite's busy timeout): then it fails
with one line naming the holder, never waits forever behind a frozen writer."""
IDLE_IN_TRANSACTION_S = 60
"""A session of the store idle inside a transaction this long (a frozen or paused
process) is ended by the server, which releases its lock: the store's transactions never
wait between statements."""
_AUTH_SQLSTATES = ("28000", "28P01", "3D000", "42501")
"""Refused credentials, an unknown database, no permission to connect (exit 2)."""
_WRITES = ("INSERT", "UPDATE", "DELETE")
MASK = "********"


class StoreBusy(TradekernelError):
    """Another session held the store's write lock longer than the lock timeout; nothing
    was written (exit 1: run the command again, or end the holder)."""


class StoreUnreachable(TradekernelError):
    """The PostgreSQL server cannot be reached or dropped the connection (exit 1: run the
    command again when it is back)."""


def mask_url(url: str) -> str:
    """``url`` with every secret masked (the password, ``sslpassword``, ``options``)."""
    return mask_store_url(url)


def url_secrets(url: str) -> list[str]:
    """The secrets written in ``url``, to scrub from a server's message."""
    return store_url_secrets(url)


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
        self.reconnect: Any = None
        """Makes a new connection to the same server (set by :func:`connect`): used once
        when the server dropped this one between transactions."""
        self.label = label
        """The server's URL with its password masked: what errors name."""
        self._secrets = [s for s in (secrets or []) if s]
        self.total_changes = 0
        """Rows this connection inserted, updated or deleted (as SQLite counts them)."""
        self._versions = itertools.count(1)
        self._lock_wait: str | None = None
        """``SET lock_timeout`` asked by :meth:`set_lock_wait`, applied again on reconnect."""

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        if self._dropped():  # the server rolled back whatever was open
            return False
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Any = ()) -> Any:
        query = translate(sql)
        # A statement that opens a transaction or reads outside one may run again on a
        # new connection when the server dropped this one (a restart, a failover): no
        # transaction of ours was open, so nothing was lost. Never inside a transaction.
        fresh = query.startswith(("BEGIN", "SELECT")) and not self.in_transaction
        try:
            cur = self._run(query, params)
        except Exception as exc:
            if not (fresh and self.reconnect is not None and self._dropped()):
                raise self.mapped(exc) from None
            self.close()
            self.raw = self.reconnect()
            if self._lock_wait is not None:
                self.raw.execute(self._lock_wait)
            try:
                cur = self._run(query, params)
            except Exception as again:
                raise self.mapped(again) from None
        if cur.rowcount > 0 and query.lstrip()[:6].upper() in _WRITES:
            self.total_changes += cur.rowcount
        return cur

    def _run(self, query: str, params: Any) -> Any:
        if params or "%s" in query or "%%" in query:
            return self.raw.execute(query, tuple(params))
        return self.raw.execute(query)

    def _dropped(self) -> bool:
        return bool(self.raw.closed or getattr(self.raw, "broken", False))

    def executemany(self, sql: str, rows: Any) -> None:
        try:
            with self.raw.cursor() as cur:
                cur.executemany(translate(sql), [tuple(r) for r in rows])
        except Exception as exc:
            raise self.mapped(exc) from None

    def set_lock_wait(self, seconds: float) -> None:
        """Wait at most ``seconds`` for a lock (``lock_timeout``), on this connection and
        on the one a reconnect makes."""
        self._lock_wait = f"SET lock_timeout = '{max(1, int(seconds * 1000))}ms'"
        self.execute(self._lock_wait)

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

    def lock_holder(self) -> str:
        """Who holds the store's write lock, for a message (best effort)."""
        return self.scrub(_holder(self))

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
        if isinstance(exc, e.ReadOnlySqlTransaction):
            return StateUnusable(
                f"{self.label}: the database refused the write ({text}): the store was "
                "opened read-only, or the server is a standby; nothing was written"
            )
        if isinstance(exc, e.InsufficientPrivilege):
            return StateUnusable(
                f"{self.label}: the database refused the write ({text}); grant the [store] "
                "url's user write access to its tables; nothing was written"
            )
        if isinstance(exc, psycopg.IntegrityError | e.RaiseException):
            return sqlite3.IntegrityError(text)
        if isinstance(exc, e.InvalidSchemaName):
            return ConfigError(
                f"[store] url: {self.label}: {text}: the search_path names no schema the "
                "store's tables can be created in; create the schema or fix the search_path "
                "(options=-csearch_path=... or the role's default); nothing was written"
            )
        if isinstance(exc, e.LockNotAvailable):
            return StoreBusy(
                f"{self.label}: timed out waiting for the store's write lock ({text}); "
                f"{self.lock_holder()}; nothing was written: run the command again, or end "
                "that session (pg_terminate_backend) if it is frozen"
            )
        if isinstance(exc, e.QueryCanceled):
            return StoreBusy(
                f"{self.label}: the server cancelled the statement ({text}): a timeout "
                "(statement_timeout) ran out, or a wait for the store's write lock did; "
                f"{self.lock_holder()}; what was not committed was rolled back: run the "
                "command again"
            )
        if self._unreachable(exc):
            return StoreUnreachable(
                f"{self.label}: lost the connection to the PostgreSQL server ({text}); "
                "what was not committed was rolled back: run the command again"
            )
        return sqlite3.DatabaseError(text)

    def _unreachable(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the server is gone (running the command again may help):
        the connection broke, or a connection-class (08) or shutdown (57P0x) error. A
        server's limit (a key too large for its index, too many columns) is not one."""
        import psycopg

        if self._dropped() or isinstance(exc, psycopg.InterfaceError):
            return True
        if not isinstance(exc, psycopg.OperationalError):
            return False
        sqlstate = getattr(exc, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith(("08", "57P0"))


_REFUSALS = (
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "password",
    "not permitted to log in",
)
"""What a server's FATAL answer to a connection says when it refuses the credentials or
the database (exit 2); any other failure to connect is the server not (yet) reachable."""


def _refused(exc: BaseException) -> bool:
    """Whether the server answered the connection and refused its credentials or database.

    An error with a SQLSTATE is classified by it. libpq gives none for a failed
    connection, so its message is read: only the server's own answer (after ``FATAL:``,
    with every host and socket path taken out first), never the address, decides."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        return sqlstate in _AUTH_SQLSTATES
    pgconn = getattr(exc, "pgconn", None)
    if pgconn is None or not pgconn.error_message:
        return False
    message = pgconn.error_message.decode("utf-8", "replace")
    for field in (pgconn.host, pgconn.hostaddr):
        for host in (field or b"").decode("utf-8", "replace").split(","):
            if host:
                message = message.replace(host, "")
    if "fe_sendauth:" in message:  # the server asked for a password libpq does not have
        return True
    if "FATAL:" not in message:
        return False  # the server never answered: refused, timed out, no such socket
    answer = message.split("FATAL:", 1)[1].lower()
    return any(phrase in answer for phrase in _REFUSALS)


_HOLDER_SQL = (
    "SELECT a.pid, a.client_addr, a.application_name, a.state, a.xact_start "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
    f"AND l.classid = {STORE_LOCK_KEY >> 32} AND l.objid = {STORE_LOCK_KEY & 0xFFFFFFFF}"
)


def _holder(conn: PgConnection) -> str:
    with contextlib.suppress(Exception):  # the transaction that failed is rolled back
        conn.raw.execute("ROLLBACK")
    try:
        row = conn.raw.execute(_HOLDER_SQL).fetchone()
    except Exception:  # no right to see it, or the connection is gone
        return "the holder could not be read"
    if row is None:
        return "the holder has released it since"
    pid, addr, app, state, since = row
    return (
        f"held by server pid {pid} (client {addr or 'local socket'}, "
        f"application {app or '-'}, {state}, transaction since {since})"
    )


def connect(url: str, *, read_only: bool = False) -> PgConnection:
    """Connect to ``url`` (autocommit; ``read_only``: every transaction read-only).

    A server that is down is :class:`StoreUnreachable` (exit 1); one that refuses the
    credentials or lacks the database, or a malformed URL, a :class:`ConfigError` naming
    ``[store] url`` (exit 2). Neither message shows the password."""
    label = mask_url(url)
    secrets = url_secrets(url)
    conn = PgConnection(None, label, secrets)
    conn.raw = _connect_raw(url, conn, read_only)
    conn.reconnect = lambda: _connect_raw(url, conn, read_only)
    return conn


def _connect_raw(url: str, conn: PgConnection, read_only: bool) -> Any:
    import psycopg

    label = conn.label
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"[store] url: not a usable PostgreSQL address ({conn.scrub(_first_line(exc))})"
        ) from None
    except psycopg.OperationalError as exc:
        text = conn.scrub(" ".join(str(exc).split())[:300])
        if _refused(exc):
            raise ConfigError(
                f"[store] url: {label}: the PostgreSQL server refused the connection ({text}); "
                "check the user, password and database name"
            ) from None
        raise StoreUnreachable(
            f"{label}: cannot reach the PostgreSQL server ({text}); start it or fix "
            "[store] url, then run the command again; nothing was changed"
        ) from None
    try:
        # The server's own settings (``options=-c lock_timeout=...``, a role's default)
        # win; where none is set, the store's bounds apply.
        raw.execute(
            f"SELECT set_config('lock_timeout', '{int(LOCK_TIMEOUT_S * 1000)}ms', false) "
            "WHERE current_setting('lock_timeout') = '0'; "
            "SELECT set_config('idle_in_transaction_session_timeout', "
            f"'{int(IDLE_IN_TRANSACTION_S * 1000)}ms', false) "
            "WHERE current_setting('idle_in_transaction_session_timeout') = '0'"
        )
        if read_only:
            raw.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raw.close()
        raise conn.mapped(exc) from None
    return raw
