"""The incidents' own SQLite file, ``state_dir/incidents.db``: incidents, their timeline
and the escalation steps sent. Every claim (a step, the move to ``reducing``) is one
conditional write, so two processes (the agent and ``ops batch``) never both act; a
claim whose holder stopped before finishing (a crash, a kill) is taken over once it is
older than the claim lease, so a step is never lost.

Escalation times are counted on each incident's own ``elapsed`` seconds, advanced by
the forward progress of the clock between ticks (:meth:`IncidentStore.advance`): a wall
clock stepped back does not hold escalation back.

Every row is read on its own: one unreadable row (a bad restore, a hand edit) is left
out and reported in :attr:`IncidentStore.damaged`, never stops the others."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import define, evolve, field
from tradekernel.api import TradekernelError, inert

DB_FILE = "incidents.db"
REDUCE_OUTCOMES = ("reducing", "reducing already", "halted already")
"""What the move to ``reducing`` found and did (``reduce_outcome``)."""

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
    reduced TEXT,
    reduce_outcome TEXT,
    seen TEXT,
    elapsed REAL NOT NULL DEFAULT 0
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
    """When the move to ``reducing`` was claimed (or done: see ``reduce_outcome``)."""
    reduce_outcome: str | None = None
    """One of :data:`REDUCE_OUTCOMES` once the move was done; None before (or after a
    failed attempt, which is retried)."""
    elapsed: float = 0.0
    """Seconds of clock progress since it opened (a clock stepped back adds nothing)."""
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
            "reduce_outcome": self.reduce_outcome,
            "elapsed": round(self.elapsed, 3),
            "timeline": self.timeline,
            "steps": self.steps,
        }


_ADDED_COLUMNS = (
    ("reduce_outcome", "TEXT"),
    ("seen", "TEXT"),
    ("elapsed", "REAL NOT NULL DEFAULT 0"),
)
"""Columns a database written by an earlier version lacks (added when opened)."""


PERSIST_AFTER = 5.0
"""Seconds of escalation progress :meth:`IncidentStore.advance` counts before writing it."""


def _progressed(item: Incident, seen: datetime, now: datetime) -> Incident:
    """``item`` with the progress since ``seen`` counted (a copy: ``item`` may be shared)."""
    if seen == now:
        return item
    return evolve(item, elapsed=item.elapsed + (now - seen).total_seconds())


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def damaged_error(path: Path, exc: BaseException) -> TradekernelError:
    """The one-line error for an ``incidents.db`` SQLite cannot read."""
    return TradekernelError(
        f"{path}: not a readable incidents database ({inert(exc)[:200]}); move it aside to "
        "start afresh (its incidents and their escalation are forgotten, nothing else)"
    )


class IncidentStore:
    """Open (and create) ``state_dir/incidents.db``; a file SQLite cannot read is a
    :class:`TradekernelError` naming it."""

    def __init__(self, state_dir: str | Path, *, busy_timeout: float = 5.0) -> None:
        path = Path(state_dir) / DB_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.damaged: dict[int, str] = {}
        self._parsed: dict[tuple[Any, ...], tuple[Incident, datetime] | str] = {}
        """The rows :meth:`advance` read last, parsed (see :meth:`_readable`)."""
        """Rows the last :meth:`list` or :meth:`advance` could not read: id -> why."""
        # One connection per store, shared by the threads that emit events (a lock
        # serialises them); another process has its own store and SQLite's locks.
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            # Switching to WAL takes an exclusive lock that does not wait: only when needed.
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.OperationalError as exc:  # locked or busy: not damage
            raise TradekernelError(f"{path}: busy ({inert(exc)[:120]}); try again") from exc
        except sqlite3.DatabaseError as exc:
            raise damaged_error(path, exc) from exc

    def _missing_columns(self, db: sqlite3.Connection) -> list[tuple[str, str]]:
        have = {row[1] for row in db.execute("PRAGMA table_info(incidents)")}
        return [(name, decl) for name, decl in _ADDED_COLUMNS if name not in have]

    def _migrate(self) -> None:
        if not self._missing_columns(self._db):
            return
        with self._write() as db:  # checked again under the lock: another may have done it
            for name, decl in self._missing_columns(db):
                db.execute(f"ALTER TABLE incidents ADD COLUMN {name} {decl}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):
                    raise  # locked, busy: not damage
                raise damaged_error(self.path, exc) from exc
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
        (``raised``: its severity went up to ``critical``). An incident acknowledged at
        ``error`` that turns ``critical`` is paged again: its acknowledgement is withdrawn
        and its escalation starts over (the timeline keeps what happened before)."""
        stamp = now.isoformat()
        with self._write() as db:
            row = db.execute(
                "SELECT id, severity, acknowledged FROM incidents "
                "WHERE key = ? AND resolved IS NULL",
                (key,),
            ).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO incidents (key, title, severity, opened, updated, seen) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key, title, severity, stamp, stamp, stamp),
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
                if raised and row["acknowledged"] is not None:
                    db.execute(
                        "UPDATE incidents SET acknowledged = NULL, acknowledged_by = NULL, "
                        "elapsed = 0, seen = ?, reduced = NULL, reduce_outcome = NULL "
                        "WHERE id = ?",
                        (stamp, incident),
                    )
                    db.execute("DELETE FROM steps WHERE incident = ?", (incident,))
                    db.execute(
                        "INSERT INTO timeline (incident, ts, what, detail) VALUES (?, ?, ?, ?)",
                        (
                            incident,
                            stamp,
                            "reopened",
                            "critical after an acknowledgement at error: escalation starts over",
                        ),
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

    def advance(self, now: datetime) -> list[Incident]:
        """Add the clock's forward progress since the last call (``now - seen``, nothing
        when the clock went back) to every open incident's ``elapsed``, and return the
        open incidents (unreadable rows are left alone and listed in :attr:`damaged`).

        Progress is written once it reaches :data:`PERSIST_AFTER` (or the clock went
        back); until then it is counted from the stored ``seen``, so the two checks of a
        cycle cost one read, and a restart loses nothing."""
        stamp = now.isoformat()
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM incidents WHERE resolved IS NULL ORDER BY id"
            ).fetchall()
        items = self._readable(rows, memo=True)
        if all(seen <= now and (now - seen).total_seconds() < PERSIST_AFTER for _, seen in items):
            return [_progressed(item, seen, now) for item, seen in items]
        with self._write() as db:  # read again under the lock: another process may tick
            rows = db.execute("SELECT * FROM incidents WHERE resolved IS NULL ORDER BY id")
            items = self._readable(rows.fetchall())
            for item, seen in items:
                if seen == now:
                    continue
                item.elapsed += max(0.0, (now - seen).total_seconds())
                db.execute(
                    "UPDATE incidents SET elapsed = ?, seen = ? WHERE id = ?",
                    (item.elapsed, stamp, item.id),
                )
        return [item for item, _seen in items]

    def claim_step(
        self, incident: int, step: int, notifier: str, now: datetime, *, stale: datetime
    ) -> str | None:
        """Claim escalation ``step`` of an open, unacknowledged incident: ``"claimed"``,
        or ``"taken_over"`` when an earlier claim was never finished and is older than
        ``stale`` (its holder stopped); None when it is claimed, sent or failed already,
        or the incident no longer escalates."""
        stamp = now.isoformat()
        with self._write() as db:
            live = db.execute(
                "SELECT 1 FROM incidents WHERE id = ? AND resolved IS NULL "
                "AND acknowledged IS NULL",
                (incident,),
            ).fetchone()
            if live is None:
                return None
            cur = db.execute(
                "INSERT OR IGNORE INTO steps (incident, step, notifier, ts) VALUES (?, ?, ?, ?)",
                (incident, step, notifier, stamp),
            )
            if cur.rowcount == 1:
                return "claimed"
            row = db.execute(
                "SELECT ts, status FROM steps WHERE incident = ? AND step = ?", (incident, step)
            ).fetchone()
            if row["status"] != "claimed" or not _older(row["ts"], stale):
                return None
            cur = db.execute(
                "UPDATE steps SET ts = ? WHERE incident = ? AND step = ? AND status = 'claimed' "
                "AND ts = ?",
                (stamp, incident, step, row["ts"]),
            )
            return "taken_over" if cur.rowcount == 1 else None

    def step_sent(self, incident: int, step: int, status: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE steps SET status = ? WHERE incident = ? AND step = ?",
                (status, incident, step),
            )

    def claim_reduce(self, incident: int, now: datetime, *, stale: datetime) -> bool:
        """Claim the move to ``reducing`` for a critical, unacknowledged incident whose
        move is not done yet: unclaimed, or claimed before ``stale`` and never finished
        (its holder stopped)."""
        with self._write() as db:
            row = db.execute(
                "SELECT reduced FROM incidents WHERE id = ? AND reduce_outcome IS NULL "
                "AND acknowledged IS NULL AND resolved IS NULL AND severity = 'critical'",
                (incident,),
            ).fetchone()
            if row is None or (row["reduced"] is not None and not _older(row["reduced"], stale)):
                return False
            cur = db.execute(
                "UPDATE incidents SET reduced = ? WHERE id = ? AND reduce_outcome IS NULL "
                "AND reduced IS ?",
                (now.isoformat(), incident, row["reduced"]),
            )
            return cur.rowcount == 1

    def reduce_done(self, incident: int, outcome: str) -> None:
        """Record what the move to ``reducing`` did (one of :data:`REDUCE_OUTCOMES`)."""
        with self._write() as db:
            db.execute("UPDATE incidents SET reduce_outcome = ? WHERE id = ?", (outcome, incident))

    def reduce_failed(self, incident: int) -> None:
        """Release the claim of a move that failed: the next tick tries again."""
        with self._write() as db:
            db.execute(
                "UPDATE incidents SET reduced = NULL WHERE id = ? AND reduce_outcome IS NULL",
                (incident,),
            )

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
        """The incident with its timeline and steps (a TradekernelError when its row or
        the file cannot be read)."""
        with self._lock:
            try:
                return self._get(incident)
            except sqlite3.DatabaseError as exc:
                raise damaged_error(self.path, exc) from exc

    def _get(self, incident: int) -> Incident | None:
        row = self._db.execute("SELECT * FROM incidents WHERE id = ?", (incident,)).fetchone()
        if row is None:
            return None
        try:
            item = self._incident(row)
        except (TypeError, ValueError) as exc:
            raise TradekernelError(
                f"{self.path}: incident {incident} is unreadable ({inert(exc)[:120]})"
            ) from None
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
        """The incidents, oldest first; unreadable rows are left out (:attr:`damaged`)."""
        where = "" if include_resolved else " WHERE resolved IS NULL"
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT * FROM incidents{where} ORDER BY id").fetchall()
            except sqlite3.DatabaseError as exc:
                raise damaged_error(self.path, exc) from exc
        return [item for item, _seen in self._readable(rows)]

    def _readable(
        self, rows: list[sqlite3.Row], *, memo: bool = False
    ) -> list[tuple[Incident, datetime]]:
        """Each row that parses, with when its escalation clock was last advanced.

        ``memo``: a row unchanged since the previous memo call is not parsed again (the
        escalation check reads every open incident each tick); the objects returned
        then are shared with that call, so the caller must not change them."""
        out: list[tuple[Incident, datetime]] = []
        self.damaged = {}
        last = self._parsed if memo else {}
        parsed: dict[tuple[Any, ...], tuple[Incident, datetime] | str] = {}
        for row in rows:
            values = tuple(row)
            result = last.get(values)
            if result is None:
                try:
                    item = self._incident(row)
                    seen = _ts(row["seen"]) or item.opened
                    result = (item, _aware(seen))
                except (TypeError, ValueError, IndexError) as exc:
                    result = f"{type(exc).__name__}: {inert(exc)[:120]}"
            parsed[values] = result
            if isinstance(result, str):
                self.damaged[int(row["id"])] = result
            else:
                out.append(result)
        if memo:
            self._parsed = parsed  # only this tick's rows: the memo never grows
        return out

    def open_steps_status(self) -> dict[int, dict[int, str]]:
        """:meth:`steps_status` of every unresolved incident, in one query."""
        out: dict[int, dict[int, str]] = {}
        with self._lock:
            rows = self._db.execute(
                "SELECT s.incident, s.step, s.status FROM steps s JOIN incidents i "
                "ON i.id = s.incident WHERE i.resolved IS NULL"
            ).fetchall()
        for incident, step, status in rows:
            out.setdefault(int(incident), {})[int(step)] = str(status)
        return out

    def steps_status(self, incident: int) -> dict[int, str]:
        """Each claimed step's status: claimed, sent or failed (or a delivery status)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT step, status FROM steps WHERE incident = ?", (incident,)
            )
            return {int(r[0]): str(r[1]) for r in rows.fetchall()}

    @staticmethod
    def _incident(row: sqlite3.Row) -> Incident:
        return _aware_times(
            Incident(
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
                reduce_outcome=row["reduce_outcome"],
                elapsed=float(row["elapsed"] or 0.0),
            )
        )


def _aware(ts: datetime) -> datetime:
    """``ts``, which must carry a time zone (compared with aware clocks)."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {ts.isoformat()}")
    return ts


def _aware_times(item: Incident) -> Incident:
    for ts in (item.opened, item.updated, item.acknowledged, item.resolved, item.reduced):
        if ts is not None:
            _aware(ts)
    if item.elapsed != item.elapsed or item.elapsed < 0:  # NaN or negative: recount
        item.elapsed = 0.0
    return item


def _older(stamp: str, than: datetime) -> bool:
    """Whether the recorded ``stamp`` is before ``than`` (an unreadable one is: a claim
    that cannot be dated is taken over rather than left forever)."""
    try:
        return _aware(datetime.fromisoformat(stamp)) < than
    except (TypeError, ValueError):
        return True
