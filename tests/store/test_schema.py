"""Opening the state database: foreign, corrupted and newer files are refused untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from tradekernel.errors import ConfigError, NotFoundError
from tradekernel.store import SCHEMA_VERSION, SchemaError, Store, connect


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()}


def test_new_database_is_ours_in_wal_mode(state_dir):
    with Store.open(state_dir) as store:
        conn = store.db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        meta = dict(conn.execute("SELECT key, value FROM tradekernel_meta"))
        assert meta["app"] == "tradekernel"
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert store.path == state_dir / "state.db"


def test_the_store_sets_its_connection_up_as_sqlite_utils_did(state_dir):
    """The store opens state.db with sqlite3 alone; its connection runs the pragma
    sqlite-utils runs on a connection it wraps, so triggers behave the same, and the
    sqlite-utils view (``Store.db``) wraps that very connection, made on first use."""
    with Store.open(state_dir) as store:
        assert store._db is None
        assert store.conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 1
        assert store.db.conn is store.conn
        assert store.db is store.db
    with Store.open(state_dir, read_only=True) as store:
        assert store.conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 1


def test_other_modules_tables_are_tolerated(state_dir, helpers):
    db = connect(state_dir / "state.db")
    db["notify_outbox"].insert({"id": 1, "body": "x"}, pk="id")
    db["events"].insert({"id": 1, "kind": "y"}, pk="id")
    db.close()
    with Store.open(state_dir) as store:
        store.add_intent(helpers.make_intent(), cycle_id="c", broker="paper")
        assert store.verify_journal().ok
        assert store.db["notify_outbox"].count == 1


def _refused_untouched(state_dir: Path, match: str) -> None:
    path = state_dir / "state.db"
    before, files = _digest(path), _siblings(path)
    with pytest.raises(SchemaError, match=match) as exc:
        Store.open(state_dir)
    assert "nothing was changed" in str(exc.value)
    assert isinstance(exc.value, ConfigError) and exc.value.exit_code == 2
    assert _digest(path) == before
    assert _siblings(path) == files


def test_foreign_sqlite_database_is_refused(state_dir):
    state_dir.mkdir()
    conn = sqlite3.connect(state_dir / "state.db")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'ann')")
    conn.commit()
    conn.close()
    _refused_untouched(state_dir, "not a tradekernel state database .*customers")


def test_foreign_meta_table_is_refused(state_dir):
    state_dir.mkdir()
    conn = sqlite3.connect(state_dir / "state.db")
    conn.execute("CREATE TABLE tradekernel_meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO tradekernel_meta VALUES ('app', 'somethingelse')")
    conn.commit()
    conn.close()
    _refused_untouched(state_dir, "somethingelse")


def test_non_sqlite_file_is_refused(state_dir):
    state_dir.mkdir()
    (state_dir / "state.db").write_bytes(b"this is a spreadsheet, not a database\n" * 50)
    _refused_untouched(state_dir, "not an SQLite database")


def test_corrupted_database_is_refused(state_dir, helpers):
    with Store.open(state_dir) as store:
        for i in range(30):
            store.add_intent(helpers.make_intent(i, rationale="x" * 500), cycle_id="c", broker="p")
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = state_dir / "state.db"
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 3 * page
    data[page + 100 : 3 * page] = b"\xa5" * (3 * page - page - 100)  # trash pages 2 and 3
    path.write_bytes(bytes(data))
    _refused_untouched(state_dir, "corrupted")


def test_newer_schema_is_refused(state_dir, helpers):
    with Store.open(state_dir) as store:
        store.add_intent(helpers.make_intent(), cycle_id="c", broker="p")
        store.db.conn.execute(
            "UPDATE tradekernel_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _refused_untouched(state_dir, f"newer tradekernel \\(schema version {SCHEMA_VERSION + 1}")


def test_missing_database_without_create(state_dir):
    with pytest.raises(NotFoundError):
        Store.open(state_dir, create=False)
    assert not state_dir.exists()


def test_empty_file_becomes_a_fresh_database(state_dir):
    state_dir.mkdir()
    (state_dir / "state.db").write_bytes(b"")
    with Store.open(state_dir) as store:
        assert store.list_intents() == []


@pytest.mark.parametrize(
    "args",
    [
        ("intents", "list"),
        ("intents", "show", "int_x"),
        ("intents", "approve", "int_x"),
        ("journal", "verify"),
    ],
)
def test_cli_refuses_a_foreign_file_untouched(run_cli, state_dir, args):
    state_dir.mkdir()
    path = state_dir / "state.db"
    path.write_bytes(b"GIF89a not a database")
    before = _digest(path)
    code, _out, err = run_cli(*args)
    assert code == 2
    assert "not an SQLite database" in err and err.count("\n") == 1
    assert _digest(path) == before


def test_a_file_holding_only_shared_tables_is_adopted(tmp_path):
    """The notification log or the LLM budget may create state.db before the store does."""
    import sqlite3

    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("CREATE TABLE notify_log (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE llm_spend (day TEXT)")
    conn.commit()
    conn.close()
    with Store.open(tmp_path) as store:
        assert store.list_intents() == []
        assert store.verify_journal().ok


def test_a_shared_table_beside_a_foreign_one_is_still_refused(tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("CREATE TABLE notify_log (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="foreign tables: customers"):
        Store.open(tmp_path)
