"""The adaptive guards' peak equity, kept in ``<state_dir>/guards.db`` (SQLite) so that a
restart does not forget the drawdown's peak (and loosen the limit).

One row per guard and broker: ``(guard, broker, equity, at)``; the equity is a decimal
string. The file is the guards' own: deleting it forgets every peak (the next equity
seen is the new one). Opened in memory when a component is built only to check the
configuration (nothing is written then).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradekernel.api import ConfigError

DB_FILE = "guards.db"
MAX_EQUITY = Decimal("1e18")
"""A recorded peak above this is not an account's equity: the row is damaged."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS peaks (
    guard TEXT NOT NULL,
    broker TEXT NOT NULL,
    equity TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (guard, broker)
)
"""


class PeakStore:
    """The highest equity each guard has seen, per broker."""

    def __init__(self, state_dir: Path | None, *, check_only: bool = False) -> None:
        """``state_dir=None`` or ``check_only``: an in-memory store (nothing persists)."""
        self.path = None if state_dir is None or check_only else Path(state_dir) / DB_FILE
        self._lock = threading.Lock()
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                ":memory:" if self.path is None else self.path,
                check_same_thread=False,
                isolation_level=None,  # transactions are explicit
                timeout=10,
            )
            self._db.execute(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise ConfigError(
                f"{self.path}: cannot open the adaptive guards' peak equity: {exc} "
                "(delete the file to forget the peaks)"
            ) from None

    def raise_to(self, guard: str, broker: str, equity: Decimal) -> Decimal | None:
        """Record ``equity`` when it is above the recorded peak (or there is none) and
        return the peak now; ``None`` when the recorded one is unreadable (it is left as
        it is). One transaction: several processes never lower a peak."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT equity FROM peaks WHERE guard = ? AND broker = ?", (guard, broker)
                ).fetchone()
                peak = None if row is None else _decimal(row[0])
                if row is not None and peak is None:
                    return None
                if peak is None or equity > peak:
                    self._db.execute(
                        "INSERT INTO peaks (guard, broker, equity, at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (guard, broker) DO UPDATE SET equity = excluded.equity, "
                        "at = excluded.at",
                        (guard, broker, str(equity), datetime.now(UTC).isoformat()),
                    )
                    peak = equity
                return peak
            finally:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _decimal(value: object) -> Decimal | None:
    """``value`` as a positive decimal up to :data:`MAX_EQUITY`, else ``None``."""
    try:
        number = Decimal(value) if isinstance(value, str) and len(value) <= 64 else None
    except InvalidOperation:
        return None
    if number is None or not number.is_finite() or not 0 < number <= MAX_EQUITY:
        return None
    return number
