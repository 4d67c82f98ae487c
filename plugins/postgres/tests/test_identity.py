"""A restored, copied, re-created or failed-over database is refused on every host (writers
exit 2, `journal verify` fails) until an operator accepts it (journaled); a migrate to
another server is judged by that server's own anchor, never by this host's."""

from __future__ import annotations

import json

import psycopg
import pytest
from tradekernel.api import Settings, StateLost
from tradekernel.testing import invoke
from tradekernel_postgres import identity
from tradekernel_postgres.store import open_postgres


def _config(tmp_path, url, name="plugins.toml", state="state"):
    lines = ["[kernel]", f'state_dir = "{tmp_path / state}"', "[components]", 'store = "postgres"']
    lines += ["[store]", f'url = "{url}"']
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _dbname(url):
    return url.split("/")[3].split("?")[0]


def _restore_from(server, url, backup):
    """Drop the database behind ``url`` and re-create it from ``backup`` (a restore)."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {_dbname(url)} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {_dbname(url)} TEMPLATE {backup}")


def test_a_restored_database_is_refused_on_every_host_until_accepted(
    tmp_path, postgres_server, postgres_url
):
    host_a = _config(tmp_path, postgres_url, name="a.toml", state="a")
    host_b = _config(tmp_path, postgres_url, name="b.toml", state="b")
    host_c = _config(tmp_path, postgres_url, name="c.toml", state="c")  # a new host
    assert invoke(["--config", host_a, "control", "pause", "--reason", "a"]).exit_code == 0
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:  # the backup
        conn.execute(f"CREATE DATABASE nightly TEMPLATE {_dbname(postgres_url)}")
    assert invoke(["--config", host_b, "control", "resume", "--reason", "b"]).exit_code == 0
    assert invoke(["--config", host_b, "control", "pause", "--reason", "b2"]).exit_code == 0
    _restore_from(postgres_server, postgres_url, "nightly")

    for host in (host_a, host_b, host_c):
        verify = invoke(["--config", host, "journal", "verify"])
        assert verify.exit_code == 4, (host, verify.stdout, verify.stderr)
        assert "identity changed" in verify.stdout + verify.stderr
        write = invoke(["--config", host, "control", "resume", "--reason", "after"])
        assert write.exit_code == 2, (host, write.stderr)
        assert "database OID" in write.stderr and "store accept-identity" in write.stderr
        assert len(write.stderr.strip().splitlines()) == 1

    accepted = invoke(
        [
            "--config",
            host_a,
            "store",
            "accept-identity",
            "--by",
            "ops",
            "--reason",
            "restored nightly backup; reconciled with the broker",
            "--json",
        ]
    )
    assert accepted.exit_code == 0, accepted.stderr
    done = json.loads(accepted.stdout)
    assert done["previous"]["database_oid"] != done["identity"]["database_oid"]
    assert invoke(["--config", host_a, "journal", "verify"]).exit_code == 0
    assert invoke(["--config", host_c, "control", "resume", "--reason", "c"]).exit_code == 0
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT actor, reason FROM journal WHERE entity = 'control:store_identity'"
        ).fetchone()
    assert row == ("ops", "restored nightly backup; reconciled with the broker")
    # host B saw rows the restore lost: its anchor still refuses, until it accepts too
    refused = invoke(["--config", host_b, "control", "pause", "--reason", "b3"])
    assert refused.exit_code == 2 and "rolled back" in refused.stderr
    assert "store accept-identity" in refused.stderr and "remove" not in refused.stderr
    assert (
        invoke(["--config", host_b, "store", "accept-identity", "--reason", "reconciled"]).exit_code
        == 0
    )
    assert invoke(["--config", host_b, "control", "pause", "--reason", "b3"]).exit_code == 0


def test_accept_identity_needs_a_reason(tmp_path, postgres_url):
    config = _config(tmp_path, postgres_url)
    assert invoke(["--config", config, "control", "pause"]).exit_code == 0
    result = invoke(["--config", config, "store", "accept-identity", "--reason", " "])
    assert result.exit_code == 2 and "--reason" in result.stderr


@pytest.mark.parametrize("field", ["timeline", "system_identifier"])
def test_a_new_timeline_or_cluster_is_refused(tmp_path, postgres_url, monkeypatch, field):
    """A failover to a replica (a new timeline) or a new cluster, as the server reports it."""
    settings = Settings.load(_config(tmp_path, postgres_url), environ={})
    open_postgres(settings).close()
    real = identity.server_identity

    def moved(conn):
        ident = real(conn)
        ident[field] = 2 if field == "timeline" else "1234567890"
        return ident

    monkeypatch.setattr(identity, "server_identity", moved)
    with pytest.raises(StateLost, match=field.replace("_", " ")):
        open_postgres(settings)
    store = open_postgres(settings, read_only=True, create=False)
    with store:
        assert not store.verify_journal().ok


def test_the_identity_is_recorded_with_the_store(tmp_path, postgres_url):
    settings = Settings.load(_config(tmp_path, postgres_url), environ={})
    with open_postgres(settings) as store:
        recorded = identity.recorded_identity(store.conn)
        assert recorded == identity.server_identity(store.conn)
    assert recorded["timeline"] >= 1 and recorded["database_oid"] > 0


def test_a_server_to_server_migrate_is_not_judged_by_this_hosts_anchor(
    tmp_path, postgres_server, postgres_url
):
    config = _config(tmp_path, postgres_url)
    for n in range(2):
        assert invoke(["--config", config, "control", "pause", "--reason", f"{n}"]).exit_code == 0
    anchors = sorted((tmp_path / "state" / "postgres").glob("*/journal.anchor"))
    before = [a.read_text() for a in anchors]
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE new_server_db")
    new = postgres_server.url("new_server_db")
    moved = invoke(["--config", config, "store", "migrate", "--from", postgres_url, "--to", new])
    assert moved.exit_code == 0, moved.stderr
    assert [a.read_text() for a in anchors] == before  # the configured store's, untouched
    assert len(list((tmp_path / "state" / "postgres").glob("*/journal.anchor"))) == 2
    assert invoke(["--config", config, "control", "resume", "--reason", "x"]).exit_code == 0
    moved_to = _config(tmp_path, new, name="new.toml")
    assert invoke(["--config", moved_to, "journal", "verify"]).exit_code == 0
    assert invoke(["--config", moved_to, "control", "resume", "--reason", "y"]).exit_code == 0
