"""Notification state in SQLite (``state_dir/state.db``): dedup claims and the delivery log.

The tables are shared by every process using the same state directory. Each decision
(duplicate? over the rate limit? else claim and log as ``pending``) runs in one
``BEGIN IMMEDIATE`` transaction, so two processes can never both send the same
notification, nor together exceed a rate limit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import sqlite_utils
from attrs import define
from tradekernel.api import refuse_lost

STATUSES = ("sent", "failed", "dedup_suppressed", "rate_limited")
"""Final statuses of a delivery record (``pending`` only while a delivery is running)."""
COUNTED = ("pending", "sent", "failed")
"""Statuses that used up rate-limit budget: a delivery was attempted."""


@define(frozen=True)
class DeliveryRecord:
    """One line of the notification log: one delivery (all its attempts) to one notifier."""

    id: int
    ts: datetime
    notifier: str
    event_kind: str
    dedup_key: str
    status: str
    http_status: int | None = None
    attempts: int = 0
    latency_ms: float | None = None
    error: str | None = None
    rate_limit_bypassed: bool = False
    """A critical notification sent although the notifier's rate limit was used up."""


@define(frozen=True)
class Claim:
    """The answer of :meth:`NotifyStore.claim`: ``pending`` means "go and send"."""

    record_id: int
    status: str
    rate_limit_bypassed: bool = False


class NotifyStore:
    """Dedup claims, rate-limit accounting and the delivery log, in ``path``."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        refuse_lost(self.path.parent)  # never write into a state the anchor says was lost
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._enable_wal()
        with self._transaction() as conn:  # IMMEDIATE: processes starting together queue up
            db = sqlite_utils.Database(conn)
            db["notify_log"].create(
                {
                    "id": int,
                    "ts": float,
                    "ts_iso": str,
                    "day": str,
                    "notifier": str,
                    "event_kind": str,
                    "dedup_key": str,
                    "status": str,
                    "http_status": int,
                    "attempts": int,
                    "latency_ms": float,
                    "error": str,
                    "rate_limit_bypassed": int,
                },
                pk="id",
                if_not_exists=True,
            )
            if "rate_limit_bypassed" not in db["notify_log"].columns_dict:  # an older file
                db["notify_log"].add_column("rate_limit_bypassed", int)
            db["notify_dedup"].create(
                {"notifier": str, "dedup_key": str, "ts": float},
                pk=("notifier", "dedup_key"),
                if_not_exists=True,
            )
            db["notify_log"].create_index(["notifier", "ts"], if_not_exists=True)
            db["notify_log"].create_index(["day"], if_not_exists=True)

    def _enable_wal(self) -> None:
        # Switching the journal mode needs a moment without other connections; it is
        # persistent, so a concurrent process doing the same is as good as us doing it.
        for attempt in range(50):
            try:
                with self._connect() as conn:
                    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.02)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        # WAL + NORMAL: durable across process crashes, no fsync per commit
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- decisions ---------------------------------------------------------------------

    def claim(
        self,
        *,
        notifier: str,
        dedup_key: str,
        event_kind: str,
        now: datetime,
        dedup_window: float,
        rate_count: int,
        rate_per: float,
        force: bool = False,
        critical: bool = False,
    ) -> Claim:
        """Decide, atomically, whether this delivery may go out, and log the decision.

        Returns status ``dedup_suppressed`` (the same key was claimed for this notifier
        within ``dedup_window``), ``rate_limited`` (``rate_count`` deliveries were already
        attempted within ``rate_per``) or ``pending`` (claimed: send it, then call
        :meth:`finish`). ``force`` skips both checks (deliveries are still logged).
        ``critical`` skips the rate limit only: over the limit the claim is ``pending``
        with ``rate_limit_bypassed`` set (and so logged); dedup still applies."""
        ts = now.timestamp()
        with self._transaction() as conn:
            status = "pending"
            bypassed = False
            if not force and dedup_window > 0:
                row = conn.execute(
                    "SELECT 1 FROM notify_dedup WHERE notifier = ? AND dedup_key = ? AND ts > ?",
                    (notifier, dedup_key, ts - dedup_window),
                ).fetchone()
                if row:
                    status = "dedup_suppressed"
            if status == "pending" and not force:
                (used,) = conn.execute(
                    "SELECT COUNT(*) FROM notify_log WHERE notifier = ? AND ts > ? "
                    f"AND status IN ({', '.join('?' * len(COUNTED))})",
                    (notifier, ts - rate_per, *COUNTED),
                ).fetchone()
                if used >= rate_count:
                    if critical:
                        bypassed = True
                    else:
                        status = "rate_limited"
            if status == "pending" and dedup_window > 0:
                conn.execute(
                    "INSERT OR REPLACE INTO notify_dedup (notifier, dedup_key, ts) "
                    "VALUES (?, ?, ?)",
                    (notifier, dedup_key, ts),
                )
            cursor = conn.execute(
                "INSERT INTO notify_log (ts, ts_iso, day, notifier, event_kind, dedup_key, "
                "status, attempts, rate_limit_bypassed) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    ts,
                    now.astimezone(UTC).isoformat(),
                    now.astimezone(UTC).date().isoformat(),
                    notifier,
                    event_kind,
                    dedup_key,
                    status,
                    int(bypassed),
                ),
            )
            return Claim(
                record_id=int(cursor.lastrowid or 0), status=status, rate_limit_bypassed=bypassed
            )

    def finish(
        self,
        record_id: int,
        *,
        status: str,
        http_status: int | None,
        attempts: int,
        latency_ms: float,
        error: str | None,
    ) -> None:
        """Record the outcome of a claimed delivery. A failed delivery releases its dedup
        claim, so the next identical notification is tried again."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE notify_log SET status = ?, http_status = ?, attempts = ?, "
                "latency_ms = ?, error = ? WHERE id = ?",
                (status, http_status, attempts, round(latency_ms, 3), error, record_id),
            )
            if status != "sent":
                conn.execute(
                    "DELETE FROM notify_dedup WHERE (notifier, dedup_key, ts) IN "
                    "(SELECT notifier, dedup_key, ts FROM notify_log WHERE id = ?)",
                    (record_id,),
                )

    def prune(self, *, now: datetime, older_than: float) -> int:
        """Drop dedup claims older than ``older_than`` seconds; returns how many."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM notify_dedup WHERE ts <= ?", (now.timestamp() - older_than,)
            )
            return cursor.rowcount

    # -- queries -----------------------------------------------------------------------

    def records(
        self,
        *,
        day: date | str | None = None,
        status: str | None = None,
        notifier: str | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRecord]:
        """Log records, oldest first, filtered by UTC day, status and notifier."""
        where, params = [], []
        if day is not None:
            where.append("day = ?")
            params.append(day.isoformat() if isinstance(day, date) else str(day))
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if notifier is not None:
            where.append("notifier = ?")
            params.append(notifier)
        sql = "SELECT id, ts, notifier, event_kind, dedup_key, status, http_status, attempts, "
        sql += "latency_ms, error, rate_limit_bypassed FROM notify_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"
        with self._connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [
            DeliveryRecord(
                id=row[0],
                ts=datetime.fromtimestamp(row[1], UTC),
                notifier=row[2],
                event_kind=row[3],
                dedup_key=row[4],
                status=row[5],
                http_status=row[6],
                attempts=row[7] or 0,
                latency_ms=row[8],
                error=row[9],
                rate_limit_bypassed=bool(row[10]),
            )
            for row in rows
        ]

    def counts(self, *, day: date | str | None = None) -> dict[str, int]:
        """How many records of each status (optionally for one UTC day)."""
        sql = "SELECT status, COUNT(*) FROM notify_log"
        params: list[str] = []
        if day is not None:
            sql += " WHERE day = ?"
            params.append(day.isoformat() if isinstance(day, date) else str(day))
        with self._connect() as conn:
            rows = conn.execute(sql + " GROUP BY status", params).fetchall()
        return {status: count for status, count in rows}
