"""``store migrate``: SQLite to PostgreSQL and back, the journal byte for byte."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import Fill, GuardVerdict, Intent, Order, Settings, Store
from tradekernel.testing import invoke

AS_OF = datetime(2024, 1, 2, 15, 30, tzinfo=UTC)
TABLES = ("intents", "journal", "control", "orders", "fills", "unknown_orders", "strategy_shares")


def _fill_store(state_dir):
    """A store with something in every table."""
    with Store.open(state_dir) as store:
        ids = []
        for n in range(5):
            intent = Intent.create(
                symbol="AAA", side="buy", quantity=n + 1, as_of=AS_OF + timedelta(minutes=n)
            )
            store.add_intent(intent, cycle_id="c", broker="paper", ref_price=Decimal("10.5"))
            store.transition(
                intent.id,
                "pending_approval",
                actor="guards",
                verdicts=[GuardVerdict.allowed("max_notional")],
            )
            ids.append(intent.id)
        store.transition(ids[0], "approved", actor="op", reason="looks fine ✓")
        store.transition(ids[0], "executing", expected_from="approved", actor="exec")
        coid = store.get(ids[0]).client_order_id
        store.upsert_order(Order(coid, "AAA", "buy", 1, "filled", filled_quantity=1))
        store.transition(ids[0], "submitted", actor="exec", broker_order_id="B-1")
        store.record_fill(Fill("f-1", coid, "AAA", "buy", 1, "10.25", ts=AS_OF))
        store.mark_order_unknown("tk-gone")
        store.set_control("trading_state", "paused", actor="op", reason="maintenance")
        from tradekernel.api import Share

        shares = [Share("a", "s1", Decimal(2)), Share("b", "s2", Decimal(-1))]
        store.record_conflict(
            "cfl", cycle_id="c", payload={"policy": "net"}, shares=shares, netted_id=ids[1]
        )
    return ids


def _dump(conn, table):
    order = {"journal": "seq"}.get(table, "1")
    cols = [c for c in _cols(conn, table) if c != "rowid"]
    rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}").fetchall()
    return sorted(tuple(r) for r in rows) if table != "journal" else [tuple(r) for r in rows]


def _cols(conn, table):
    if isinstance(conn, sqlite3.Connection):
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def _config(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(f'[kernel]\nstate_dir = "{tmp_path / "agent"}"\n')
    return str(path)


def test_round_trip_sqlite_postgres_sqlite_keeps_everything(tmp_path, postgres_url):
    import psycopg

    source, back = tmp_path / "source", tmp_path / "back"
    _fill_store(source)
    config = _config(tmp_path)
    there = invoke(
        [
            "--config",
            config,
            "store",
            "migrate",
            "--from",
            f"sqlite:{source}",
            "--to",
            postgres_url,
            "--json",
        ]
    )
    assert there.exit_code == 0, there.stderr
    report = json.loads(there.stdout)
    assert report["rows"]["journal"] == report["journal_head"]["seq"] > 10
    assert report["verified"] is True
    home = invoke(
        [
            "--config",
            config,
            "store",
            "migrate",
            "--from",
            postgres_url,
            "--to",
            f"sqlite:{back / 'state.db'}",
        ]
    )
    assert home.exit_code == 0, home.stderr
    a = sqlite3.connect(source / "state.db")
    b = sqlite3.connect(back / "state.db")
    with psycopg.connect(postgres_url) as pg:
        for table in TABLES:
            assert _dump(a, table) == _dump(pg, table) == _dump(b, table), table
    with Store.open(back, create=False) as store:
        assert store.verify_journal().ok
        assert [s.intent_id for s in store.shares(store.netted_intents("a")[0])] == ["s1", "s2"]
    # the copy is usable as the agent's store
    settings = Settings.load(config, environ={"TK_STORE_URL": postgres_url})
    assert settings.store.url == postgres_url


def test_a_destination_holding_state_is_refused(tmp_path, postgres_url):
    source = tmp_path / "source"
    _fill_store(source)
    config = _config(tmp_path)
    args = ["--config", config, "store", "migrate", "--from", f"sqlite:{source}", "--to"]
    assert invoke([*args, postgres_url]).exit_code == 0
    again = invoke([*args, postgres_url])
    assert again.exit_code == 3
    assert "holds state already" in again.stderr


def test_a_source_whose_journal_does_not_verify_is_not_copied(tmp_path, postgres_url):
    import psycopg

    source = tmp_path / "source"
    _fill_store(source)
    with sqlite3.connect(source / "state.db") as conn:
        conn.execute("UPDATE journal SET actor = 'mallory' WHERE seq = 3")
    config = _config(tmp_path)
    result = invoke(
        ["--config", config, "store", "migrate", "--from", f"sqlite:{source}", "--to", postgres_url]
    )
    assert result.exit_code == 4
    assert "does not verify" in result.stderr
    with psycopg.connect(postgres_url) as pg:
        tables = pg.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone()[0] == 0  # nothing created on the server


@pytest.mark.parametrize("bad", ["mysql://x/y", "file.db"])
def test_a_bad_address_is_a_usage_error(tmp_path, bad):
    result = invoke(
        ["--config", _config(tmp_path), "store", "migrate", "--from", bad, "--to", "sqlite:/tmp/x"]
    )
    assert result.exit_code == 2
    assert "--from" in result.stderr


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_address_is_parsed_or_refused_as_a_usage_error(text):
    from tradekernel.api import ConfigError
    from tradekernel_postgres.migrate import parse_address

    try:
        kind, where = parse_address(text, "--from")
    except ConfigError as exc:
        assert str(exc).startswith("--from: ")
        return
    assert kind in ("sqlite", "postgres") and where


def _pg_settings(tmp_path, url):
    path = tmp_path / "plugins.toml"
    path.write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n[store]\nurl = "{url}"\n')
    return Settings.load(path, environ={})


def _pg_counts(url):
    import psycopg

    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_an_agent_writing_during_the_copy_gets_one_consistent_snapshot(
    tmp_path, postgres_url, monkeypatch
):
    """The source is read in one snapshot: a write landing mid-copy is not in the copy,
    and the copy matches the head that was verified."""
    from tradekernel_postgres import migrate as m

    src_dir = tmp_path / "src"
    _fill_store(src_dir)
    with Store.open(src_dir, read_only=True) as store:
        head = store.journal_head()
    real, wrote = m._columns, []

    def columns(store, table):  # the agent writes while the copy runs
        if table == "journal" and not wrote:
            wrote.append(1)
            with Store.open(src_dir) as other:
                other.set_control("trading_state", "running", actor="agent")
        return real(store, table)

    monkeypatch.setattr(m, "_columns", columns)
    copied = m.migrate(f"sqlite:{src_dir}", postgres_url, _pg_settings(tmp_path, postgres_url))
    assert wrote and (copied.head_seq, copied.head_hash) == head
    assert _pg_counts(postgres_url)["journal"] == head[0]


def test_a_copy_that_does_not_verify_leaves_the_destination_empty(
    tmp_path, postgres_url, monkeypatch
):
    from tradekernel.api import GateFailed, VerifyResult
    from tradekernel_postgres import migrate as m
    from tradekernel_postgres.store import PostgresStore

    src_dir = tmp_path / "src"
    _fill_store(src_dir)
    real = Store.verify_journal

    def verify(self):  # the destination's check fails (a damaged copy)
        if isinstance(self, PostgresStore):
            return VerifyResult(False, 0, first_bad_seq=1, problem="damaged in transit")
        return real(self)

    monkeypatch.setattr(Store, "verify_journal", verify)
    with pytest.raises(GateFailed, match=r"damaged in transit.*rolled back"):
        m.migrate(f"sqlite:{src_dir}", postgres_url, _pg_settings(tmp_path, postgres_url))
    assert set(_pg_counts(postgres_url).values()) == {0}
    monkeypatch.setattr(Store, "verify_journal", real)  # and it can simply run again
    m.migrate(f"sqlite:{src_dir}", postgres_url, _pg_settings(tmp_path, postgres_url))
    assert _pg_counts(postgres_url)["intents"] == 5


@pytest.mark.parametrize("flag", ["--from", "--to"])
def test_a_sqlite_address_naming_another_db_file_is_a_usage_error(tmp_path, flag):
    from tradekernel_postgres.migrate import parse_address

    assert parse_address(f"sqlite:{tmp_path / 'state.db'}", flag) == ("sqlite", str(tmp_path))
    (tmp_path / "dir.db").mkdir()  # a state directory whose name ends in .db
    assert parse_address(f"sqlite:{tmp_path / 'dir.db'}", flag) == (
        "sqlite",
        str(tmp_path / "dir.db"),
    )
    other = f"sqlite:{tmp_path / 'copy.db'}"
    source, destination = (
        (other, f"sqlite:{tmp_path / 'b'}")
        if flag == "--from"
        else (
            f"sqlite:{tmp_path / 'a'}",
            other,
        )
    )
    config = tmp_path / "plugins.toml"
    config.write_text(f'[kernel]\nstate_dir = "{tmp_path / "agent"}"\n')
    result = invoke(
        ["--config", str(config), "store", "migrate", "--from", source, "--to", destination]
    )
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"Error: {flag}: sqlite:PATH names a state directory")
    assert not (tmp_path / "state.db").exists()
