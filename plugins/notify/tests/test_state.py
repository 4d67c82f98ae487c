"""Where the notification state lives (the store's database, on each store), what an
upgrade keeps (a ``state.db`` written by the SQLite-only versions), and what happens
when the store refuses or cannot be reached: a lost state is refused; a store that is
locked, down or gone never silences an alert nor leaks the server's password."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
from loguru import logger
from tradekernel.api import (
    ConfigError,
    DeliveryResult,
    Notification,
    StateLost,
    open_store,
    open_tables,
    store_table_catalogue,
)
from tradekernel_notify import Notifications
from tradekernel_notify.store import NotifyStore

NOW = datetime(2030, 1, 2, 12, 0, tzinfo=UTC)
ROUTES = '[notify]\nroutes = [{ kinds = ["trade.*"], notifiers = ["a"] }]\ntimeout = "1s"\n'
PASSWORD = "s3cretpassw0rd"

OLD_LOG = """CREATE TABLE "notify_log" (
   "id" INTEGER PRIMARY KEY,
   "ts" REAL,
   "ts_iso" TEXT,
   "day" TEXT,
   "notifier" TEXT,
   "event_kind" TEXT,
   "dedup_key" TEXT,
   "status" TEXT,
   "http_status" INTEGER,
   "attempts" INTEGER,
   "latency_ms" REAL,
   "error" TEXT{bypassed}
)"""
OLD_STATEMENTS = [
    """CREATE TABLE "notify_dedup" (
   "notifier" TEXT,
   "dedup_key" TEXT,
   "ts" REAL,
   PRIMARY KEY ("notifier", "dedup_key")
)""",
    'CREATE INDEX "idx_notify_log_notifier_ts"\n    ON "notify_log" ("notifier", "ts")',
    'CREATE INDEX "idx_notify_log_day"\n    ON "notify_log" ("day")',
]
"""What the SQLite-only versions (sqlite-utils) created in ``state.db``, verbatim; the
log's last column, ``rate_limit_bypassed``, came in a later version."""


@pytest.fixture
def store_toml(request) -> str:
    if "any_store" in request.fixturenames:
        return request.getfixturevalue("any_store")
    return ""


@pytest.fixture
def warnings():
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING", format="{message}")
    yield seen
    logger.remove(sink)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def note(body: str = "10 AAA", **kw) -> Notification:
    return Notification(kind="trade.fill", title="Filled", body=body, **kw)


def test_the_state_lives_in_the_stores_database(make_settings, kit, any_store):
    settings = make_settings(ROUTES)
    service = Notifications(settings, {"a": kit.Recording()})
    assert service.publish(note())[0].status == "sent"
    service.close()
    with open_tables(settings) as tables, tables.read() as conn:
        assert {"notify_log", "notify_dedup"} <= tables.dialect.tables(conn)
        assert conn.execute("SELECT status FROM notify_log").fetchall() == [("sent",)]
        catalogued = {s.name for s in store_table_catalogue(conn, tables.dialect)}
    assert {"notify_log", "notify_dedup"} <= catalogued  # `store migrate` copies them
    local = settings.state_dir / "state.db"
    if settings.components.store == "postgres":  # nothing of it stays on this host
        names = set()
        if local.exists():
            with sqlite3.connect(local) as db:
                names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert not names & {"notify_log", "notify_dedup"}
    else:
        with sqlite3.connect(local) as db:
            assert db.execute("SELECT COUNT(*) FROM notify_log").fetchone() == (1,)


@pytest.mark.parametrize("bypassed", [True, False], ids=["current", "before-bypass-column"])
def test_a_state_db_written_by_the_sqlite_only_versions_keeps_its_rows(
    make_settings, kit, bypassed
):
    settings = make_settings(ROUTES)
    open_store(settings).close()  # the state database, as the agent made it
    with sqlite3.connect(settings.state_dir / "state.db", isolation_level=None) as db:
        column = ',\n   "rate_limit_bypassed" INTEGER' if bypassed else ""
        for statement in [OLD_LOG.format(bypassed=column), *OLD_STATEMENTS]:
            db.execute(statement)
        db.execute(
            "INSERT INTO notify_log (ts, ts_iso, day, notifier, event_kind, dedup_key, status, "
            "http_status, attempts, latency_ms, error) VALUES "
            "(?, ?, ?, 'a', 'trade.fill', 'k1', 'sent', 200, 1, 12.5, NULL)",
            (NOW.timestamp(), NOW.isoformat(), NOW.date().isoformat()),
        )
        db.execute("INSERT INTO notify_dedup VALUES ('a', 'k1', ?)", (NOW.timestamp(),))
    clock = Clock()
    clock.now = NOW + timedelta(minutes=1)
    rec = kit.Recording()
    service = Notifications(settings, {"a": rec}, clock=clock)
    assert service.publish(note(dedup_key="k1"))[0].status == "dedup_suppressed"  # kept
    second = service.publish(note(dedup_key="k2"))[0]
    assert second.status == "sent" and second.id == 3 and len(rec.sent) == 1
    log = service.log()
    assert [(r.id, r.dedup_key, r.status) for r in log] == [
        (1, "k1", "sent"),
        (2, "k1", "dedup_suppressed"),
        (3, "k2", "sent"),
    ]
    assert (log[0].http_status, log[0].latency_ms, log[0].rate_limit_bypassed) == (
        200,
        12.5,
        False,
    )
    service.close()
    with sqlite3.connect(settings.state_dir / "state.db") as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        columns = [r[1] for r in db.execute("PRAGMA table_info(notify_log)")]
    assert "rate_limit_bypassed" in columns
    assert {"notify_log_notifier_ts", "notify_log_day"} <= indexes  # one index per key,
    assert not indexes & {"idx_notify_log_notifier_ts", "idx_notify_log_day"}  # not two


def _lose(settings, postgres_url: str | None) -> None:
    """Lose the store's database (the journal's anchor on this host stays)."""
    if postgres_url is None:
        for path in settings.state_dir.glob("state.db*"):
            path.unlink()
        return
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def test_a_lost_state_is_refused(make_settings, kit, any_store, request):
    settings = make_settings(ROUTES)
    with open_store(settings) as store:
        store.set_control("paused", True, actor="ops", reason="journal something")
    Notifications(settings, {"a": kit.Recording()}).close()
    url = settings.store.url if settings.components.store == "postgres" else None
    _lose(settings, url)
    rec = kit.Recording()
    with pytest.raises(StateLost):
        NotifyStore(settings)
    with pytest.raises(ConfigError, match="journal"):
        Notifications(settings, {"a": rec})
    assert rec.sent == []
    if url is None:
        assert not (settings.state_dir / "state.db").exists()  # nothing new was started


def test_a_locked_store_delays_the_claim_briefly_and_the_alert_still_goes(
    make_settings, kit, any_store, warnings
):
    settings = make_settings(ROUTES)
    rec = kit.Recording()
    events: list[tuple] = []
    service = Notifications(settings, {"a": rec}, emit=lambda *a, **k: events.append(a))
    holder = open_tables(settings)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.write():  # another writer of the store, stuck inside its transaction
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        record = service.publish(note())[0]  # waits [notify] timeout / 4 at most
    finally:
        release.set()
        thread.join(10)
        holder.close()
    assert (record.status, record.id) == ("sent", 0) and len(rec.sent) == 1
    assert events == [("notify", "delivered")]
    assert any("state unavailable" in w and "without noise control" in w for w in warnings)
    assert service.publish(note(body="next"))[0].id > 0  # logged again once it is free
    service.close()


def test_a_server_that_is_down_never_silences_an_alert_nor_shows_the_password(
    make_settings, kit, tmp_path, warnings
):
    pytest.importorskip("tradekernel_postgres")
    url = f"postgresql://agent:{PASSWORD}@/tk?host={tmp_path / 'nowhere'}&port=5999"
    settings = make_settings(
        ROUTES + '[components]\nstore = "postgres"\n', environ={"TK_STORE_URL": url}
    )
    rec = kit.Recording()
    events: list[tuple] = []
    service = Notifications(settings, {"a": rec}, emit=lambda *a, **k: events.append((a, k)))
    records = service.publish(note()) + service.publish(note())  # no dedup without state
    assert [(r.status, r.id) for r in records] == [("sent", 0), ("sent", 0)]
    assert len(rec.sent) == 2
    assert [a for a, _ in events] == [("notify", "delivered")] * 2
    down = [w for w in warnings if "state unavailable" in w]
    assert len(down) == 2 and "cannot reach the PostgreSQL server" in down[0]
    with pytest.raises(Exception, match="cannot reach") as refused:
        service.log()  # `notify log`: one line, exit 1
    seen = " ".join([*warnings, repr(events), repr(records), str(refused.value)])
    assert PASSWORD not in seen and "agent:****" in seen


def test_a_database_dropped_under_a_running_service_never_silences_an_alert(
    make_settings, kit, postgres_server, postgres_database, warnings
):
    pytest.importorskip("tradekernel_postgres")
    import psycopg

    url = postgres_server.url(postgres_database)
    settings = make_settings(ROUTES + f'[components]\nstore = "postgres"\n[store]\nurl = "{url}"\n')
    rec = kit.Recording()
    service = Notifications(settings, {"a": rec})
    assert service.publish(note())[0].id > 0
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{postgres_database}" WITH (FORCE)')
    record = service.publish(note(body="after the drop"))[0]
    assert (record.status, record.id) == ("sent", 0) and len(rec.sent) == 2
    assert any("state unavailable" in w and postgres_database in w for w in warnings)
    service.close()


def test_the_claims_lock_wait_stays_bounded_after_a_reconnect(
    make_settings, kit, postgres_server, postgres_url
):
    import psycopg

    settings = make_settings(
        ROUTES + f'[components]\nstore = "postgres"\n[store]\nurl = "{postgres_url}"\n'
    )
    service = Notifications(settings, {"a": kit.Recording()})
    conn = service.store.tables.conn
    assert conn.execute("SHOW lock_timeout").fetchone() == ("500ms",)  # timeout 1s / 4
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # a server restart
    assert service.publish(note())[0].id > 0  # reconnected
    assert conn.execute("SHOW lock_timeout").fetchone() == ("500ms",)
    assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
    service.close()


def test_a_secret_echoed_by_a_receiver_is_stored_masked_on_each_store(
    make_settings, kit, any_store
):
    settings = make_settings(ROUTES, environ={"HOOK_TOKEN": "hk9Zx7Qw3Lm5Np8R"})
    token = settings.secret("HOOK_TOKEN")
    echo = DeliveryResult(ok=False, status="failed", http_status=500, error=f"no hook {token}")
    service = Notifications(settings, {"a": kit.Recording(echo)})
    assert "********" in service.publish(note())[0].error
    service.close()
    with open_tables(settings) as tables, tables.read() as conn:
        rows = repr(conn.execute("SELECT * FROM notify_log").fetchall())
    assert "no hook ********" in rows and token[:8] not in rows and token[-8:] not in rows
