"""The commands on the postgres store: selection, the operator's commands, the one-line
errors of a server that is down or refuses the credentials, psycopg kept out of the rest."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from tradekernel.testing import invoke, modules_imported_by


def _config(tmp_path, url=None, store="postgres"):
    lines = [
        "[kernel]",
        f'state_dir = "{tmp_path / "state"}"',
        "[components]",
        f'store = "{store}"',
    ]
    if url is not None:
        lines += ["[store]", f'url = "{url}"']
    path = tmp_path / "plugins.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_operator_commands_work_on_the_postgres_store(tmp_path, postgres_url):
    config = _config(tmp_path)
    env = {"TK_STORE_URL": postgres_url}
    paused = invoke(["--config", config, "control", "pause", "--reason", "maint"], env=env)
    assert paused.exit_code == 0, paused.stderr
    verified = invoke(["--config", config, "journal", "verify"], env=env)
    assert verified.exit_code == 0, verified.stderr + verified.stdout
    listed = invoke(["--config", config, "intents", "list"], env=env)
    assert listed.exit_code == 0, listed.stderr
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT entity FROM journal").fetchall()
    assert rows and rows[0][0].startswith("control:")
    local = tmp_path / "state" / "state.db"  # what stays local: the notification log
    if local.exists():
        with sqlite3.connect(local) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "journal" not in tables and "intents" not in tables
    assert list((tmp_path / "state" / "postgres").glob("*/journal.anchor"))


def test_a_tampered_journal_on_the_server_fails_verify(tmp_path, postgres_url):
    config = _config(tmp_path, postgres_url)
    assert invoke(["--config", config, "control", "pause", "--reason", "x"]).exit_code == 0
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE journal DISABLE TRIGGER USER")
        conn.execute("UPDATE journal SET reason = 'rewritten'")
    result = invoke(["--config", config, "journal", "verify"])
    assert result.exit_code == 4


def test_a_server_that_is_down_is_one_line_exit_1_without_the_password(tmp_path):
    url = f"postgresql://agent:s3cretpassw0rd@/tk?host={tmp_path / 'nowhere'}&port=5999"
    config = _config(tmp_path, url)
    result = invoke(["--config", config, "control", "pause", "--reason", "x"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the PostgreSQL server" in lines[0]
    assert "s3cretpassw0rd" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_refused_credentials_are_a_config_error(tmp_path, postgres_server):
    url = postgres_server.url("no_such_database")
    result = invoke(["--config", _config(tmp_path, url), "intents", "list"])
    assert result.exit_code == 2
    assert "[store] url" in result.stderr and "refused the connection" in result.stderr


@pytest.mark.parametrize(
    "url, problem",
    [
        ("mysql://u@h/db", "expected a postgresql://"),
        ("postgresql://u:pw@h:99999/db", "bad port"),
        ("postgresql://u:pw@h/", "names no database"),
    ],
)
def test_a_bad_store_url_is_a_config_error_naming_the_key(tmp_path, url, problem):
    result = invoke(["--config", _config(tmp_path, url), "intents", "list"])
    assert result.exit_code == 2
    assert "[store] url" in result.stderr and problem in result.stderr
    assert "pw@" not in result.stderr


def test_no_url_is_a_config_error(tmp_path):
    result = invoke(["--config", _config(tmp_path), "intents", "list"], env={"TK_STORE_URL": None})
    assert result.exit_code == 2
    assert "[store] url: not set" in result.stderr


def test_the_store_url_password_is_a_secret(tmp_path):
    from tradekernel.api import Settings

    url = "postgresql://agent:Very-Secret-Pw-42@db.example/tk?sslmode=require"
    settings = Settings.load(_config(tmp_path), environ={"TK_STORE_URL": url})
    assert settings.store.url == url
    assert settings.sources[("store", "url")] == "env:TK_STORE_URL"
    assert "Very-Secret-Pw-42" not in settings.redact(f"connecting to {url} failed")
    query = "postgresql://agent@db.example/tk?password=Query-Secret-99"
    settings = Settings.load(_config(tmp_path, query), environ={})
    assert "Query-Secret-99" not in settings.redact(f"url {query}")


def test_help_and_sqlite_commands_never_import_psycopg(tmp_path):
    _config(tmp_path, store="sqlite")
    for args in (["--help"], ["--config", "plugins.toml", "intents", "list"]):
        assert not any(m.split(".")[0] == "psycopg" for m in modules_imported_by(args, tmp_path))


def test_run_trades_on_the_postgres_store(tmp_path, postgres_url):
    """An agent's cycles on the server store: intents proposed, approved, submitted and
    filled by the paper broker, every step journaled there and verified."""
    state = tmp_path / "state"
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{state}"\napproval_mode = "auto"\n'
        '[components]\nstore = "postgres"\nstrategist = "sma-cross"\nguards = []\n'
        "metrics_sinks = []\nnotifiers = []\n"
        '[runtime]\nwatchlist = ["AAA"]\nskill_timeout = "0s"\n'
        '[market_data.synthetic]\nsymbols = ["AAA"]\nbars = 400\n'
    )
    env = {"TK_STORE_URL": postgres_url}
    result = invoke(["--config", str(path), "run", "--cycles", "60"], env=env)
    assert result.exit_code == 0, result.stderr
    with psycopg.connect(postgres_url) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM intents GROUP BY state"))
        fills = conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert states.get("submitted", 0) >= 1 and fills >= 1, states
    verified = invoke(["--config", str(path), "journal", "verify", "--json"], env=env)
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def test_a_dropped_connection_is_replaced_between_transactions(tmp_path, postgres_url):
    """The server dropped the agent's connection (a restart, a failover): the next
    transaction, or read outside one, runs on a new connection."""
    from tradekernel.api import Settings, open_store

    settings = Settings.load(_config(tmp_path, postgres_url), environ={})
    with open_store(settings) as store, psycopg.connect(postgres_url, autocommit=True) as admin:

        def cut() -> None:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

        store.set_control("a", 1, actor="op")
        cut()
        store.set_control("a", 2, actor="op")  # BEGIN again, on a new connection
        cut()
        assert store.get_control("a") == 2  # a read outside a transaction, likewise
        assert store.verify_journal().ok
