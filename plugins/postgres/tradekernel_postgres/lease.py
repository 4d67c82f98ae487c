"""An agent's lease on a store, held in PostgreSQL (docs/scale-out.md, "Several agents,
several hosts"). One store (a database, or a schema chosen by the URL's search_path)
holds one agent, whatever its namespace, which the row records as a label.

One lease row per store (table ``tradekernel_lease_store``) with a heartbeat, an expiry
and an epoch (the fencing token), rather than a session advisory lock:

* an advisory lock lives as long as the server believes its connection does. Through a
  pooler (PgBouncer in transaction mode) it is taken on a borrowed connection; across a
  partition the server may keep it for as long as TCP keepalives take, while the client
  has given up, or drop it while the client still trades. A row says who holds the
  store (host, pid, namespace, since, last heartbeat), which a refusal names, and when it
  expires, on the database's clock: no two hosts' clocks are compared;
* each acquisition adds one to the epoch, so a new holder is known to the old one (its
  next renewal finds another epoch) and writes can be fenced by it.

Expiry is judged on the server's clock (``clock_timestamp()``), or on the injected
``clock`` in tests. Each holder also keeps a local deadline, ``ttl - margin`` after it
sent its last successful renewal (CLOCK_BOOTTIME on Linux, which counts a suspended
host, unlike CLOCK_MONOTONIC; the monotonic clock elsewhere): past it,
:meth:`PostgresLease.check` says the lease is lost, since the server may expire it any
moment. The heartbeat thread renews every ``ttl / 3``; a renewal that finds the row's
epoch changed marks the lease taken over. See docs/scale-out.md for the window that
remains.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from loguru import logger
from tradekernel.api import LeaseHeld, LeaseHolder, LeaseLost, inert

from .connection import PgConnection, connect

TABLE = "tradekernel_lease_store"
"""One row: the store's agent. One store (a database, or a schema chosen by the URL's
``options=-c search_path=...``) holds one agent, whatever its namespace: the store's
intents, orders and controls carry no namespace."""
DEFAULT_TTL = 30.0
"""Seconds a lease lives without a renewal: how long a dead agent's namespace waits."""
_DDL_LOCK = 0x746B6C65617365  # "tklease": serialises the CREATE TABLE of racing agents
_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id smallint PRIMARY KEY CHECK (id = 1),
    namespace text NOT NULL,
    epoch bigint NOT NULL,
    token text NOT NULL,
    holder text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    since timestamptz NOT NULL,
    heartbeat timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    released boolean NOT NULL
)"""
_COLUMNS = "epoch, token, holder, host, pid, since, heartbeat, namespace, expires_at, released"
_NOW = "COALESCE(%(now)s::timestamptz, clock_timestamp())"
EXIT_TIMEOUT_S = 2.0
"""The most leaving the lease waits for its heartbeat to stop and for its release: a
database that does not answer never keeps an agent from exiting (the lease then expires
on its own)."""


def _boottime() -> float:
    """Seconds on a clock that keeps counting while the host is suspended."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


_local_clock: Callable[[], float] = _boottime if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic


def _holder(row: tuple[Any, ...]) -> LeaseHolder:
    epoch, _token, holder, host, pid, since, heartbeat, namespace = row[:8]
    # written by another host: shown to an operator, so made inert
    return LeaseHolder(
        inert(holder), inert(host), int(pid), since, heartbeat, int(epoch), inert(namespace)
    )


class PostgresLease:
    """The lease on the store at ``conninfo`` (a libpq connection string or
    ``postgresql://`` URL; its schema the one its search_path names), recording this
    agent's ``namespace``. Use it as a context manager: entering acquires it (or raises
    :class:`LeaseHeld` naming the live holder and its namespace, whatever this one's) and
    starts the heartbeat;
    leaving stops the heartbeat and releases it. It is the :class:`LeaseInfo` the kernel
    sees (``namespace``, ``mine``, ``previous``, ``ttl``, :meth:`check`).

    ``clock``: the time every row is stamped with and expiry judged by (default: the
    server's); with it, the local deadline follows it too. ``heartbeat=False``: no thread;
    the caller renews (:meth:`renew`), as tests with an injected clock do."""

    def __init__(
        self,
        conninfo: str,
        namespace: str,
        holder: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], datetime] | None = None,
        heartbeat: bool = True,
        host: str | None = None,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"lease ttl must be positive, got {ttl!r}")
        host = host or socket.gethostname()
        if any("\x00" in text for text in (namespace, holder, host)):
            raise ValueError("a lease's namespace, holder and host cannot hold a NUL byte")
        self.conninfo = conninfo
        self.namespace = namespace
        self.holder = holder
        self.ttl = float(ttl)
        self.margin = self.ttl / 5
        """Time kept in hand before the server's expiry: a submit that starts at the
        local deadline has this long to reach the broker before another agent may hold
        the namespace."""
        self.interval = self.ttl / 3
        self.clock = clock
        self.host = host
        self.pid = os.getpid()
        self.token = os.urandom(16).hex()
        self.mine: LeaseHolder | None = None
        self.previous: LeaseHolder | None = None
        self._conn: Any = None
        self._pg: PgConnection | None = None
        self._deadline = 0.0
        self._late: list[float] = []
        self._lost: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat = heartbeat
        self.released = False
        """Whether leaving gave the lease up (the row was still ours and the database
        answered in time)."""

    # -- time --------------------------------------------------------------------------

    def _local(self) -> float:
        return self.clock().timestamp() if self.clock is not None else _local_clock()

    def _params(self, **more: Any) -> dict[str, Any]:
        now = self.clock() if self.clock is not None else None
        return {"now": now, "ns": self.namespace, "ttl": timedelta(seconds=self.ttl), **more}

    # -- the connection ------------------------------------------------------------------

    def _connection(self) -> Any:
        """The lease's own connection (autocommit), made on first use and after a
        failure; a server down or refusing is the store's one-line error, its password
        masked."""
        if self._conn is None or self._conn.closed:
            self._pg = connect(self.conninfo)
            self._conn = self._pg.raw
            self._bound(self._conn)
        return self._conn

    def _bound(self, conn: Any) -> None:
        """Bound every wait on the lease's connection: a statement or a row lock that
        takes longer than a heartbeat interval fails, and TCP keepalives (plus a user
        timeout for unacknowledged data) find a dead peer within about a ttl."""
        ms = max(int(self.interval * 1000), 100)
        conn.execute(f"SET statement_timeout = {ms}")
        conn.execute(f"SET lock_timeout = {ms}")
        conn.execute(f"SET idle_in_transaction_session_timeout = {ms * 3}")
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a Unix socket
            sock = socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM)
            try:
                idle = max(int(self.interval), 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, idle)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, ms * 3)
            finally:
                sock.close()  # a duplicate: the connection's own socket stays open

    def _mapped(self, exc: BaseException) -> BaseException:
        """A database error as the store reports it (one line, the password masked)."""
        return self._pg.mapped(exc) if self._pg is not None else exc

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to close
                conn.close()

    # -- acquire, renew, release ------------------------------------------------------------

    def acquire(self) -> PostgresLease:
        """Take the lease: a free, released or expired one (the last: :attr:`previous`
        names the holder taken over from). Raises :class:`LeaseHeld` when it is live."""
        started = self._local()
        conn = self._connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
            conn.execute(_DDL)
        with conn.transaction():
            conn.execute(
                f"INSERT INTO {TABLE} (id, {_COLUMNS}) VALUES "
                f"(1, 0, '', '', '', 0, {_NOW}, {_NOW}, '', {_NOW}, true) "
                "ON CONFLICT (id) DO NOTHING",
                self._params(),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS}, {_NOW} FROM {TABLE} WHERE id = 1 FOR UPDATE",
                self._params(),
            ).fetchone()
            *_, expires_at, released, now = row
            if not released and expires_at > now:
                raise LeaseHeld(
                    f"this store is held by {_holder(row).describe()} (its lease expires at "
                    f"{expires_at.isoformat(timespec='seconds')} unless renewed); one store "
                    f"holds one agent, whatever its namespace (this one's: "
                    f"{inert(self.namespace)!r}): this one did nothing. Several accounts or "
                    "strategy sets: a database or a schema each (docs/scale-out.md)"
                )
            self.previous = None if released or row[0] == 0 else _holder(row)
            epoch = int(row[0]) + 1
            conn.execute(
                f"UPDATE {TABLE} SET epoch = %(epoch)s, token = %(token)s, holder = %(holder)s, "
                "host = %(host)s, pid = %(pid)s, since = %(at)s, heartbeat = %(at)s, "
                "namespace = %(ns)s, expires_at = %(at)s + %(ttl)s, released = false "
                "WHERE id = 1",
                self._params(
                    epoch=epoch, token=self.token, holder=self.holder, host=self.host,
                    pid=self.pid, at=now,
                ),
            )  # fmt: skip
        with self._lock:
            self.mine = LeaseHolder(
                self.holder, self.host, self.pid, now, now, epoch, self.namespace
            )
            self._deadline = started + self.ttl - self.margin
            self._lost = None
        return self

    def renew(self) -> bool:
        """Renew the lease (the heartbeat). Returns ``False`` when it is no longer ours
        (taken over: :meth:`check` raises from now on). A renewal after the row's expiry
        that nobody took over in between is still ours; it is reported as late. Database
        errors pass through (the local deadline then runs out)."""
        assert self.mine is not None, "renew() before acquire()"
        started = self._local()
        conn = self._connection()
        with conn.transaction():
            row = conn.execute(
                f"SELECT {_COLUMNS}, {_NOW} FROM {TABLE} WHERE id = 1 FOR UPDATE",
                self._params(),
            ).fetchone()
            if row is None or row[0] != self.mine.epoch or row[1] != self.token or row[9]:
                why = (
                    f"taken over by {_holder(row).describe()}"
                    if row is not None and row[0] != self.mine.epoch
                    else "its row was released or removed"
                )
                with self._lock:
                    self._lost = why
                return False
            *_, expires_at, _released, now = row
            conn.execute(
                f"UPDATE {TABLE} SET heartbeat = %(at)s, expires_at = %(at)s + %(ttl)s "
                "WHERE id = 1",
                self._params(at=now),
            )
        with self._lock:
            late = max((now - expires_at).total_seconds(), started - self._deadline)
            if late > 0:
                self._late.append(late)
            self.mine = LeaseHolder(
                self.holder, self.host, self.pid, self.mine.since, now, self.mine.epoch,
                self.namespace,
            )  # fmt: skip
            if self._lost is None:
                self._deadline = started + self.ttl - self.margin
        return True

    def release(self) -> bool:
        """Give the lease up (the next agent takes it at once). Returns whether it did:
        ``False`` when it was no longer ours."""
        if self.mine is None:
            return False
        conn = self._connection()
        cur = conn.execute(
            f"UPDATE {TABLE} SET released = true, expires_at = {_NOW} "
            "WHERE id = 1 AND epoch = %(epoch)s AND token = %(token)s",
            self._params(epoch=self.mine.epoch, token=self.token),
        )
        return cur.rowcount == 1

    # -- what the kernel asks ------------------------------------------------------------------

    def check(self) -> list[float]:
        """Raise :class:`LeaseLost` once the lease was taken over or its local deadline
        passed (for good: a lapsed lease is not trusted again by this holder). Otherwise
        return the late renewals since the last call (seconds late each)."""
        with self._lock:
            if self._lost is None and self._local() >= self._deadline:
                self._lost = (
                    f"not renewed within {self.ttl - self.margin:g}s (the database did not "
                    "answer in time): another agent may take it over"
                )
            if self._lost is not None:
                raise LeaseLost(
                    f"this agent's lease on the store (namespace {inert(self.namespace)!r}, epoch "
                    f"{self.mine.epoch if self.mine else '?'}) is lost: {self._lost}; this "
                    "agent stops before its next order (the new holder reconciles what it "
                    "left executing)"
                )
            late, self._late = self._late, []
        return late

    # -- the heartbeat ---------------------------------------------------------------------

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.renew():
                    return  # taken over: nothing more to renew
            except Exception as exc:  # the database is away: try again next beat
                err = self._mapped(exc)
                logger.warning("lease heartbeat failed: {}: {}", type(err).__name__, err)
                self._drop_connection()

    def __enter__(self) -> PostgresLease:
        import psycopg

        try:
            self.acquire()
        except psycopg.Error as exc:
            self._drop_connection()
            raise self._mapped(exc) from None
        except BaseException:
            self._drop_connection()
            raise
        if self._heartbeat:
            self._thread = threading.Thread(
                target=self._beat, name=f"lease-{self.namespace[:20]}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the heartbeat and release the lease (only if the row is still ours: same
        epoch and token), each bounded by :data:`EXIT_TIMEOUT_S`; a release that does not
        finish in time is left behind and the lease expires on its own."""
        self._stop.set()
        wait = min(EXIT_TIMEOUT_S, self.ttl)
        if self._thread is not None:
            self._thread.join(timeout=wait)
            if self._thread.is_alive():
                # stuck in a renewal on a connection that does not answer: left to it (a
                # daemon thread); a release goes through a fresh connection
                self._conn = None
        done = threading.Event()

        def release() -> None:
            try:
                self.released = self.release()
            except Exception as exc:  # it expires on its own
                err = self._mapped(exc)
                logger.warning("lease release failed: {}: {}", type(err).__name__, err)
            finally:
                self._drop_connection()
                done.set()

        threading.Thread(target=release, name="lease-release", daemon=True).start()
        if not done.wait(wait):
            logger.warning("lease release did not finish within {}s: it expires on its own", wait)
