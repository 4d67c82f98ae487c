"""The ``sqlite`` metrics sink: events in the ``events`` table of ``<state_dir>/state.db``.

The database is shared with the intent store, which owns the other tables: this sink
creates and writes only ``events``. WAL mode and a busy timeout let the runtime, the CLI
and other processes use the file at once. The row layout is
``tradekernel.api.event_row``; the kernel reads it back (``read_events``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlite_utils
from attrs import define, field
from loguru import logger
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)
from tradekernel import hookimpl
from tradekernel.api import (
    EVENTS_COLUMNS,
    EVENTS_TABLE,
    SQLITE_DEFAULT_PATH,
    ComponentContext,
    Duration,
    Event,
    ensure_state_db,
    event_row,
    positive,
    resolve,
)

__all__ = ["SqliteSink", "SqliteSinkConfig"]

MAX_PENDING = 100_000
"""Rows kept for retry while the database stays locked; older ones are dropped (logged)."""

_DEFAULT_FLUSH = Duration(1)
_DEFAULT_BUSY = Duration(10)


@define
class SqliteSinkConfig:
    """``[metrics_sink.sqlite]``."""

    path: str = SQLITE_DEFAULT_PATH
    """The database file; relative paths are under ``[kernel] state_dir``."""
    batch_size: int = field(default=1, validator=positive)
    """Rows per transaction. 1 writes through; more is faster but a crash (not a clean
    close) loses the unwritten batch."""
    flush_interval: Duration = _DEFAULT_FLUSH
    """With ``batch_size > 1``: write a partial batch once its oldest row is this old."""
    busy_timeout: Duration = _DEFAULT_BUSY
    """How long a write waits for another process's lock before it is retried later."""


class SqliteSink:
    """Inserts events into ``events``; never raises from :meth:`write`."""

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 1,
        flush_interval: float = 1.0,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        self._oldest = 0.0
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Processes starting together race on a fresh file's setup (WAL switch, DDL):
        # SQLite answers "locked" at once for some of those, whatever the busy timeout.
        for attempt in Retrying(
            retry=retry_if_exception_type(sqlite3.OperationalError),
            wait=wait_random_exponential(multiplier=0.05, max=1.0),
            stop=stop_after_delay(busy_timeout),
            reraise=True,
        ):
            with attempt:
                self._conn = self._open(busy_timeout)

        self._insert = (
            f"INSERT INTO {EVENTS_TABLE} ({', '.join(EVENTS_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in EVENTS_COLUMNS)})"
        )

    def _open(self, busy_timeout: float) -> sqlite3.Connection:
        # Create (or check) the file as a tradekernel state database first: a file holding
        # only this table would later be refused by the store as foreign.
        ensure_state_db(self.path)
        conn = sqlite3.connect(self.path, timeout=busy_timeout, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            db = sqlite_utils.Database(conn)
            db.enable_wal()
            table = db[EVENTS_TABLE]
            table.create(dict.fromkeys(EVENTS_COLUMNS, str), if_not_exists=True)
            table.create_index(["date", "stage", "kind"], if_not_exists=True)
        except BaseException:
            conn.close()
            raise
        return conn

    def write(self, event: Event) -> None:
        """Queue one event and write the batch when due (logs instead of raising)."""
        try:
            row = tuple(event_row(event).values())
            with self._lock:
                if not self._pending:
                    self._oldest = time.monotonic()
                self._pending.append(row)
                due = len(self._pending) >= self.batch_size or (
                    time.monotonic() - self._oldest >= self.flush_interval
                )
                if due:
                    self._flush()
        except Exception as exc:
            logger.warning(
                "sqlite sink: could not write a {}.{} event: {}", event.stage, event.kind, exc
            )

    def _flush(self) -> None:
        if not self._pending:
            return
        try:
            with self._conn:
                self._conn.executemany(self._insert, self._pending)
        except sqlite3.Error as exc:
            if len(self._pending) > MAX_PENDING:
                dropped = len(self._pending) - MAX_PENDING
                del self._pending[:dropped]
                logger.error("sqlite sink: dropped {} events the database refused", dropped)
            logger.warning("sqlite sink: {} events not written yet: {}", len(self._pending), exc)
            return
        self._pending.clear()

    def flush(self) -> None:
        """Write every queued event now."""
        with self._lock:
            self._flush()

    def close(self) -> None:
        """Write what is queued and close the connection."""
        with self._lock:
            self._flush()
            if self._pending:
                logger.error("sqlite sink: {} events lost on close", len(self._pending))
            self._conn.close()


def make_sink(config: SqliteSinkConfig, ctx: ComponentContext) -> SqliteSink:
    """Events in the events table of state.db."""
    in_memory = getattr(ctx, "check_only", False)  # validating only: write nothing
    return SqliteSink(
        Path(":memory:") if in_memory else resolve(ctx.state_dir, config.path),
        batch_size=config.batch_size,
        flush_interval=float(config.flush_interval),
        busy_timeout=float(config.busy_timeout),
    )


@hookimpl
def register_metrics_sinks(register):
    register("sqlite", make_sink, config=SqliteSinkConfig, version="1")
