"""The store's tables on PostgreSQL: identity, schema versions and forward migrations.

The tables and columns are SQLite's (``state.db`` at its schema version 4: the store's
SQL runs unchanged on both), with these additions: ``strategy_shares.rowid`` and
``fills.rowid`` (SQLite's implicit insertion order, made explicit: the per-strategy ledger
books fills from the last one it saw) and triggers that make ``journal`` append-only
(an ``UPDATE``, ``DELETE`` or ``TRUNCATE`` is refused; verification still catches a row
changed by someone able to drop the triggers). A database is refused, before anything
is written to it, when it holds tables that are not tradekernel's without our identity
row, when its identity row is not ours, or when a newer tradekernel wrote it.
"""

from __future__ import annotations

from collections.abc import Callable

from tradekernel.api import OPEN_ORDERS_WHERE, STORE_APP_ID, SchemaError, ts_text, utcnow

from .connection import LOCK_SQL, WRITE_BEGIN, PgConnection

SCHEMA_VERSION = 1
"""The PostgreSQL schema's version (its own numbering: 1 holds SQLite's schema 4)."""
SHARED_TABLES = ("events", "backtests")
SHARED_PREFIXES = ("notify_", "llm_", "lease", "tradekernel_lease")
"""Tables other modules may keep in the same database (an agent lease's among them):
a database holding only these is ours to create the store in."""

_V1 = [
    "CREATE TABLE tradekernel_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE intents (
        id TEXT PRIMARY KEY, state TEXT NOT NULL, version BIGINT NOT NULL, cycle_id TEXT,
        broker TEXT, symbol TEXT, side TEXT, client_order_id TEXT, broker_order_id TEXT,
        ref_price TEXT, intent_json TEXT NOT NULL, verdicts TEXT, order_status TEXT,
        filled_quantity TEXT, avg_fill_price TEXT, reason TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, expires_at TEXT, executing_since TEXT)""",
    "CREATE UNIQUE INDEX intents_coid ON intents (client_order_id)",
    "CREATE INDEX intents_state_created ON intents (state, created_at, id)",
    "CREATE INDEX intents_cycle_created ON intents (cycle_id, created_at, id)",
    f"CREATE INDEX intents_open_orders ON intents (created_at, id) WHERE {OPEN_ORDERS_WHERE}",
    """CREATE TABLE journal (
        seq BIGINT PRIMARY KEY, entity TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL,
        actor TEXT NOT NULL, reason TEXT, ts TEXT NOT NULL, payload TEXT,
        payload_digest TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
    "CREATE INDEX journal_entity ON journal (entity, seq)",
    """CREATE TABLE control (
        key TEXT PRIMARY KEY, value TEXT NOT NULL, actor TEXT, updated_at TEXT)""",
    """CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY, intent_id TEXT, broker_order_id TEXT, symbol TEXT,
        side TEXT, quantity TEXT, status TEXT NOT NULL, filled_quantity TEXT,
        avg_fill_price TEXT, order_json TEXT NOT NULL, updated_at TEXT)""",
    "CREATE INDEX orders_intent ON orders (intent_id)",
    """CREATE TABLE fills (
        rowid BIGSERIAL, fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
        intent_id TEXT, symbol TEXT, side TEXT, quantity TEXT, price TEXT, commission TEXT, ts TEXT,
        fill_json TEXT NOT NULL, recorded_at TEXT)""",
    "CREATE INDEX fills_order_ts ON fills (client_order_id, ts, fill_id)",
    "CREATE TABLE unknown_orders (client_order_id TEXT PRIMARY KEY, since TEXT)",
    """CREATE TABLE strategy_shares (
        rowid BIGSERIAL, intent_id TEXT NOT NULL, source_intent_id TEXT NOT NULL,
        strategist TEXT NOT NULL, amount TEXT NOT NULL, cycle_id TEXT,
        created_at TEXT NOT NULL, PRIMARY KEY (intent_id, source_intent_id))""",
    "CREATE INDEX strategy_shares_strategist ON strategy_shares (strategist)",
    """CREATE FUNCTION tradekernel_journal_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the journal is append-only: % refused', TG_OP;
        END $$""",
    """CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
        FOR EACH ROW EXECUTE FUNCTION tradekernel_journal_append_only()""",
    """CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
        FOR EACH STATEMENT EXECUTE FUNCTION tradekernel_journal_append_only()""",
]


def _migrate_1(conn: PgConnection) -> None:
    for statement in _V1:
        conn.execute(statement)


MIGRATIONS: dict[int, Callable[[PgConnection], None]] = {1: _migrate_1}
"""``MIGRATIONS[n]`` moves a database from schema ``n - 1`` to ``n``; never edit a shipped one."""


def _shared(name: str) -> bool:
    return name in SHARED_TABLES or name.startswith(SHARED_PREFIXES)


def _refuse(label: str, problem: str) -> SchemaError:
    return SchemaError(f"{label}: {problem}; nothing was changed")


def inspect(conn: PgConnection) -> int | None:
    """The schema version of the database (``None``: no store in it yet), or refuse it
    (:class:`SchemaError`, exit 2) when it is foreign or newer."""
    label = conn.label
    tables = {
        r[0]
        for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    }
    if "tradekernel_meta" not in tables:
        foreign = {t for t in tables if not _shared(t)}
        if foreign:
            shown = ", ".join(sorted(foreign)[:5])
            raise _refuse(label, f"not a tradekernel state database (foreign tables: {shown})")
        return None
    meta = dict(conn.execute("SELECT key, value FROM tradekernel_meta").fetchall())
    if meta.get("app") != STORE_APP_ID or meta.get("backend") != "postgres":
        raise _refuse(label, f"not a tradekernel state database (app = {meta.get('app')!r})")
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise _refuse(
            label, f"bad schema_version {meta.get('schema_version')!r} in tradekernel_meta"
        ) from None
    if version > SCHEMA_VERSION:
        raise _refuse(
            label,
            f"written by a newer tradekernel (schema version {version}; this version "
            f"understands up to {SCHEMA_VERSION}): upgrade tradekernel or use another database",
        )
    return version


def migrate(conn: PgConnection) -> None:
    """Create the store's tables or bring them forward, in one transaction under the
    store's write lock (two agents starting at once migrate once)."""
    conn.execute(WRITE_BEGIN)
    try:
        conn.execute(LOCK_SQL)
        version = inspect(conn)  # again, under the lock
        if version is None:
            _migrate_1(conn)
            conn.execute(
                "INSERT INTO tradekernel_meta (key, value) VALUES (?, ?), (?, ?), (?, ?), (?, ?)",
                (
                    "app",
                    STORE_APP_ID,
                    "backend",
                    "postgres",
                    "schema_version",
                    "1",
                    "created_at",
                    ts_text(utcnow()),
                ),
            )
            version = 1
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
        conn.execute(
            "UPDATE tradekernel_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
