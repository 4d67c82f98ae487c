"""A plugin's own tables in the store's database (tradekernel.store.tables): the
conformance suite, on every store backend (the ``backend`` fixture)."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tradekernel.store.anchor import write_anchor
from tradekernel.store.states import StateLost
from tradekernel.store.tables import (
    CATALOGUE,
    RESERVED_WORDS,
    STORE_TABLES,
    Tables,
    TableSpec,
    catalogue,
    open_tables,
)

CTX = multiprocessing.get_context("fork")
COUNTER = TableSpec("demo_counter", {"name": str, "n": int}, "name")
LOG = TableSpec(
    "demo_log",
    {"id": int, "ts": float, "who": str, "blob": bytes},
    "id",
    indexes=[("who", "ts")],
    not_null={"who"},
)


def _open(backend, state_dir):
    return open_tables(backend.settings(state_dir))


@pytest.fixture
def tables(backend, state_dir):
    with _open(backend, state_dir) as t:
        yield t


def test_define_creates_records_and_is_idempotent(tables, state_dir, backend):
    tables.define(COUNTER, LOG)
    tables.define(COUNTER, LOG)
    with _open(backend, state_dir) as other:  # another process defining them again
        other.define(COUNTER, LOG)
        other.define(LOG)
    with tables.read() as conn:
        assert {"demo_counter", "demo_log", CATALOGUE} <= tables.dialect.tables(conn)
        assert tables.dialect.columns(conn, "demo_log") == ["id", "ts", "who", "blob"]
        assert catalogue(conn, tables.dialect) == [COUNTER, LOG]
        assert list(catalogue(conn, tables.dialect)[1].columns) == ["id", "ts", "who", "blob"]


def test_an_older_table_gains_its_new_columns_and_keeps_its_rows(backend, state_dir):
    old = TableSpec("demo_log", {"id": int, "ts": float}, "id")
    with _open(backend, state_dir) as t:
        t.define(old)
        with t.write() as conn:
            first = t.insert(conn, "demo_log", {"ts": 1.5})
    with _open(backend, state_dir) as t:
        t.define(LOG)
        with t.write() as conn:
            second = t.insert(conn, "demo_log", {"ts": 2.5, "who": "b", "blob": b"\x00\xff"})
        with t.read() as conn:
            rows = conn.execute("SELECT id, ts, who, blob FROM demo_log ORDER BY id").fetchall()
            assert [tuple(r) for r in rows] == [
                (first, 1.5, None, None),
                (second, 2.5, "b", b"\x00\xff"),
            ]
            # "who" was added to older rows: the table does not enforce NOT NULL on it
            assert catalogue(conn, t.dialect) == [attrs.evolve(LOG, not_null=frozenset())]
    with _open(backend, state_dir) as t:  # an older version of the plugin defines it again
        t.define(old)
        with t.read() as conn:
            assert catalogue(conn, t.dialect)[0].columns == LOG.columns  # nothing forgotten


def test_a_not_null_column_added_later_is_recorded_as_the_table_has_it(backend, state_dir):
    v1 = TableSpec("demo_log", {"id": int, "who": str}, "id", not_null={"who"})
    v2 = TableSpec("demo_log", {"id": int, "who": str, "channel": str}, "id", not_null={"who"})
    v3 = attrs.evolve(v2, not_null={"who", "channel"})
    with _open(backend, state_dir) as t:
        t.define(v1)
    for later in (v2, v3):  # added nullable, then declared NOT NULL: still nullable
        with _open(backend, state_dir) as t:
            t.define(later)
            with t.read() as conn:
                assert catalogue(conn, t.dialect)[0].not_null == {"who"}


@pytest.mark.parametrize(
    "later",
    [
        TableSpec("demo_cache", {"key": str, "size": int}, "key"),
        TableSpec("demo_cache", {"key": str, "size": str}, ("key", "size")),
    ],
    ids=["type", "key"],
)
def test_a_changed_type_or_primary_key_is_refused(backend, state_dir, later):
    v1 = TableSpec("demo_cache", {"key": str, "size": str}, "key")
    with _open(backend, state_dir) as t:
        t.define(v1)
    with _open(backend, state_dir) as t:
        with pytest.raises(ValueError, match="never changes"):
            t.define(later)
        with t.read() as conn:
            assert catalogue(conn, t.dialect) == [v1]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5.0, 1e6, "1"])
def test_a_bad_lock_wait_is_a_value_error(tables, bad):
    with pytest.raises(ValueError, match="lock wait"):
        tables.set_lock_wait(bad)


def test_a_lock_wait_is_refused_inside_a_transaction(tables):
    """On PostgreSQL the setting would be rolled back with the transaction while the
    connection remembered it: refused there, and on every store alike."""
    tables.define(COUNTER)
    with tables.write() as conn:
        with pytest.raises(ValueError, match="outside a transaction"):
            tables.set_lock_wait(0.25)
        conn.execute("INSERT INTO demo_counter VALUES ('a', 1)")  # the write goes on
    tables.set_lock_wait(0.25)
    with tables.read() as conn:
        assert conn.execute("SELECT n FROM demo_counter").fetchone()[0] == 1


def test_an_index_name_another_table_has_is_refused(tables):
    """``CREATE INDEX IF NOT EXISTS`` skipped an index whose name another table's index
    had: refused instead, naming both; so is a table named as an index, and the reverse."""
    tables.define(TableSpec("demo_a", {"id": int, "b_c": str}, "id", indexes=[("b_c",)]))
    with pytest.raises(ValueError, match="demo_a_b_c, which indexes demo_a"):
        tables.define(TableSpec("demo_a_b", {"id": int, "c": str}, "id", indexes=[("c",)]))
    with pytest.raises(ValueError, match="an index of table demo_a has that name"):
        tables.define(TableSpec("demo_a_b_c", {"id": int}, "id"))
    tables.define(TableSpec("demo_x_y", {"id": int}, "id"))
    with pytest.raises(ValueError, match="a table's name"):
        tables.define(TableSpec("demo_x", {"id": int, "y": str}, "id", indexes=[("y",)]))
    with pytest.raises(ValueError, match="same name"):
        TableSpec("demo_z", {"a": str, "a_b": str, "b": str}, "a", indexes=[("a_b",), ("a", "b")])
    with tables.read() as conn:
        assert {s.name for s in catalogue(conn, tables.dialect)} == {"demo_a", "demo_x_y"}
    tables.define(TableSpec("demo_a", {"id": int, "b_c": str}, "id", indexes=[("b_c",)]))


def test_insert_returns_increasing_ids(tables):
    tables.define(LOG)
    with tables.write() as conn:
        ids = [tables.insert(conn, "demo_log", {"ts": float(i), "who": "a"}) for i in range(5)]
    with tables.write() as conn:
        ids.append(tables.insert(conn, "demo_log", {"ts": 9.0, "who": "a"}))
    assert ids == sorted(ids) and len(set(ids)) == 6 and ids[0] >= 1
    empty = TableSpec("demo_stamps", {"id": int, "at": float}, "id")
    tables.define(empty)
    with tables.write() as conn:  # a row of defaults only
        assert [tables.insert(conn, "demo_stamps", {}) for _ in range(2)] == [1, 2]


def test_on_conflict_upsert(tables):
    tables.define(COUNTER)
    upsert = (
        "INSERT INTO demo_counter (name, n) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET n = demo_counter.n + excluded.n"
    )
    with tables.write() as conn:
        conn.execute(upsert, ("a", 1))
        conn.execute(upsert, ("a", 2))
        conn.execute(upsert, ("b", 5))
    with tables.read() as conn:
        rows = conn.execute("SELECT name, n FROM demo_counter ORDER BY name").fetchall()
    assert [tuple(r) for r in rows] == [("a", 3), ("b", 5)]


def test_a_write_that_raises_is_rolled_back(tables):
    tables.define(LOG)
    with pytest.raises(RuntimeError), tables.write() as conn:
        tables.insert(conn, "demo_log", {"ts": 1.0, "who": "a"})
        raise RuntimeError("the plugin failed half way")
    with pytest.raises(sqlite3.IntegrityError), tables.write() as conn:
        tables.insert(conn, "demo_log", {"ts": 1.0, "who": "a"})
        tables.insert(conn, "demo_log", {"ts": 2.0})  # who is NOT NULL
    with tables.read() as conn:
        assert conn.execute("SELECT count(*) FROM demo_log").fetchone()[0] == 0
    with tables.write() as conn:  # the connection is usable afterwards
        tables.insert(conn, "demo_log", {"ts": 3.0, "who": "c"})


def _increment(backend, state_dir, times, queue) -> None:
    with _open(backend, state_dir) as t:
        t.define(COUNTER)
        for _ in range(times):
            with t.write() as conn:  # read, then write: atomic only under the lock
                n = conn.execute("SELECT n FROM demo_counter WHERE name = 'c'").fetchone()[0]
                conn.execute("UPDATE demo_counter SET n = ? WHERE name = 'c'", (n + 1,))
    queue.put("done")


@pytest.mark.slow
def test_read_modify_write_from_four_processes_loses_nothing(tables, backend, state_dir):
    """The write lock serialises writers across processes (and hosts: PostgreSQL's is
    the server's advisory lock, whoever holds a connection)."""
    tables.define(COUNTER)
    with tables.write() as conn:
        conn.execute("INSERT INTO demo_counter (name, n) VALUES ('c', 0)")
    queue = CTX.Queue()
    procs = [
        CTX.Process(target=_increment, args=(backend, state_dir, 100, queue)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    assert [queue.get(timeout=120) for _ in procs] == ["done"] * 4
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    with tables.read() as conn:
        assert conn.execute("SELECT n FROM demo_counter").fetchone()[0] == 400


def _define(backend, state_dir, go, queue) -> None:
    go.wait(30)
    try:
        with _open(backend, state_dir) as t:
            t.define(COUNTER, LOG)
        queue.put("ok")
    except Exception as exc:  # reported to the parent
        queue.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("fresh", [True, False], ids=["new-store", "existing-store"])
def test_two_processes_defining_at_once_both_succeed(backend, state_dir, fresh):
    if not fresh:
        backend.open(state_dir).close()
    go, queue = CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=_define, args=(backend, state_dir, go, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    go.set()
    assert [queue.get(timeout=60) for _ in procs] == ["ok", "ok"]
    for p in procs:
        p.join(timeout=30)
    with _open(backend, state_dir) as t, t.read() as conn:
        assert catalogue(conn, t.dialect) == [COUNTER, LOG]


@pytest.mark.parametrize(
    "entry",
    [
        '{"columns": {"a": "decimal"}, "pk": ["a"]}',
        "not json",
        "[]",
        '{"pk": ["a"]}',
        "{}",
        "[" * 200_000,  # nested past the recursion limit
        json.dumps({"columns": {f"c{i}": "str" for i in range(1001)}, "pk": ["c0"]}),
        json.dumps({"columns": {"a": "str"}, "pk": ["a"], "pad": "x" * 1_000_000}),
    ],
    ids=["type", "json", "list", "no-columns", "empty", "nested", "wide", "huge"],
)
def test_a_damaged_catalogue_entry_is_one_clear_error(tables, entry):
    tables.define(COUNTER)
    with tables.write() as conn:
        conn.execute(f"UPDATE {CATALOGUE} SET spec = ? WHERE name = 'demo_counter'", (entry,))
    with tables.read() as conn, pytest.raises(ValueError) as exc:
        catalogue(conn, tables.dialect)
    assert str(exc.value).startswith(f"{CATALOGUE}: the entry of 'demo_counter' is damaged (")
    assert "\n" not in str(exc.value)


def test_a_catalogue_entry_naming_a_store_table_is_damaged(tables):
    tables.define(COUNTER)
    with tables.write() as conn:
        conn.execute(f"UPDATE {CATALOGUE} SET name = 'journal'")
    with tables.read() as conn, pytest.raises(ValueError, match="entry of 'journal' is damaged"):
        catalogue(conn, tables.dialect)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "1abc"},
        {"name": "Demo"},  # PostgreSQL folds it: refused everywhere
        {"name": "a b"},
        {"name": "x" * 64},
        {"name": "sqlite_master"},
        {"name": "pg_class"},
        {"name": "journal"},
        {"name": "tradekernel_meta"},
        {"name": "tradekernel_tables"},
        {"name": "select"},
        {"name": ""},
        {"columns": {}},
        {"columns": {"id": int, "x": list}},
        {"columns": {"id": int, "x": "str"}},
        {"columns": {"id": int, "order": str}},
        {"columns": {"id": int, "x;drop table journal": str}},
        {"pk": ()},
        {"pk": ("id", "id")},
        {"pk": "nope"},
        {"indexes": [("nope",)]},
        {"indexes": [()]},
        {"not_null": {"nope"}},
    ],
)
def test_a_bad_spec_is_refused(kwargs):
    spec = {"name": "demo", "columns": {"id": int, "x": str}, "pk": "id", **kwargs}
    with pytest.raises(ValueError):
        TableSpec(**spec)


def test_the_catalogue_name_is_the_stores_own(tables):
    with pytest.raises(ValueError, match="store's own tables"):
        TableSpec("tradekernel_lease_store", {"id": int}, "id")
    with pytest.raises(ValueError):
        tables.insert(None, "x; DROP TABLE journal", {"a": 1})
    with pytest.raises(ValueError):
        tables.insert(None, "demo", {"a) VALUES (1); DROP TABLE journal; --": 1})
    with pytest.raises(ValueError):
        tables.insert(None, "demo", {"a": 1}, row_id="id; DROP TABLE journal")


NAMES = st.one_of(
    st.text(max_size=70),
    st.from_regex(r"\A[a-z_][a-z0-9_]{0,70}\Z"),
    st.sampled_from(sorted(RESERVED_WORDS | set(STORE_TABLES))),
)


def _plain(name):
    return (
        len(name) <= 63
        and name.isidentifier()
        and name == name.lower()
        and name.isascii()
        and name not in RESERVED_WORDS
    )


def test_every_name_postgresql_reserves_is_refused(postgres_url):
    """PostgreSQL's reserved and type/function-name keywords (categories R and T) and its
    system columns are refused, so a name SQLite takes never breaks on the server."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        words = conn.execute("SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')")
        reserved = {w for (w,) in words}
    assert reserved - RESERVED_WORDS == set()
    for column in ("xmin", "xmax", "cmin", "cmax", "ctid", "tableoid"):
        with pytest.raises(ValueError, match="system column"):
            TableSpec("demo_sys", {"id": int, column: str}, "id")


@settings(max_examples=300, deadline=None)
@given(NAMES, NAMES)
def test_any_name_is_a_plain_identifier_or_refused(name, column):
    """Nothing but a plain, portable identifier reaches SQL: a spec made from any text
    either is refused or creates exactly that table and column (never runs anything
    else)."""
    assume(column != "id")
    try:
        spec = TableSpec(name, {"id": int, column: str}, "id")
    except ValueError:
        return
    assert spec.name == name and _plain(name) and _plain(column)
    with Tables.memory() as t:
        t.define(spec)
        with t.write() as conn:
            assert t.insert(conn, name, {column: "x"}) == 1
        with t.read() as conn:
            assert t.dialect.tables(conn) == {name, CATALOGUE}
            assert t.dialect.columns(conn, name) == ["id", column]


def test_open_tables_refuses_a_lost_sqlite_state(backend, state_dir):
    if backend.name != "sqlite":
        pytest.skip("the PostgreSQL case is the next test")
    with backend.open(state_dir) as store:
        store.set_control("trading_state", "paused", actor="op")
    (state_dir / "state.db").unlink()
    for name in ("state.db-wal", "state.db-shm"):
        (state_dir / name).unlink(missing_ok=True)
    with pytest.raises(StateLost, match="journal truncated") as exc:
        _open(backend, state_dir)
    assert exc.value.exit_code == 2
    assert not (state_dir / "state.db").exists()  # nothing created


def test_open_tables_refuses_a_lost_postgres_state(backend, state_dir):
    if backend.name != "postgres":
        pytest.skip("the SQLite case is the test before")
    backend.open(state_dir).close()
    conn = backend.raw(state_dir)
    key, value = conn.execute(
        "SELECT key, value FROM tradekernel_meta WHERE key LIKE '%identity%'"
    ).fetchone()
    ident = json.loads(value)
    ident["database_oid"] = int(ident["database_oid"]) + 1  # as a restored copy has
    conn.execute("UPDATE tradekernel_meta SET value = %s WHERE key = %s", (json.dumps(ident), key))
    conn.close()
    with pytest.raises(StateLost, match="identity"):
        _open(backend, state_dir)
    with pytest.raises(StateLost, match="identity"):
        backend.open(state_dir)  # exactly as the store refuses it


def test_an_anchor_ahead_of_the_database_is_refused(backend, state_dir):
    with backend.open(state_dir) as store:
        store.set_control("trading_state", "paused", actor="op")
        anchor_dir = store.state_dir
    write_anchor(anchor_dir, 999, "f" * 64)
    with pytest.raises(StateLost):
        _open(backend, state_dir)


def test_check_only_is_private_and_writes_nothing(backend, state_dir):
    with open_tables(backend.settings(state_dir), check_only=True) as t:
        assert t.name == "sqlite"
        t.define(LOG)
        with t.write() as conn:
            t.insert(conn, "demo_log", {"ts": 1.0, "who": "a"})
    assert not state_dir.exists()
    with open_tables(backend.settings(state_dir), check_only=True) as t, t.read() as conn:
        assert "demo_log" not in t.dialect.tables(conn)


def test_tables_on_an_open_store_share_its_connection(backend, state_dir):
    with backend.open(state_dir) as store:
        t = Tables(store.conn, store.dialect)
        t.define(COUNTER)
        with t.write() as conn:
            conn.execute("INSERT INTO demo_counter (name, n) VALUES ('x', 1)")
        store.set_control("trading_state", "paused", actor="op")  # still usable
        assert store.verify_journal().ok
    with _open(backend, state_dir) as t, t.read() as conn:
        assert conn.execute("SELECT n FROM demo_counter").fetchone()[0] == 1


def test_a_table_an_older_version_made_with_sqlite_utils_is_adopted(state_dir, helpers):
    """state.db's tables from before the catalogue (sqlite-utils' CREATE statements) are
    opened unchanged: same names, rows kept, ids continue, recorded once defined."""
    from tradekernel.store import Store

    Store.open(state_dir).close()
    conn = sqlite3.connect(state_dir / "state.db", isolation_level=None)
    conn.execute(
        "CREATE TABLE [demo_log] (\n   [id] INTEGER PRIMARY KEY,\n   [ts] FLOAT,\n"
        "   [who] TEXT NOT NULL,\n   [blob] BLOB\n)"
    )
    conn.execute("CREATE INDEX [idx_demo_log_who_ts] ON [demo_log] ([who], [ts])")
    conn.execute("INSERT INTO demo_log VALUES (41, 1.0, 'old', NULL)")
    conn.close()
    with open_tables(helpers.make_settings(state_dir)) as t:
        t.define(LOG)
        with t.write() as c:
            assert t.insert(c, "demo_log", {"ts": 2.0, "who": "new"}) == 42
        with t.read() as c:
            assert [tuple(r) for r in c.execute("SELECT id, who FROM demo_log ORDER BY id")] == [
                (41, "old"),
                (42, "new"),
            ]
            assert catalogue(c, t.dialect) == [LOG]
