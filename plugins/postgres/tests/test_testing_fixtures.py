"""The PostgreSQL fixtures themselves: a real server, a fresh database per test."""

from __future__ import annotations

import psycopg


def test_each_test_gets_a_fresh_empty_database(postgres_server, postgres_database):
    with psycopg.connect(postgres_server.dsn(postgres_database)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()[0]
        assert tables == 0
        conn.execute("CREATE TABLE marker (id integer)")
        assert conn.execute("SELECT current_database()").fetchone()[0] == postgres_database


def test_the_url_form_connects(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
