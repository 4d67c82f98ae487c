"""The journal's hash chain: how a row's hash is computed and how the chain is verified.

``hash = sha256(canonical_json(row content without hash) + prev_hash)``; the first row's
``prev_hash`` is :data:`GENESIS`. ``seq`` is part of the content and must run 1, 2, 3 ...
without gaps, so changing any field, deleting or reordering rows breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..models import canonical_json, digest
from .records import JournalRow, VerifyResult

GENESIS = "0" * 64
"""The ``prev_hash`` of the journal's first row (64 zeros)."""
COLUMNS = (
    "seq, entity, from_state, to_state, actor, reason, ts, payload, payload_digest, prev_hash, hash"
)
"""The ``journal`` table's columns in chain order, as one ``SELECT`` list."""
LAST_ROW_SQL = "SELECT seq, hash FROM journal WHERE seq = (SELECT max(seq) FROM journal)"
"""The chain's head (``seq``, ``hash``): two primary-key lookups, whatever the length."""


def row_hash(
    *,
    seq: int,
    entity: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    reason: str,
    ts: str,
    payload_digest: str,
    prev_hash: str,
) -> str:
    """The hash a journal row with this content must have after ``prev_hash``:
    ``sha256(canonical_json(content) + prev_hash)`` (hex)."""
    content = canonical_json(
        {
            "seq": seq,
            "entity": entity,
            "from": from_state,
            "to": to_state,
            "actor": actor,
            "reason": reason,
            "ts": ts,
            "payload_digest": payload_digest,
        }
    )
    return hashlib.sha256((content + prev_hash).encode()).hexdigest()


def append(
    conn: sqlite3.Connection,
    *,
    entity: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    reason: str,
    ts: str,
    payload: dict[str, Any],
) -> JournalRow:
    """Append one row; the caller holds the write transaction."""
    last = conn.execute(LAST_ROW_SQL).fetchone()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    payload_text = canonical_json(payload)
    payload_digest = hashlib.sha256(payload_text.encode()).hexdigest()  # = digest(payload)
    fields = dict(
        seq=seq,
        entity=entity,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        reason=reason,
        ts=ts,
        payload_digest=payload_digest,
        prev_hash=prev_hash,
    )
    hash_ = row_hash(**fields)
    conn.execute(
        f"INSERT INTO journal ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            entity,
            from_state,
            to_state,
            actor,
            reason,
            ts,
            payload_text,
            payload_digest,
            prev_hash,
            hash_,
        ),
    )
    return JournalRow(payload=payload, hash=hash_, **fields)


def to_row(raw: tuple) -> JournalRow:
    seq, entity, from_state, to_state, actor, reason, ts, payload, p_digest, prev, hash_ = raw
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        data = {"_unreadable": payload}
    return JournalRow(
        seq=seq,
        entity=entity,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        reason=reason or "",
        ts=ts,
        payload=data,
        payload_digest=p_digest,
        prev_hash=prev,
        hash=hash_,
    )


def raw_row_hash(raw: tuple, prev_hash: str) -> str:
    """The hash a raw journal row (:data:`COLUMNS` order) must have after ``prev_hash``."""
    seq, entity, from_state, to_state, actor, reason, ts, _, p_digest, _, _ = raw
    return row_hash(
        seq=seq,
        entity=entity,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        reason=reason or "",
        ts=ts,
        payload_digest=p_digest,
        prev_hash=prev_hash,
    )


def iter_raw(conn: sqlite3.Connection, entity: str | None = None) -> Iterator[tuple]:
    if entity is None:
        yield from conn.execute(f"SELECT {COLUMNS} FROM journal ORDER BY seq")
    else:
        yield from conn.execute(
            f"SELECT {COLUMNS} FROM journal WHERE entity = ? ORDER BY seq", (entity,)
        )


def verify_chain(
    rows: Iterable[tuple], on_row: Callable[[tuple, Any], None] | None = None
) -> tuple[VerifyResult, dict[str, tuple]]:
    """Check every row's seq, payload digest, prev_hash and hash, in order.

    ``on_row(raw, payload)`` is called with each row that checked out and its parsed
    payload (the store folds the journal in the same pass). Returns the result and the
    last raw row of each entity.
    """
    prev = GENESIS
    count = 0
    last: dict[str, tuple] = {}
    for raw in rows:
        seq, entity, _, _, _, _, _, payload, p_digest, prev_h, h = raw
        count += 1

        def bad(problem: str, seq: Any = seq, count: int = count) -> VerifyResult:
            return VerifyResult(False, count, first_bad_seq=seq, problem=problem)

        if seq != count:
            missing = "missing or reordered" if isinstance(seq, int) and seq > count else "bad"
            return bad(f"row {seq}: expected seq {count} ({missing} row)"), last
        try:
            data = json.loads(payload) if payload else {}
            payload_ok = digest(data) == p_digest
        except ValueError:
            data, payload_ok = None, False
        if not payload_ok:
            return bad(f"row {seq}: payload does not match its digest"), last
        if prev_h != prev:
            return bad(f"row {seq}: prev_hash does not match the previous row's hash"), last
        if h != raw_row_hash(raw, prev_h):
            return bad(f"row {seq}: hash does not match the row content (row was altered)"), last
        prev = h
        last[entity] = raw
        if on_row is not None:
            on_row(raw, data)
    return VerifyResult(True, count), last
