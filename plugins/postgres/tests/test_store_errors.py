"""The postgres store's errors: a writer that waits for the lock gives up within the lock
timeout naming the holder (the kill switch never waits forever), a timeout is a timeout,
a server that is down is never taken for refused credentials, and no secret of the
address (password, sslpassword, options) appears in any message."""

from __future__ import annotations

import psycopg
import pytest
from tradekernel.testing import invoke
from tradekernel_postgres import connection
from tradekernel_postgres.connection import STORE_LOCK_KEY


def _config(tmp_path, url=None, name="plugins.toml", state="state"):
    lines = ["[kernel]", f'state_dir = "{tmp_path / state}"', "[components]", 'store = "postgres"']
    if url is not None:
        lines += ["[store]", f'url = "{url}"']
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_the_kill_switch_gives_up_behind_a_frozen_writer_naming_it(
    tmp_path, postgres_url, monkeypatch
):
    monkeypatch.setattr(connection, "LOCK_TIMEOUT_S", 0.3)
    config = _config(tmp_path, postgres_url)
    assert invoke(["--config", config, "control", "resume"]).exit_code == 0
    with psycopg.connect(postgres_url) as stuck:  # frozen mid-transaction, holding the lock
        stuck.execute("SELECT pg_advisory_xact_lock(%s)", (STORE_LOCK_KEY,))
        pid = stuck.info.backend_pid
        result = invoke(["--config", config, "control", "kill-switch", "on", "--reason", "stop"])
    assert result.exit_code == 1, result.stderr
    # this command's own output (a lease an earlier test left releasing in the background
    # of this process may log meanwhile: not this command's)
    own = [t for t in result.stderr.splitlines() if "lease release failed" not in t]
    assert len(own) == 1, result.stderr
    line = own[0]
    assert "timed out waiting for the store's write lock" in line
    assert f"held by server pid {pid}" in line
    assert "lost the connection" not in line and "unexpected" not in line
    engaged = invoke(["--config", config, "control", "kill-switch", "on", "--reason", "stop"])
    assert engaged.exit_code == 0, engaged.stderr  # the holder gone: it gets through


def test_the_store_sessions_bound_every_wait(postgres_url):
    conn = connection.connect(postgres_url)
    try:
        lock = conn.execute("SHOW lock_timeout").fetchone()[0]
        idle = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0]
    finally:
        conn.close()
    assert lock == "30s" and idle == "1min"
    own = connection.connect(postgres_url + "&options=-c%20lock_timeout%3D200")
    try:
        assert own.execute("SHOW lock_timeout").fetchone()[0] == "200ms"  # the server's wins
    finally:
        own.close()


def test_a_statement_timeout_is_reported_as_a_timeout(tmp_path, postgres_url):
    config = _config(tmp_path)
    env = {"TK_STORE_URL": postgres_url}
    assert invoke(["--config", config, "control", "pause"], env=env).exit_code == 0
    url = postgres_url + "&options=-c%20statement_timeout%3D200"
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (STORE_LOCK_KEY,))
        result = invoke(["--config", config, "control", "resume"], env={"TK_STORE_URL": url})
    assert result.exit_code == 1, result.stderr
    assert "statement timeout" in result.stderr, result.stderr
    assert "held by server pid" in result.stderr
    assert "lost the connection" not in result.stderr


@pytest.mark.parametrize("word", ["roles", "password", "authentication", "does-not-exist"])
def test_a_server_that_is_down_is_unreachable_whatever_its_path_says(tmp_path, word):
    sock = tmp_path / f"pg-{word}"
    sock.mkdir()
    config = _config(tmp_path, f"postgresql://agent@/tk?host={sock}&port=5999")
    result = invoke(["--config", config, "control", "pause"])
    assert result.exit_code == 1, result.stderr
    assert "cannot reach" in result.stderr


def test_an_unknown_database_is_a_config_error(tmp_path, postgres_server):
    config = _config(tmp_path, postgres_server.url("no_such_database_here"))
    result = invoke(["--config", config, "control", "pause"])
    assert result.exit_code == 2, result.stderr
    assert "refused the connection" in result.stderr


def test_sslpassword_and_options_never_shown(tmp_path):
    secret = "Sup3rSslKeyPassphrase"
    url = (
        f"postgresql://agent@/tk?host={tmp_path / 'nowhere'}&port=5999"
        f"&sslpassword={secret}&options=-c%20app.k%3D{secret}x"
    )
    result = invoke(["--config", _config(tmp_path, url), "control", "pause"])
    assert result.exit_code == 1
    assert secret not in result.stderr + result.stdout
    assert "sslpassword=********" in result.stderr


def test_migrate_never_shows_the_from_password(tmp_path, postgres_url):
    env = {"TK_STORE_URL": postgres_url}
    assert invoke(["--config", _config(tmp_path), "control", "pause"], env=env).exit_code == 0
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE journal DISABLE TRIGGER USER")
        conn.execute("UPDATE journal SET reason = 'rewritten'")
    secret = "S3cretMigratePw"
    source = postgres_url.replace("postgres@", f"postgres:{secret}@")
    assert source != postgres_url
    other = tmp_path / "other.toml"
    other.write_text(f'[kernel]\nstate_dir = "{tmp_path / "elsewhere"}"\n')
    result = invoke(
        [
            "--config",
            str(other),
            "store",
            "migrate",
            "--from",
            source,
            "--to",
            f"sqlite:{tmp_path / 'copy'}",
        ]
    )
    assert result.exit_code == 4, result.stderr
    assert "does not verify" in result.stderr
    assert secret not in result.stdout + result.stderr


def test_a_search_path_without_a_schema_is_a_config_error(tmp_path, postgres_url):
    url = postgres_url + "&options=-csearch_path%3Dnope"
    config = _config(tmp_path, url)
    listed = invoke(["--config", config, "intents", "list"])
    assert listed.exit_code == 0, listed.stderr  # no state there yet: no intents
    paused = invoke(["--config", config, "control", "pause"])
    assert paused.exit_code == 2, paused.stderr
    assert "search_path" in paused.stderr and "unexpected" not in paused.stderr


def test_a_server_limit_is_not_a_lost_connection(postgres_url):
    """A key too large for its index is the server's limit (retrying never helps), not
    the connection lost; a terminated session still is."""
    import random
    import sqlite3

    conn = connection.connect(postgres_url)
    try:
        conn.execute("CREATE TABLE demo_keys (k TEXT PRIMARY KEY)")
        rng = random.Random(7)  # random text: too large for the index even compressed
        big = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(20_000))
        with pytest.raises(sqlite3.DatabaseError) as exc:
            conn.execute("INSERT INTO demo_keys VALUES (?)", (big,))
        assert "index row" in str(exc.value) and "lost the connection" not in str(exc.value)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.raw.info.backend_pid,))
        with pytest.raises(connection.StoreUnreachable):
            conn.execute("INSERT INTO demo_keys VALUES ('a')")
    finally:
        conn.close()


def test_a_write_on_a_read_only_store_says_so_not_grant(tmp_path, postgres_url):
    from tradekernel.api import Settings, StateUnusable, Tables, TableSpec, open_store
    from tradekernel_postgres.store import open_postgres

    settings = Settings.load(_config(tmp_path, postgres_url), environ={})
    with open_store(settings) as store:
        store.set_control("trading_state", "paused", actor="op", reason="setup")
    with open_postgres(settings, read_only=True) as store, pytest.raises(StateUnusable) as exc:
        Tables(store.conn, store.dialect).define(TableSpec("demo_ro", {"id": int}, "id"))
    assert "opened read-only" in str(exc.value) and "grant" not in str(exc.value)
