"""Benchmark: compare-and-set intent transitions per second on the Store, against a raw
``sqlite3`` floor doing the same single-row UPDATE plus journal INSERT per transaction
with the same durability settings (WAL, same ``synchronous``)."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

N = 300  # intents; each does approved -> executing -> submitted (2 CAS transitions)


def cas_rate(store: Any, n: int = N) -> float:
    """CAS transitions per second on ``store``: ``n`` intents brought to ``approved``,
    then each timed through approved -> executing -> submitted."""
    from tradekernel.models import Intent

    ids = []
    for i in range(n):
        intent = Intent.create(symbol="AAA", side="buy", quantity=i + 1)
        store.add_intent(intent, cycle_id="bench", broker="paper", ref_price=Decimal(1))
        store.transition(intent.id, "pending_approval", actor="bench")
        store.transition(intent.id, "approved", actor="bench")
        ids.append(intent.id)
    start = time.perf_counter()
    for iid in ids:
        store.transition(iid, "executing", expected_from="approved", actor="bench")
        store.transition(
            iid, "submitted", expected_from="executing", actor="bench", broker_order_id="B"
        )
    elapsed = time.perf_counter() - start
    return 2 * n / elapsed


def _store_rate(root: Path) -> float:
    from tradekernel.store import Store

    with Store.open(root / "store") as store:
        return cas_rate(store)


def _floor_rate(root: Path) -> float:
    from tradekernel.store.db import SYNCHRONOUS

    conn = sqlite3.connect(str(root / "floor.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
    conn.execute("CREATE TABLE intents (id TEXT PRIMARY KEY, state TEXT, version INTEGER)")
    conn.execute(
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY, entity TEXT, from_state TEXT, "
        "to_state TEXT, actor TEXT, ts TEXT)"
    )
    conn.executemany(
        "INSERT INTO intents VALUES (?, 'approved', 3)", [(f"i{i}",) for i in range(N)]
    )
    start = time.perf_counter()
    for i in range(N):
        for old, new, version in (("approved", "executing", 3), ("executing", "submitted", 4)):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE intents SET state = ?, version = version + 1 "
                "WHERE id = ? AND state = ? AND version = ?",
                (new, f"i{i}", old, version),
            )
            conn.execute(
                "INSERT INTO journal (entity, from_state, to_state, actor, ts) "
                "VALUES (?, ?, ?, 'bench', '')",
                (f"i{i}", old, new),
            )
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return 2 * N / elapsed


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        floor = _floor_rate(root)
        value = _store_rate(root)
    return [
        {
            "figure": "store CAS transitions/s",
            "value": round(value, 1),
            "unit": "transitions/s",
            "peer": "raw sqlite3 UPDATE+INSERT per txn (WAL, same synchronous)",
            "peer_value": round(floor, 1),
            "ratio": round(value / floor, 3),
        }
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
