"""What the policy guard saw: each evaluated intent with its guard context, the policy
version and the verdict, in ``<state_dir>/policy.db``, so ``policy diff`` and ``policy
explain`` replay exactly what was decided (docs/policy.md, "Replays")."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen
from tradekernel.api import (
    ConfigError,
    GuardContext,
    GuardVerdict,
    Intent,
    NotFoundError,
    TradekernelError,
    inert,
    structure,
    ts_text,
    unstructure,
)

DB_FILE = "policy.db"
"""The file under ``[kernel] state_dir`` holding the recorded evaluations."""
BUSY_TIMEOUT_S = 0.2
"""How long a write waits for a lock held by another process (a locked database must not
stall every intent: the guard then denies at once for the rest of the cycle)."""
_DECODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, ExceptionGroup)


class CorruptRecords(TradekernelError):
    """``policy.db`` is not a policy record database, or a row of it does not decode."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    guard TEXT NOT NULL,
    intent_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    version TEXT NOT NULL,
    allow INTEGER NOT NULL,
    code TEXT NOT NULL,
    rule TEXT NOT NULL,
    intent TEXT NOT NULL,
    context TEXT NOT NULL,
    PRIMARY KEY (guard, intent_id)
);
CREATE INDEX IF NOT EXISTS evaluations_ts ON evaluations (ts);
"""


@frozen
class Evaluation:
    """One recorded evaluation."""

    guard: str
    intent_id: str
    ts: str
    version: str
    allow: bool
    code: str
    rule: str
    intent: Intent
    context: GuardContext


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


_NUMBER = re.compile(r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?")


def _identity(text: str) -> str:
    return text


def masked(data: Any, redact: Callable[[str], str]) -> Any:
    """``data`` (unstructured JSON-like values) with every text value and key passed
    through ``redact``; numbers, and texts that are numbers, are kept as they are so a
    replay decides on the same values."""
    if isinstance(data, str):
        return data if _NUMBER.fullmatch(data) else redact(data)
    if isinstance(data, dict):
        return {masked(k, redact): masked(v, redact) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [masked(v, redact) for v in data]
    return data


def encode_context(ctx: GuardContext, redact: Callable[[str], str] = _identity) -> str:
    """The guard context as JSON text (``extra`` left out: it holds runtime objects),
    its text values masked by ``redact``."""
    return _dumps(masked(unstructure(attrs.evolve(ctx, extra={})), redact))


def decode_context(text: str) -> GuardContext:
    """The guard context back from :func:`encode_context` text."""
    return structure(json.loads(text), GuardContext)


def encode_intent(intent: Intent, redact: Callable[[str], str] = _identity) -> str:
    """The intent as JSON text, its text values masked by ``redact``. The rationale is
    left out: no policy field reads it, and it is free LLM text."""
    return _dumps(masked(unstructure(attrs.evolve(intent, rationale="")), redact))


def decode_intent(text: str) -> Intent:
    """The intent back from :func:`encode_intent` text."""
    return structure(json.loads(text), Intent)


class Recorder:
    """Appends evaluations to ``policy.db`` (one row per guard and intent: the last)."""

    def __init__(self, state_dir: Path, redact: Callable[[str], str] = _identity) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(state_dir) / DB_FILE
        self.redact = redact
        # the guard may be called from another thread than the one that built it
        self.lock = threading.Lock()
        try:
            self.conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_S,
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"{self.path}: not a policy record database ({exc}); move it aside"
            ) from None

    def record(
        self, guard: str, intent: Intent, ctx: GuardContext, verdict: GuardVerdict, at: datetime
    ) -> None:
        """Keep what the guard saw and decided about ``intent``."""
        row = (
            guard,
            intent.id,
            ts_text(at),
            self.redact(verdict.version),
            int(verdict.allow),
            self.redact(verdict.code),
            self.redact(verdict.rule),
            encode_intent(intent, self.redact),
            encode_context(ctx, self.redact),
        )
        with self.lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _row(row: tuple, path: Path) -> Evaluation:
    try:
        return _decode(row)
    except _DECODE_ERRORS as exc:
        what = row[1] if len(row) > 1 and isinstance(row[1], str) else "?"
        raise CorruptRecords(
            f"{path}: the record of intent {inert(what)} does not decode ({type(exc).__name__})"
        ) from None


def _decode(row: tuple) -> Evaluation:
    guard, intent_id, ts, version, allow, code, rule, intent, context = row
    return Evaluation(
        guard=guard,
        intent_id=intent_id,
        ts=ts,
        version=version,
        allow=bool(allow),
        code=code,
        rule=rule,
        intent=decode_intent(intent),
        context=decode_context(context),
    )


def _open(state_dir: Path) -> sqlite3.Connection:
    path = Path(state_dir) / DB_FILE
    if not path.exists():
        raise NotFoundError(
            f"{path}: no recorded policy evaluations (the policy guard records them as it runs)"
        )
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _not_records(path: Path, exc: Exception) -> CorruptRecords:
    return CorruptRecords(f"{path}: not a policy record database ({exc}); move it aside")


def evaluations(
    state_dir: Path,
    since: datetime | None = None,
    on_corrupt: Callable[[CorruptRecords], None] | None = None,
) -> Iterator[Evaluation]:
    """Every recorded evaluation (since ``since``, when given), oldest first. A row that
    does not decode raises :class:`CorruptRecords`, or is passed to ``on_corrupt`` and
    skipped when given."""
    path = Path(state_dir) / DB_FILE
    conn = _open(state_dir)
    try:
        sql = "SELECT * FROM evaluations"
        args: tuple = ()
        if since is not None:
            sql += " WHERE ts >= ?"
            args = (ts_text(since),)
        try:
            rows = conn.execute(sql + " ORDER BY ts, intent_id", args)
            for row in rows:
                try:
                    found = _row(row, path)
                except CorruptRecords as exc:
                    if on_corrupt is None:
                        raise
                    on_corrupt(exc)
                    continue
                yield found
        except sqlite3.DatabaseError as exc:
            raise _not_records(path, exc) from None
    finally:
        conn.close()


def evaluation(state_dir: Path, intent_id: str) -> Evaluation:
    """The recorded evaluation of ``intent_id`` (:class:`NotFoundError` if none)."""
    path = Path(state_dir) / DB_FILE
    conn = _open(state_dir)
    try:
        row = conn.execute(
            "SELECT * FROM evaluations WHERE intent_id = ? ORDER BY ts DESC LIMIT 1",
            (intent_id,),
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise _not_records(path, exc) from None
    finally:
        conn.close()
    if row is None:
        raise NotFoundError(f"intent {inert(intent_id)}: no recorded policy evaluation")
    return _row(row, path)
