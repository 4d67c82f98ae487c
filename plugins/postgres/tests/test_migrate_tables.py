"""``store migrate`` copies the plugins' own tables: the catalogue's, and an older
``state.db``'s tables made before the catalogue (their specs inferred from their columns)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from tradekernel.api import Settings, Store, Tables, TableSpec, open_tables, store_table_catalogue
from tradekernel.testing import invoke

LOG = TableSpec(
    "demo_log",
    {"id": int, "ts": float, "who": str, "blob": bytes},
    "id",
    indexes=[("who", "ts")],
    not_null={"who"},
)
CLAIMS = TableSpec("demo_claims", {"notifier": str, "key": str, "ts": float}, ("notifier", "key"))
OLD_TABLES = [
    # what the sqlite-utils of earlier versions created in state.db (no catalogue entry)
    """CREATE TABLE [llm_spend] (
   [id] INTEGER PRIMARY KEY,
   [ts] TEXT,
   [day] TEXT,
   [provider] TEXT,
   [model] TEXT,
   [prompt_tokens] INTEGER,
   [completion_tokens] INTEGER,
   [total_tokens] INTEGER,
   [cost_usd] FLOAT,
   [cost_source] TEXT
)""",
    "CREATE TABLE [llm_cache] ([key] TEXT PRIMARY KEY, [created] FLOAT, [response] TEXT)",
    """CREATE TABLE [notify_dedup] (
   [notifier] TEXT, [dedup_key] TEXT, [ts] FLOAT, PRIMARY KEY ([notifier], [dedup_key]))""",
    """CREATE TABLE [events] ([ts] TEXT, [date] TEXT, [run_id] TEXT, [cycle_id] TEXT,
   [stage] TEXT, [kind] TEXT, [severity] TEXT, [fields] TEXT, [schema] TEXT)""",
    "CREATE TABLE odd_numbers (id INTEGER PRIMARY KEY, amount NUMERIC)",
]


def _config(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(f'[kernel]\nstate_dir = "{tmp_path / "agent"}"\n')
    return str(path)


def _sqlite_settings(state_dir):
    path = state_dir.parent / f"{state_dir.name}.toml"
    path.write_text(f'[kernel]\nstate_dir = "{state_dir}"\n')
    return Settings.load(path, environ={})


def _pg_settings(tmp_path, url):
    path = tmp_path / "pg.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "pg-host"}"\n[components]\nstore = "postgres"\n'
        f'[store]\nurl = "{url}"\n'
    )
    return Settings.load(path, environ={})


def _fill(state_dir, *, old=True):
    """A store with a journal, two catalogued plugin tables and the older tables."""
    with Store.open(state_dir) as store:
        store.set_control("trading_state", "paused", actor="op", reason="maintenance")
    with open_tables(_sqlite_settings(state_dir)) as t:
        t.define(LOG, CLAIMS)
        with t.write() as conn:
            for i in range(5):
                t.insert(conn, "demo_log", {"ts": i + 0.5, "who": f"w{i}", "blob": bytes([i, 255])})
            conn.execute("DELETE FROM demo_log WHERE id = 2")  # a gap the copy keeps
            conn.execute("INSERT INTO demo_claims VALUES ('slack', 'k', 1.25)")
        if not old:
            return
        with t.write() as conn:
            for statement in OLD_TABLES:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO llm_spend VALUES (7, '2024-01-02T00:00:00', '2024-01-02', 'openai', "
                "'gpt', 10, 5, 15, 0.25, 'table')"
            )
            conn.execute("INSERT INTO llm_cache VALUES ('k1', 1.5, '{\"a\": 1}')")
            conn.execute("INSERT INTO notify_dedup VALUES ('slack', 'd1', 3.5)")
            for n in range(3):
                conn.execute(
                    "INSERT INTO events VALUES (?, '2024-01-02', 'r', 'c', 's', ?, 'info', '{}', "
                    "'event.v1')",
                    (f"2024-01-02T00:00:0{n}", f"kind{n}"),
                )
            conn.execute("INSERT INTO odd_numbers VALUES (1, 2.50)")


def _rows(conn, table, order):
    return [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()]


def _migrate(config, source, destination, *extra):
    return invoke(
        ["--config", config, "store", "migrate", "--from", source, "--to", destination, *extra]
    )


def test_round_trip_copies_plugin_tables_with_their_ids(tmp_path, postgres_url):
    source, back = tmp_path / "source", tmp_path / "back"
    _fill(source)
    config = _config(tmp_path)
    there = _migrate(config, f"sqlite:{source}", postgres_url, "--json")
    assert there.exit_code == 0, there.stderr
    report = json.loads(there.stdout)
    assert report["rows"]["demo_log"] == 4 and report["rows"]["demo_claims"] == 1
    assert report["rows"]["llm_spend"] == report["rows"]["llm_cache"] == 1
    assert report["rows"]["events"] == 3 and report["rows"]["notify_dedup"] == 1
    assert report["not_copied"] == [
        "odd_numbers: column 'amount' has type 'NUMERIC', not a portable one"
    ]
    home = _migrate(config, postgres_url, f"sqlite:{back}")
    assert home.exit_code == 0, home.stderr
    assert "4 demo_log" in home.stdout and "3 events" in home.stdout
    assert "not copied" not in home.stdout  # odd_numbers never reached the server

    pg = _pg_settings(tmp_path, postgres_url)
    a, b = sqlite3.connect(source / "state.db"), sqlite3.connect(back / "state.db")
    with open_tables(pg) as t, t.read() as conn:
        for table, order in [
            ("demo_log", "id"),
            ("demo_claims", "notifier"),
            ("llm_spend", "id"),
            ("llm_cache", "key"),
            ("notify_dedup", "notifier"),
        ]:
            assert _rows(a, table, order) == _rows(conn, table, order) == _rows(b, table, order)
        assert (
            _rows(a, "events", "rowid")
            == _rows(conn, "events", "ts")
            == _rows(b, "events", "rowid")
        )
        on_pg = store_table_catalogue(conn, t.dialect)
    on_back = store_table_catalogue(b, Tables(b).dialect)
    assert on_pg == on_back
    assert [s for s in on_back if s.name in ("demo_log", "demo_claims")] == [CLAIMS, LOG]
    assert {s.name for s in on_back} == {
        "demo_claims",
        "demo_log",
        "llm_cache",
        "llm_spend",
        "notify_dedup",
    }  # the older tables are recorded now; events has no primary key, so it is not
    llm = next(s for s in on_back if s.name == "llm_spend")
    assert llm.row_id == "id" and llm.columns["cost_usd"] is float

    # inserts after a migrate get fresh ids, on the server and back home
    with open_tables(pg) as t, t.write() as conn:
        assert t.insert(conn, "demo_log", {"ts": 9.0, "who": "new"}) == 6
        assert t.insert(conn, "llm_spend", {"day": "2024-01-03"}) == 8
    with open_tables(_sqlite_settings(back)) as t, t.write() as conn:
        assert t.insert(conn, "demo_log", {"ts": 9.0, "who": "new"}) == 6
    with Store.open(back, create=False) as store:
        assert store.verify_journal().ok
    journal = invoke(["--config", str(back.parent / "back.toml"), "journal", "verify"])
    assert journal.exit_code == 0, journal.stderr


def test_a_destination_whose_plugin_tables_hold_rows_is_refused(tmp_path, postgres_url):
    source = tmp_path / "source"
    _fill(source, old=False)
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t:  # a plugin wrote there first
        t.define(CLAIMS)
        with t.write() as conn:
            conn.execute("INSERT INTO demo_claims VALUES ('x', 'y', 1.0)")
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 3
    assert "holds state already (demo_claims)" in result.stderr
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t, t.read() as conn:
        assert "demo_log" not in t.dialect.tables(conn)
        assert conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 0


def test_empty_plugin_tables_at_the_destination_are_filled(tmp_path, postgres_url):
    source = tmp_path / "source"
    _fill(source, old=False)
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t:
        t.define(TableSpec("demo_log", {"id": int, "ts": float}, "id"))  # older, empty
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows"]["demo_log"] == 4


def test_a_damaged_source_catalogue_copies_nothing(tmp_path, postgres_url):
    source = tmp_path / "source"
    _fill(source, old=False)
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute("UPDATE tradekernel_tables SET spec = '{' WHERE name = 'demo_log'")
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 4
    assert "the entry of 'demo_log' is damaged" in result.stderr
    assert "nothing was copied" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_rows_the_server_cannot_take_roll_the_copy_back(tmp_path, postgres_url):
    """SQLite keeps text in an INTEGER column; PostgreSQL will not: the whole copy is
    rolled back with one line naming the table."""
    source = tmp_path / "source"
    _fill(source, old=False)
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute("UPDATE demo_log SET ts = 'not a number' WHERE id = 3")
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 4, result.stderr
    assert "demo_log.ts: row id 3 holds a str where the column is float" in result.stderr
    assert "nothing was copied" in result.stderr
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t, t.read() as conn:
        assert conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 0
        assert "demo_log" not in t.dialect.tables(conn)


@pytest.mark.parametrize(
    "create",
    [
        "CREATE TABLE [Mixed_Case] ([id] INTEGER PRIMARY KEY, [v] TEXT)",
        "CREATE TABLE [weird] ([id] INTEGER PRIMARY KEY, [select] TEXT)",
        "CREATE TABLE [untyped] ([id] INTEGER PRIMARY KEY, [v])",
        "CREATE TABLE [a b); DROP TABLE journal; --] ([id] INTEGER PRIMARY KEY)",
    ],
)
def test_an_older_table_that_is_not_portable_is_listed_not_copied(tmp_path, postgres_url, create):
    source = tmp_path / "source"
    _fill(source, old=False)
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute(create)
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 0, result.stderr
    name = create.split("[")[1].split("]")[0]
    lines = [line for line in result.stdout.splitlines() if line.startswith("not copied: ")]
    assert len(lines) == 1 and lines[0].startswith(f"not copied: {name}: ")


def test_a_server_tables_spec_is_inferred_from_its_columns(tmp_path, postgres_url):
    import psycopg

    source = tmp_path / "source"
    _fill(source, old=False)
    config = _config(tmp_path)
    assert _migrate(config, f"sqlite:{source}", postgres_url).exit_code == 0
    with psycopg.connect(postgres_url, autocommit=True) as pg:  # made by hand on the server
        pg.execute(
            "CREATE TABLE extra_pairs (k text, n integer NOT NULL, w double precision, "
            "b bytea, PRIMARY KEY (n, k))"
        )
        pg.execute("INSERT INTO extra_pairs VALUES ('a', 2, 0.5, '\\x00ff'), ('b', 1, NULL, NULL)")
        pg.execute("CREATE TABLE extra_money (id bigint PRIMARY KEY, amount numeric)")
    back = tmp_path / "back"
    result = _migrate(config, postgres_url, f"sqlite:{back}", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"]["extra_pairs"] == 2
    assert report["not_copied"] == [
        "extra_money: column 'amount' has type 'numeric', not a portable one"
    ]
    b = sqlite3.connect(back / "state.db")
    assert _rows(b, "extra_pairs", "n") == [("b", 1, None, None), ("a", 2, 0.5, b"\x00\xff")]
    spec = next(s for s in store_table_catalogue(b, Tables(b).dialect) if s.name == "extra_pairs")
    assert spec.pk == ("n", "k") and spec.not_null == frozenset()  # n: the key
    assert spec.columns == {"k": str, "n": int, "w": float, "b": bytes}


def test_a_column_added_by_hand_beyond_the_spec_is_reported(tmp_path, postgres_url):
    source = tmp_path / "source"
    _fill(source, old=False)
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute("ALTER TABLE demo_claims ADD COLUMN price NUMERIC")
        conn.execute("ALTER TABLE demo_log ADD COLUMN note TEXT")  # portable: copied
        conn.execute("UPDATE demo_log SET note = 'kept' WHERE id = 1")
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["not_copied"] == [
        "demo_claims: only the catalogued columns are copied (column 'price' has type "
        "'NUMERIC', not a portable one)"
    ]
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t, t.read() as conn:
        assert conn.execute("SELECT note FROM demo_log WHERE id = 1").fetchone()[0] == "kept"
        spec = next(s for s in store_table_catalogue(conn, t.dialect) if s.name == "demo_log")
        assert list(spec.columns) == [*LOG.columns, "note"]


@pytest.mark.parametrize("to", ["postgres", "sqlite"])
def test_a_not_null_column_a_later_version_added_is_copied(tmp_path, postgres_url, to):
    source = tmp_path / "source"
    _fill(source, old=False)
    v1 = TableSpec("demo_notes", {"id": int, "who": str}, "id")
    v2 = TableSpec(
        "demo_notes", {"id": int, "who": str, "channel": str}, "id", not_null={"channel"}
    )
    for spec, row in ((v1, {"who": "old"}), (v2, {"who": "new", "channel": "slack"})):
        with open_tables(_sqlite_settings(source)) as t:
            t.define(spec)
            with t.write() as conn:
                t.insert(conn, "demo_notes", row)
    with open_tables(_sqlite_settings(source)) as t, t.write() as conn:
        # what an older catalogue recorded: NOT NULL the table never enforced
        conn.execute(
            "UPDATE tradekernel_tables SET spec = ? WHERE name = ?", (v2.as_json(), v2.name)
        )
    target = postgres_url if to == "postgres" else f"sqlite:{tmp_path / 'copy'}"
    result = _migrate(_config(tmp_path), f"sqlite:{source}", target)
    assert result.exit_code == 0, result.stderr


def test_a_catalogue_recording_another_type_or_key_is_copied_as_the_table_is(
    tmp_path, postgres_url
):
    source = tmp_path / "source"
    _fill(source, old=False)
    v1 = TableSpec("demo_dedup", {"notifier": str, "key": str, "size": str}, ("notifier", "key"))
    with open_tables(_sqlite_settings(source)) as t:
        t.define(v1)
        with t.write() as conn:
            conn.execute("INSERT INTO demo_dedup VALUES ('slack', 'k', 'large')")
            conn.execute("INSERT INTO demo_dedup VALUES ('email', 'k', 'small')")
            # what an older version recorded over it: another type and a narrower key
            wrong = TableSpec("demo_dedup", {"notifier": str, "key": str, "size": int}, "key")
            conn.execute(
                "UPDATE tradekernel_tables SET spec = ? WHERE name = ?",
                (wrong.as_json(), "demo_dedup"),
            )
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 0, result.stderr
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t, t.read() as conn:
        recorded = {s.name: s for s in store_table_catalogue(conn, t.dialect)}
        assert recorded["demo_dedup"] == v1
        rows = conn.execute("SELECT notifier, key, size FROM demo_dedup ORDER BY notifier")
        assert [tuple(r) for r in rows] == [("email", "k", "small"), ("slack", "k", "large")]


def test_a_table_with_a_postgres_system_column_name_is_listed_not_copied(tmp_path, postgres_url):
    source = tmp_path / "source"
    _fill(source, old=False)
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute("CREATE TABLE old_marks (id INTEGER PRIMARY KEY, xmin TEXT)")
        conn.execute("INSERT INTO old_marks VALUES (1, 'a')")
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url, "--json")
    assert result.exit_code == 0, result.stderr
    (line,) = json.loads(result.stdout)["not_copied"]
    assert line.startswith("old_marks: not a portable table") and "system column" in line


def _catalogue_entry(source, name, spec_text):
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute("INSERT INTO tradekernel_tables VALUES (?, ?)", (name, spec_text))


@pytest.mark.parametrize("damage", ["utf8", "nested", "wide"])
def test_damaged_source_content_is_a_clean_gate_failure(tmp_path, postgres_url, damage):
    source = tmp_path / "source"
    _fill(source, old=False)
    if damage == "utf8":
        with sqlite3.connect(source / "state.db") as conn:
            conn.execute("CREATE TABLE old_notes (id INTEGER PRIMARY KEY, body TEXT)")
            conn.execute("INSERT INTO old_notes VALUES (1, CAST(X'66FF6F' AS TEXT))")
    elif damage == "nested":
        _catalogue_entry(source, "demo_evil", "[" * 200_000)
    else:
        columns = {"id": "int", **{f"c{i}": "str" for i in range(1700)}}
        _catalogue_entry(source, "demo_wide", json.dumps({"columns": columns, "pk": ["id"]}))
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 4, result.stderr
    assert "unexpected" not in result.stderr and result.stderr.count("\n") == 1
    assert "nothing was copied" in result.stderr and "\ufffd" not in result.stderr
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t, t.read() as conn:
        assert conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 0


def test_a_key_too_large_for_the_servers_index_is_a_gate_failure(tmp_path, postgres_url):
    import random

    source = tmp_path / "source"
    _fill(source, old=False)
    rng = random.Random(7)
    big = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(20_000))
    with open_tables(_sqlite_settings(source)) as t, t.write() as conn:
        conn.execute("INSERT INTO demo_claims VALUES ('slack', ?, 2.0)", (big,))
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 4, result.stderr
    assert "lost the connection" not in result.stderr and "index row" in result.stderr
    assert big[:50] not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("declared", "value", "holds"),
    [("INTEGER", 1.5, "float"), ("BLOB", "abc", "str"), ("TEXT", b"\x00", "bytes")],
)
def test_a_value_the_destination_would_change_rolls_the_copy_back(
    tmp_path, postgres_url, declared, value, holds
):
    source = tmp_path / "source"
    _fill(source, old=False)
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute(f"CREATE TABLE old_values (id INTEGER PRIMARY KEY, v {declared})")
        conn.execute("INSERT INTO old_values VALUES (3, ?)", (value,))
    result = _migrate(_config(tmp_path), f"sqlite:{source}", postgres_url)
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith(f"Error: old_values.v: row id 3 holds a {holds} where")
    assert "nothing was copied" in result.stderr
    with open_tables(_pg_settings(tmp_path, postgres_url)) as t, t.read() as conn:
        assert "old_values" not in t.dialect.tables(conn)


def test_a_postgres_source_is_read_a_batch_at_a_time(tmp_path, postgres_url, monkeypatch):
    from tradekernel.api import open_store
    from tradekernel_postgres import migrate_tables

    monkeypatch.setattr(migrate_tables, "BATCH", 100)
    settings = _pg_settings(tmp_path, postgres_url)
    with open_tables(settings) as t:
        t.define(TableSpec("demo_events", {"id": int, "x": str}, "id"))
        with t.write() as conn:
            conn.execute("INSERT INTO demo_events (x) SELECT 'row' FROM generate_series(1, 250)")
    with open_store(settings) as store:
        store.conn.execute("BEGIN")  # the source's snapshot, as migrate reads it
        sizes = []
        for batch in migrate_tables.batches(store, "SELECT id, x FROM demo_events ORDER BY id"):
            sizes.append(len(batch))
            held = store.conn.raw.execute(
                "SELECT count(*) FROM pg_cursors WHERE name = %s", (migrate_tables.CURSOR,)
            ).fetchone()[0]
            assert held == 1  # read through the server's cursor, not fetched whole
        store.conn.execute("COMMIT")
    assert sizes == [100, 100, 50]
