"""The paper store creates its schema with plain SQL: exactly the tables and indexes
sqlite-utils made before (an existing account is opened unchanged), without importing
sqlite-utils on the start-up path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils
from tradekernel_paper.store import INDEXES, TABLES, PaperStore


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None]]:
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
    return list(rows)


def test_the_schema_is_the_one_sqlite_utils_creates(tmp_path: Path) -> None:
    reference = sqlite_utils.Database(sqlite3.connect(tmp_path / "reference.db"))
    for name, (columns, pk) in TABLES.items():
        reference[name].create(columns, pk=pk, if_not_exists=True)
    for table, column in INDEXES:
        reference[table].create_index([column], if_not_exists=True)
    store = PaperStore(tmp_path / "paper.db")
    assert _schema(store.conn) == _schema(reference.conn)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 1
    store.conn.close()


def test_an_existing_account_is_opened_unchanged_and_a_missing_index_comes_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paper.db"
    first = PaperStore(path)
    before = _schema(first.conn)
    first.conn.close()
    again = PaperStore(path)
    assert _schema(again.conn) == before
    assert again.count("orders") == 0
    again.conn.execute('DROP INDEX "idx_fills_client_order_id"')
    again.conn.close()
    third = PaperStore(path)
    assert _schema(third.conn) == before
    third.conn.close()
