"""The live records of one UTC day, exported exactly as a bundle stores them.

Both the archiver and the pruner use these functions, so "the live data still equals
the archive" is a byte comparison of the same export.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from attrs import frozen
from tradekernel.api import (
    EVENTS_TABLE,
    JOURNAL_COLUMNS,
    JOURNAL_GENESIS,
    ConfigError,
    digest,
    events_jsonl_dir,
    events_sqlite_path,
    journal_row_hash,
)

JOURNAL_FIELDS = tuple(c.strip() for c in JOURNAL_COLUMNS.split(","))


def parse_day(text: str | date, what: str = "--date") -> str:
    """``YYYY-MM-DD`` for a UTC day, or :class:`ConfigError` naming ``what``."""
    if isinstance(text, date):
        return text.isoformat()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ConfigError(f"{what}: expected a UTC day as YYYY-MM-DD, got {text!r}") from None


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def jsonl_line(obj: Any) -> bytes:
    """One canonical JSON line (sorted keys, compact, UTF-8)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode("utf-8")


# -- the journal -----------------------------------------------------------------------


@frozen
class JournalSegment:
    """The journal rows of one day: a contiguous run of ``seq`` and the hash before it."""

    rows: list[dict[str, Any]]
    anchor_hash: str
    """``hash`` of the row before the first one (64 zeros before row 1)."""
    first_seq: int

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.rows) - 1

    @property
    def last_hash(self) -> str:
        return self.rows[-1]["hash"] if self.rows else self.anchor_hash

    def to_bytes(self) -> bytes:
        return b"".join(jsonl_line(row) for row in self.rows)


def _row_dict(raw: tuple) -> dict[str, Any]:
    row = dict(zip(JOURNAL_FIELDS, raw, strict=True))
    # Unparseable payload text is kept as text: the bundle's digest check names the row.
    with contextlib.suppress(ValueError):
        row["payload"] = json.loads(row["payload"]) if row["payload"] else {}
    return row


def journal_segment(conn: sqlite3.Connection, day: str) -> JournalSegment:
    """The rows whose ``ts`` falls on ``day`` (UTC), widened to a contiguous ``seq`` range
    (rows of one day are contiguous unless clocks of two writers disagree at midnight)."""
    start, end = day, next_day(day)
    low, high = conn.execute(
        "SELECT MIN(seq), MAX(seq) FROM journal WHERE ts >= ? AND ts < ?", (start, end)
    ).fetchone()
    if low is None:
        before = conn.execute(
            "SELECT seq, hash FROM journal WHERE ts < ? ORDER BY seq DESC LIMIT 1", (start,)
        ).fetchone()
        seq, anchor = (before[0], before[1]) if before else (0, JOURNAL_GENESIS)
        return JournalSegment(rows=[], anchor_hash=anchor, first_seq=seq + 1)
    prev = conn.execute("SELECT hash FROM journal WHERE seq = ?", (low - 1,)).fetchone()
    anchor = prev[0] if prev else JOURNAL_GENESIS
    rows = [
        _row_dict(raw)
        for raw in conn.execute(
            f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (low, high),
        )
    ]
    return JournalSegment(rows=rows, anchor_hash=anchor, first_seq=low)


def check_segment(rows: list[dict[str, Any]], anchor_hash: str, first_seq: int) -> str | None:
    """The first problem of a journal segment (seq run, payload digests, hash links,
    row hashes), or ``None`` when the chain holds."""
    prev = anchor_hash
    for index, row in enumerate(rows):
        expected_seq = first_seq + index
        try:
            seq = row["seq"]
            if seq != expected_seq:
                return f"journal row {index + 1}: expected seq {expected_seq}, found {seq}"
            if row["prev_hash"] != prev:
                return f"journal seq {seq}: prev_hash does not match the previous row's hash"
            payload = row["payload"]
            if not isinstance(payload, dict) or digest(payload) != row["payload_digest"]:
                return f"journal seq {seq}: payload does not match its digest"
            expected = journal_row_hash(
                seq=seq,
                entity=row["entity"],
                from_state=row["from_state"],
                to_state=row["to_state"],
                actor=row["actor"],
                reason=row["reason"] or "",
                ts=row["ts"],
                payload_digest=row["payload_digest"],
                prev_hash=row["prev_hash"],
            )
        except (KeyError, TypeError) as exc:
            return f"journal row {index + 1}: malformed row ({type(exc).__name__}: {exc})"
        if row["hash"] != expected:
            return f"journal seq {seq}: hash does not match the row content (row was altered)"
        prev = row["hash"]
    return None


# -- the event log -----------------------------------------------------------------------


def jsonl_path(settings: Any, day: str) -> Path:
    """The ``jsonl`` sink's file of ``day``."""
    return events_jsonl_dir(settings) / f"{day}.jsonl"


def read_jsonl_day(path: Path) -> bytes | None:
    """The bytes of a day file, read under a shared lock (the sink appends under an
    exclusive one, so no half-written line is read); ``None`` when there is none."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return None
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        try:
            return fh.read()
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def events_table_exists(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            (EVENTS_TABLE,),
        ).fetchone()
    )


def export_sqlite_day(conn: sqlite3.Connection, day: str) -> bytes | None:
    """The ``events`` rows of ``day`` in write order, one ``event.v1`` record per line
    (``None`` when the table does not exist)."""
    if not events_table_exists(conn):
        return None
    lines = []
    for schema, ts, run_id, cycle_id, stage, kind, severity, fields in conn.execute(
        "SELECT schema, ts, run_id, cycle_id, stage, kind, severity, fields "
        f"FROM {EVENTS_TABLE} WHERE date = ? ORDER BY rowid",
        (day,),
    ):
        try:
            decoded: Any = json.loads(fields)
        except (TypeError, ValueError):
            decoded = fields  # kept verbatim: the archive must hold what the log holds
        record = {
            "schema": schema,
            "ts": ts,
            "run_id": run_id,
            "cycle_id": cycle_id,
            "stage": stage,
            "kind": kind,
            "severity": severity,
            "fields": decoded,
        }
        lines.append(jsonl_line(record))
    return b"".join(lines)


def open_events_db(settings: Any, *, readonly: bool = True) -> sqlite3.Connection | None:
    """The ``sqlite`` sink's database, or ``None`` when the file does not exist."""
    path = events_sqlite_path(settings)
    if not path.is_file():
        return None
    if readonly:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def read_sqlite_day(settings: Any, day: str) -> bytes | None:
    conn = open_events_db(settings)
    if conn is None:
        return None
    try:
        return export_sqlite_day(conn, day)
    finally:
        conn.close()


def event_days(settings: Any, before: str) -> list[str]:
    """Every UTC day earlier than ``before`` that has events in the jsonl files or the
    sqlite table."""
    days: set[str] = set()
    directory = events_jsonl_dir(settings)
    if directory.is_dir():
        for path in directory.glob("????-??-??.jsonl"):
            if path.stem < before:
                days.add(path.stem)
    conn = open_events_db(settings)
    if conn is not None:
        try:
            if events_table_exists(conn):
                days.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT DISTINCT date FROM {EVENTS_TABLE} WHERE date < ?",
                        (before,),
                    )
                )
        finally:
            conn.close()
    return sorted(days)
