"""The incidents' own SQLite file, ``state_dir/incidents.db``: incidents, their timeline
and the escalation steps sent. Every claim (a step, the move to ``reducing``) is one
conditional write, so two processes (the agent and ``ops batch``) never both act."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import define, field

DB_FILE = "incidents.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened TEXT NOT NULL,
    updated TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 1,
    acknowledged TEXT,
    acknowledged_by TEXT,
    resolved TEXT,
    resolved_by TEXT,
    reduced TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_key ON incidents(key) WHERE resolved IS NULL;
CREATE TABLE IF NOT EXISTS timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident INTEGER NOT NULL REFERENCES incidents(id),
    ts TEXT NOT NULL,
    what TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS steps (
    incident INTEGER NOT NULL REFERENCES incidents(id),
    step INTEGER NOT NULL,
    notifier TEXT NOT NULL,
    ts TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'claimed',
    PRIMARY KEY (incident, step)
);
"""


@define
class Incident:
    """One incident as stored."""

    id: int
    key: str
    title: str
    severity: str
    opened: datetime
    updated: datetime
    events: int = 1
    acknowledged: datetime | None = None
    acknowledged_by: str | None = None
    resolved: datetime | None = None
    resolved_by: str | None = None
    reduced: datetime | None = None
    timeline: list[dict[str, str]] = field(factory=list)
    steps: list[dict[str, Any]] = field(factory=list)

    @property
    def state(self) -> str:
        """``open``, ``acknowledged`` or ``resolved``."""
        if self.resolved is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged is not None else "open"

    def as_dict(self) -> dict[str, Any]:
        def iso(ts: datetime | None) -> str | None:
            return ts.isoformat() if ts else None

        return {
            "id": self.id,
            "key": self.key,
            "title": self.title,
            "severity": self.severity,
            "state": self.state,
            "opened": iso(self.opened),
            "updated": iso(self.updated),
            "events": self.events,
            "acknowledged": iso(self.acknowledged),
            "acknowledged_by": self.acknowledged_by,
            "resolved": iso(self.resolved),
            "resolved_by": self.resolved_by,
            "reduced": iso(self.reduced),
            "timeline": self.timeline,
            "steps": self.steps,
        }


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class IncidentStore:
    """Open (and create) ``state_dir/incidents.db``."""

    def __init__(self, state_dir: str | Path, *, busy_timeout: float = 5.0) -> None:
        path = Path(state_dir) / DB_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection per store, shared by the threads that emit events (a lock
        # serialises them); another process has its own store and SQLite's locks.
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writes ---------------------------------------------------------------------------

    def record(
        self, key: str, title: str, severity: str, now: datetime, what: str, detail: str
    ) -> tuple[int, bool, bool]:
        """Open an incident for ``key`` or add to the open one: ``(id, opened, raised)``
        (``raised``: its severity went up to ``critical``)."""
        stamp = now.isoformat()
        with self._write() as db:
            row = db.execute(
                "SELECT id, severity FROM incidents WHERE key = ? AND resolved IS NULL", (key,)
            ).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO incidents (key, title, severity, opened, updated) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, title, severity, stamp, stamp),
                )
                incident, opened, raised = int(cur.lastrowid or 0), True, False
            else:
                incident, opened = int(row["id"]), False
                raised = severity == "critical" and row["severity"] != "critical"
                db.execute(
                    "UPDATE incidents SET updated = ?, events = events + 1, "
                    "severity = CASE WHEN ? THEN 'critical' ELSE severity END WHERE id = ?",
                    (stamp, raised, incident),
                )
            db.execute(
                "INSERT INTO timeline (incident, ts, what, detail) VALUES (?, ?, ?, ?)",
                (incident, stamp, what, detail),
            )
        return incident, opened, raised

    def note(self, incident: int, now: datetime, what: str, detail: str = "") -> None:
        """Add one timeline entry."""
        with self._write() as db:
            db.execute(
                "INSERT INTO timeline (incident, ts, what, detail) VALUES (?, ?, ?, ?)",
                (incident, now.isoformat(), what, detail),
            )

    def claim_step(self, incident: int, step: int, notifier: str, now: datetime) -> bool:
        """Claim escalation ``step`` of an open, unacknowledged incident; False when it
        was claimed before (by any process) or the incident no longer escalates."""
        with self._write() as db:
            live = db.execute(
                "SELECT 1 FROM incidents WHERE id = ? AND resolved IS NULL "
                "AND acknowledged IS NULL",
                (incident,),
            ).fetchone()
            if live is None:
                return False
            cur = db.execute(
                "INSERT OR IGNORE INTO steps (incident, step, notifier, ts) VALUES (?, ?, ?, ?)",
                (incident, step, notifier, now.isoformat()),
            )
            return cur.rowcount == 1

    def step_sent(self, incident: int, step: int, status: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE steps SET status = ? WHERE incident = ? AND step = ?",
                (status, incident, step),
            )

    def claim_reduce(self, incident: int, now: datetime) -> bool:
        """Claim the move to ``reducing`` for a critical, unacknowledged incident (once)."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE incidents SET reduced = ? WHERE id = ? AND reduced IS NULL "
                "AND acknowledged IS NULL AND resolved IS NULL AND severity = 'critical'",
                (now.isoformat(), incident),
            )
            return cur.rowcount == 1

    def acknowledge(self, incident: int, actor: str, now: datetime) -> bool:
        """False when it was acknowledged or resolved already."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE incidents SET acknowledged = ?, acknowledged_by = ? "
                "WHERE id = ? AND acknowledged IS NULL AND resolved IS NULL",
                (now.isoformat(), actor, incident),
            )
            return cur.rowcount == 1

    def resolve(self, incident: int, actor: str, now: datetime) -> bool:
        """False when it was resolved already."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE incidents SET resolved = ?, resolved_by = ? "
                "WHERE id = ? AND resolved IS NULL",
                (now.isoformat(), actor, incident),
            )
            return cur.rowcount == 1

    # -- reads ----------------------------------------------------------------------------

    def get(self, incident: int) -> Incident | None:
        with self._lock:
            return self._get(incident)

    def _get(self, incident: int) -> Incident | None:
        row = self._db.execute("SELECT * FROM incidents WHERE id = ?", (incident,)).fetchone()
        if row is None:
            return None
        item = self._incident(row)
        item.timeline = [
            {"ts": r["ts"], "what": r["what"], "detail": r["detail"]}
            for r in self._db.execute(
                "SELECT ts, what, detail FROM timeline WHERE incident = ? ORDER BY id",
                (incident,),
            )
        ]
        item.steps = [
            {"step": r["step"], "notifier": r["notifier"], "ts": r["ts"], "status": r["status"]}
            for r in self._db.execute(
                "SELECT step, notifier, ts, status FROM steps WHERE incident = ? ORDER BY step",
                (incident,),
            )
        ]
        return item

    def list(self, *, include_resolved: bool = False) -> list[Incident]:
        where = "" if include_resolved else " WHERE resolved IS NULL"
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM incidents{where} ORDER BY id").fetchall()
        return [self._incident(r) for r in rows]

    def steps_claimed(self, incident: int) -> set[int]:
        with self._lock:
            rows = self._db.execute("SELECT step FROM steps WHERE incident = ?", (incident,))
            return {int(r[0]) for r in rows.fetchall()}

    @staticmethod
    def _incident(row: sqlite3.Row) -> Incident:
        return Incident(
            id=int(row["id"]),
            key=row["key"],
            title=row["title"],
            severity=row["severity"],
            opened=_ts(row["opened"]),  # type: ignore[arg-type]
            updated=_ts(row["updated"]),  # type: ignore[arg-type]
            events=int(row["events"]),
            acknowledged=_ts(row["acknowledged"]),
            acknowledged_by=row["acknowledged_by"],
            resolved=_ts(row["resolved"]),
            resolved_by=row["resolved_by"],
            reduced=_ts(row["reduced"]),
        )
