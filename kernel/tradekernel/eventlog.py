"""The recorded event log: where the first-party sinks keep events, and how to read them.

The ``jsonl`` sink writes one file per UTC day, ``<state_dir>/events/YYYY-MM-DD.jsonl``;
the ``sqlite`` sink writes the ``events`` table of ``<state_dir>/state.db``. Both keep
exactly the same record (:func:`event_record`). The formats and paths are defined here,
in the kernel, so that readers never import a plugin and the sinks (which import this
module) cannot drift from them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from attrs import frozen
from loguru import logger

from .errors import ConfigError
from .models import Event
from .serde import ValidationError, structure, unstructure

JSONL_SINK = "jsonl"
SQLITE_SINK = "sqlite"
JSONL_DEFAULT_DIR = "events"
"""Where the ``jsonl`` sink writes ``<date>.jsonl`` files, under ``state_dir`` by default."""
SQLITE_DEFAULT_PATH = "state.db"
"""The database the ``sqlite`` sink writes :data:`EVENTS_TABLE` to, under ``state_dir``."""
EVENTS_TABLE = "events"
"""The table of ``state.db`` the ``sqlite`` sink writes and :func:`read_events` reads."""
EVENTS_COLUMNS = (
    "ts",
    "date",
    "run_id",
    "cycle_id",
    "stage",
    "kind",
    "severity",
    "fields",
    "schema",
)
"""The columns of :data:`EVENTS_TABLE`, in order; every one holds text."""
SINK_KIND = "metrics_sink"


# -- the record ------------------------------------------------------------------------


def event_record(event: Event) -> dict[str, Any]:
    """The plain JSON-able form of ``event`` that every sink stores (``event.v1``)."""
    data = unstructure(event)
    data["severity"] = str(event.severity.value)
    return {
        k: data[k]
        for k in ("schema", "ts", "run_id", "cycle_id", "stage", "kind", "severity", "fields")
    }


def dumps(value: Any) -> str:
    """Compact JSON, the one encoding used for records and ``fields`` columns."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def encode_line(event: Event) -> bytes:
    """One ``jsonl`` line (UTF-8, newline-terminated) for ``event``."""
    return (dumps(event_record(event)) + "\n").encode("utf-8")


def event_row(event: Event) -> dict[str, str]:
    """The :data:`EVENTS_TABLE` row that stores ``event``: column name to text, in
    :data:`EVENTS_COLUMNS` order. ``fields`` is compact JSON and ``date`` the UTC day
    (:func:`event_date`): the layout :func:`read_events` and ``tradekernel events`` read."""
    record = event_record(event)
    record["fields"] = dumps(record["fields"])
    record["date"] = event_date(event.ts)
    return {column: record[column] for column in EVENTS_COLUMNS}


def event_date(ts: datetime) -> str:
    """The UTC day an event belongs to, ``YYYY-MM-DD`` (file name and ``date`` column)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).date().isoformat()


# -- where the sinks write -----------------------------------------------------------


def resolve(state_dir: Path, path: str | Path) -> Path:
    """``path`` itself when absolute, else ``path`` under ``state_dir``."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path(state_dir) / path


def _settings(kernel_or_settings: Any) -> Any:
    return getattr(kernel_or_settings, "settings", kernel_or_settings)


def _sink_section(settings: Any, name: str) -> dict[str, Any]:
    return settings.component_sections.get(SINK_KIND, {}).get(name, {})


def jsonl_dir(kernel_or_settings: Any) -> Path:
    """The ``jsonl`` sink's directory, as ``[metrics_sink.jsonl] dir`` resolves."""
    settings = _settings(kernel_or_settings)
    return resolve(
        settings.state_dir, _sink_section(settings, JSONL_SINK).get("dir", JSONL_DEFAULT_DIR)
    )


def sqlite_path(kernel_or_settings: Any) -> Path:
    """The ``sqlite`` sink's database, as ``[metrics_sink.sqlite] path`` resolves."""
    settings = _settings(kernel_or_settings)
    section = _sink_section(settings, SQLITE_SINK)
    return resolve(settings.state_dir, section.get("path", SQLITE_DEFAULT_PATH))


def source_for(kernel_or_settings: Any) -> str:
    """Which recorded log to read: ``sqlite`` when that sink is enabled, else ``jsonl``."""
    sinks = _settings(kernel_or_settings).components.metrics_sinks
    if SQLITE_SINK in sinks:
        return SQLITE_SINK
    if JSONL_SINK in sinks:
        return JSONL_SINK
    raise ConfigError(
        "[components] metrics_sinks: neither 'jsonl' nor 'sqlite' is enabled, "
        f"so no event log is recorded (enabled: {', '.join(sinks) or 'none'})"
    )


# -- reading ---------------------------------------------------------------------------


@frozen
class Record:
    """One stored event as read back: where it is, its data, or why it could not be read."""

    location: str
    """``<file>:<line>`` for jsonl, ``<db>:events rowid <n>`` for sqlite."""
    data: dict[str, Any] | None
    error: str | None = None


def _as_date(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()


def iter_records(
    kernel_or_settings: Any,
    *,
    date: date | str | None = None,
    stage: str | None = None,
    kind: str | None = None,
    source: str | None = None,
    days: tuple[str | None, str | None] = (None, None),
) -> Iterator[Record]:
    """Every stored record in write order (optionally of one UTC ``date``, ``stage`` and
    ``kind``; ``days`` bounds the dates read, inclusive), unparsed ones included."""
    source = source or source_for(kernel_or_settings)
    day = _as_date(date)
    if source == SQLITE_SINK:
        yield from _sqlite_records(sqlite_path(kernel_or_settings), day, stage, kind, days)
    elif source == JSONL_SINK:
        yield from _jsonl_records(jsonl_dir(kernel_or_settings), day, stage, kind, days)
    else:
        raise ConfigError(f"unknown event log source {source!r} (expected jsonl or sqlite)")


def _jsonl_records(
    directory: Path,
    day: str | None,
    stage: str | None,
    kind: str | None,
    days: tuple[str | None, str | None],
) -> Iterator[Record]:
    if day is not None:
        files = [directory / f"{day}.jsonl"]
    else:
        files = sorted(directory.glob("????-??-??.jsonl")) if directory.is_dir() else []
    low, high = days
    for path in files:
        if (low and path.stem < low) or (high and path.stem > high) or not path.is_file():
            continue
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                location = f"{path}:{number}"
                try:
                    data = json.loads(raw)
                except ValueError as exc:
                    yield Record(location, None, f"invalid JSON: {exc}")
                    continue
                if not isinstance(data, dict):
                    yield Record(location, None, "a line is not a JSON object")
                    continue
                if (stage and data.get("stage") != stage) or (kind and data.get("kind") != kind):
                    continue
                yield Record(location, data)


def _sqlite_records(
    path: Path,
    day: str | None,
    stage: str | None,
    kind: str | None,
    days: tuple[str | None, str | None],
) -> Iterator[Record]:
    if not path.is_file():
        return
    where, args = [], []
    for column, value, op in (
        ("date", day, "="),
        ("stage", stage, "="),
        ("kind", kind, "="),
        ("date", days[0], ">="),
        ("date", days[1], "<="),
    ):
        if value is not None:
            where.append(f"{column} {op} ?")
            args.append(value)
    sql = (
        "SELECT rowid, schema, ts, run_id, cycle_id, stage, kind, severity, fields "
        f"FROM {EVENTS_TABLE}"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY rowid"
    )
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (EVENTS_TABLE,)
        ).fetchone()
        if not exists:
            return
        for rowid, schema, ts, run_id, cycle_id, stage_, kind_, severity, fields in conn.execute(
            sql, args
        ):
            location = f"{path}:{EVENTS_TABLE} rowid {rowid}"
            try:
                decoded = json.loads(fields)
            except (TypeError, ValueError) as exc:
                yield Record(location, None, f"fields: invalid JSON: {exc}")
                continue
            data = {
                "schema": schema,
                "ts": ts,
                "run_id": run_id,
                "cycle_id": cycle_id,
                "stage": stage_,
                "kind": kind_,
                "severity": severity,
                "fields": decoded,
            }
            yield Record(location, data)
    finally:
        conn.close()


def _as_datetime(value: datetime | str | None, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{what}: expected an ISO-8601 time, got {value!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_events(
    kernel_or_settings: Any,
    *,
    date: date | str | None = None,
    stage: str | None = None,
    kind: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    source: str | None = None,
) -> Iterator[Event]:
    """The recorded events, oldest first, from the enabled sink's log.

    Reads the ``sqlite`` sink's table when ``[components] metrics_sinks`` enables it,
    else the ``jsonl`` files (``source`` forces one). ``date`` is a UTC day; ``since``
    is inclusive and ``until`` exclusive (naive times are UTC). Records that cannot be
    parsed are logged and skipped: ``tradekernel events validate`` reports them.
    """
    start = _as_datetime(since, "since")
    end = _as_datetime(until, "until")
    days = (event_date(start) if start else None, event_date(end) if end else None)
    for record in iter_records(
        kernel_or_settings, date=date, stage=stage, kind=kind, source=source, days=days
    ):
        if record.data is None:
            logger.warning("event log: {}: skipped: {}", record.location, record.error)
            continue
        try:
            event = structure(record.data, Event)
        except ValidationError as exc:
            logger.warning("event log: {}: skipped: {}", record.location, exc)
            continue
        if (start and event.ts < start) or (end and event.ts >= end):
            continue
        yield event
