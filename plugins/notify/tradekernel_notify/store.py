"""Notification state in the store's database: dedup claims and the delivery log.

The tables (``notify_log``, ``notify_dedup``) are plugin tables of the configured store
(:func:`tradekernel.api.open_tables`): ``<state_dir>/state.db`` with the default SQLite
store, the server's database with a server store, so they are shared by every process
and every host using that store. Each decision (duplicate? over the rate limit? else
claim and log as ``pending``) runs in one write transaction under the store's
single-writer lock, so two processes can never both send the same notification, nor
together exceed a rate limit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from attrs import define
from loguru import logger
from tradekernel.api import Settings, Tables, TableSpec, open_tables

STATUSES = ("sent", "failed", "dedup_suppressed", "rate_limited")
"""Final statuses of a delivery record (``pending`` only while a delivery is running)."""
COUNTED = ("pending", "sent", "failed")
"""Statuses that used up rate-limit budget: a delivery was attempted."""

LOG = TableSpec(
    "notify_log",
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
    indexes=[("notifier", "ts"), ("day",)],
)
"""The delivery log: one row per delivery decision (the table and columns the SQLite-only
versions created in ``state.db``, so an existing file opens with its rows)."""
DEDUP = TableSpec(
    "notify_dedup", {"notifier": str, "dedup_key": str, "ts": float}, pk=("notifier", "dedup_key")
)
"""Dedup claims: the last time each notifier was given each key."""
_OLD_INDEXES = ("idx_notify_log_notifier_ts", "idx_notify_log_day")
"""What older versions indexed the log by (sqlite-utils' names), now :data:`LOG`'s."""


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
    """Dedup claims, rate-limit accounting and the delivery log, in the store's database.

    ``NotifyStore(settings)`` opens the configured store's tables (and closes them in
    :meth:`close`); ``NotifyStore(tables)`` uses tables already open (a store's, which
    stays its owner's to close). Opening refuses what the store refuses: a lost, foreign
    or newer database (a ``ConfigError``), an unreachable server. ``busy_timeout``: how
    long a write waits for another writer's lock (``None``: the store's default).
    ``create=False``: a reader that writes nothing when opening (no table is created; a
    store without the log has no records)."""

    def __init__(
        self,
        source: Settings | Tables,
        *,
        busy_timeout: float | None = 10.0,
        create: bool = True,
    ) -> None:
        self._owned = not isinstance(source, Tables)
        self.tables = open_tables(source) if self._owned else source
        try:
            if busy_timeout is not None and self._owned:
                self.tables.set_lock_wait(busy_timeout)
            if create:
                self.tables.define(LOG, DEDUP)
                self._drop_old_indexes()
                self._present = True
            else:
                with self.tables.read() as conn:
                    self._present = LOG.name in self.tables.dialect.tables(conn)
        except BaseException:
            self.close()
            raise

    def _drop_old_indexes(self) -> None:
        if self.tables.name != "sqlite":
            return
        with self.tables.read() as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notify_log'"
            ).fetchall()
        old = [name for (name,) in rows if name in _OLD_INDEXES]
        if old:
            with self.tables.write() as conn:
                for name in old:
                    conn.execute(f"DROP INDEX IF EXISTS {name}")

    def close(self) -> None:
        """Close the tables if this store opened them."""
        if self._owned:
            self.tables.close()

    def __enter__(self) -> NotifyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        ts = float(now.timestamp())
        with self.tables.write() as conn:
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
                    "INSERT INTO notify_dedup (notifier, dedup_key, ts) VALUES (?, ?, ?) "
                    "ON CONFLICT (notifier, dedup_key) DO UPDATE SET ts = excluded.ts",
                    (notifier, dedup_key, ts),
                )
            record_id = self.tables.insert(
                conn,
                LOG.name,
                {
                    "ts": ts,
                    "ts_iso": now.astimezone(UTC).isoformat(),
                    "day": now.astimezone(UTC).date().isoformat(),
                    "notifier": notifier,
                    "event_kind": event_kind,
                    "dedup_key": dedup_key,
                    "status": status,
                    "attempts": 0,
                    "rate_limit_bypassed": int(bypassed),
                },
            )
        return Claim(record_id=record_id, status=status, rate_limit_bypassed=bypassed)

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
        with self.tables.write() as conn:
            conn.execute(
                "UPDATE notify_log SET status = ?, http_status = ?, attempts = ?, "
                "latency_ms = ?, error = ? WHERE id = ?",
                (
                    status,
                    None if http_status is None else int(http_status),
                    int(attempts),
                    round(float(latency_ms), 3),
                    error,
                    int(record_id),
                ),
            )
            if status != "sent":
                conn.execute(
                    "DELETE FROM notify_dedup WHERE (notifier, dedup_key, ts) IN "
                    "(SELECT notifier, dedup_key, ts FROM notify_log WHERE id = ?)",
                    (record_id,),
                )

    def prune(self, *, now: datetime, older_than: float) -> int:
        """Drop dedup claims older than ``older_than`` seconds; returns how many."""
        with self.tables.write() as conn:
            cursor = conn.execute(
                "DELETE FROM notify_dedup WHERE ts <= ?", (float(now.timestamp()) - older_than,)
            )
            return max(cursor.rowcount, 0)

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
        where: list[str] = []
        params: list[Any] = []
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
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) AS recent ORDER BY id"
        if not self._present:
            return []
        with self.tables.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        records = []
        for row in rows:
            try:
                records.append(
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
                )
            except (TypeError, ValueError, OverflowError, OSError) as exc:
                # one damaged row must not make the whole log unreadable
                logger.warning(
                    "notify: notify_log row {} is unreadable ({}: {}); skipped",
                    row[0],
                    type(exc).__name__,
                    exc,
                )
        return records

    def counts(self, *, day: date | str | None = None) -> dict[str, int]:
        """How many records of each status (optionally for one UTC day)."""
        sql = "SELECT status, COUNT(*) FROM notify_log"
        params: list[str] = []
        if day is not None:
            sql += " WHERE day = ?"
            params.append(day.isoformat() if isinstance(day, date) else str(day))
        if not self._present:
            return {}
        with self.tables.read() as conn:
            rows = conn.execute(sql + " GROUP BY status", params).fetchall()
        return {status: count for status, count in rows}
