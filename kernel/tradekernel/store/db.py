"""The state database file: connection settings, identity checks and forward migrations.

Every kernel module and plugin that keeps state in ``state.db`` opens it through
:func:`connect`, which sets WAL mode, a busy timeout and foreign keys, refuses a file that
is not ours (or is corrupted, or was written by a newer schema) *before* writing anything,
and applies pending migrations. Tables owned by others (``notify_*``, ``llm_*``,
``events`` ...) are tolerated: only ``tradekernel_meta`` identifies the file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import make_dir
from .states import DatabaseCorrupted, DiskFull, SchemaError, StateUnusable

if TYPE_CHECKING:  # imported where its features are used: migrations, plugins' tables
    import sqlite_utils

DB_FILENAME = "state.db"
"""The state database's file name in ``[kernel] state_dir``."""
APP_ID = "tradekernel"
"""The ``app`` value in ``tradekernel_meta`` that identifies a state database as ours."""
SCHEMA_VERSION = 4
BUSY_TIMEOUT_S = 30.0
RECURSIVE_TRIGGERS = "PRAGMA recursive_triggers=on;"
"""What ``sqlite_utils.Database`` runs on every connection it wraps: each connection to
``state.db`` runs it, wrapped or not, so triggers behave the same either way."""
SYNCHRONOUS = "FULL"
"""WAL with ``synchronous=FULL``: a committed claim survives power loss, not just a crash."""
SYNCHRONOUS_EPHEMERAL = "OFF"
"""A backtest's own state (``Store.open(durable=False)``): the same SQL, claims and journal,
no fsync per commit; a crash of the process loses nothing committed, a power loss may."""
SQLITE_HEADER = b"SQLite format 3\x00"


def ts_text(value: datetime | None) -> str | None:
    """A timestamp as fixed-width ISO text (UTC, microseconds), so text order is time order."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


SQLITE_FULL = 13
SQLITE_READONLY = 8


def _db_file(conn: sqlite3.Connection) -> str:
    try:
        return conn.execute("PRAGMA database_list").fetchone()[2] or "the state database"
    except sqlite3.Error:
        return "the state database"


def write_failure(conn: sqlite3.Connection, exc: sqlite3.Error) -> Exception | None:
    """The readable error for a write SQLite refused for a reason the operator can fix
    (the disk or the database's size limit is full, the file is read-only), else ``None``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == SQLITE_FULL:
        return DiskFull(
            f"{_db_file(conn)}: the disk is full (SQLite: {exc}); the transaction was rolled "
            "back, nothing was written: free space on that filesystem and run the command again"
        )
    if code is not None and code & 0xFF == SQLITE_READONLY:
        return StateUnusable(
            f"{_db_file(conn)}: the state database is read-only (SQLite: {exc}); make the "
            "file and its directory writable or point [kernel] state_dir elsewhere; nothing "
            "was written"
        )
    return None


@contextlib.contextmanager
def transaction(conn: Any, begin: str, *after_begin: str) -> Iterator[Any]:
    """``begin`` (then each of ``after_begin``), the body, ``COMMIT``; ``ROLLBACK`` when
    anything raises: the shape of every dialect's write transaction."""
    conn.execute(begin)
    try:
        for statement in after_begin:
            conn.execute(statement)
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

    A full disk (``SQLITE_FULL``) or a read-only file rolls back and raises
    :class:`DiskFull` (exit 1) or :class:`StateUnusable` (exit 2)."""
    try:
        with transaction(conn, "BEGIN IMMEDIATE"):
            yield conn
    except sqlite3.OperationalError as exc:
        mapped = write_failure(conn, exc)
        if mapped is None:
            raise
        raise mapped from exc


def _migrate_1(db: sqlite_utils.Database) -> None:
    db["intents"].create(
        {
            "id": str,
            "state": str,
            "version": int,
            "cycle_id": str,
            "broker": str,
            "symbol": str,
            "side": str,
            "client_order_id": str,
            "broker_order_id": str,
            "ref_price": str,
            "intent_json": str,
            "verdicts": str,
            "order_status": str,
            "filled_quantity": str,
            "avg_fill_price": str,
            "reason": str,
            "created_at": str,
            "updated_at": str,
            "expires_at": str,
            "executing_since": str,
        },
        pk="id",
        not_null={"state", "version", "intent_json", "created_at", "updated_at"},
    )
    db["intents"].create_index(["state"], index_name="intents_state")
    db["intents"].create_index(["cycle_id"], index_name="intents_cycle")
    db["intents"].create_index(["client_order_id"], index_name="intents_coid", unique=True)
    db["journal"].create(
        {
            "seq": int,
            "entity": str,
            "from_state": str,
            "to_state": str,
            "actor": str,
            "reason": str,
            "ts": str,
            "payload": str,
            "payload_digest": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="seq",
        not_null={"entity", "to_state", "actor", "ts", "payload_digest", "prev_hash", "hash"},
    )
    db["journal"].create_index(["entity", "seq"], index_name="journal_entity")
    db["control"].create(
        {"key": str, "value": str, "actor": str, "updated_at": str}, pk="key", not_null={"value"}
    )
    db["orders"].create(
        {
            "client_order_id": str,
            "intent_id": str,
            "broker_order_id": str,
            "symbol": str,
            "side": str,
            "quantity": str,
            "status": str,
            "filled_quantity": str,
            "avg_fill_price": str,
            "order_json": str,
            "updated_at": str,
        },
        pk="client_order_id",
        not_null={"status", "order_json"},
    )
    db["orders"].create_index(["intent_id"], index_name="orders_intent")
    db["fills"].create(
        {
            "fill_id": str,
            "client_order_id": str,
            "intent_id": str,
            "symbol": str,
            "side": str,
            "quantity": str,
            "price": str,
            "commission": str,
            "ts": str,
            "fill_json": str,
            "recorded_at": str,
        },
        pk="fill_id",
        not_null={"client_order_id", "fill_json"},
    )
    db["fills"].create_index(["client_order_id"], index_name="fills_order")


def _migrate_2(db: sqlite_utils.Database) -> None:
    """Sent orders the broker did not know move from their order status (which they
    overwrote, for good) to a table of their own; the status comes back from the order
    row's JSON (the broker's last answer)."""
    db["unknown_orders"].create({"client_order_id": str, "since": str}, pk="client_order_id")
    conn = db.conn
    conn.execute(
        "INSERT OR IGNORE INTO unknown_orders (client_order_id, since) SELECT client_order_id, "
        "updated_at FROM intents WHERE order_status = 'unknown_to_broker' "
        "AND client_order_id IS NOT NULL"
    )
    conn.execute(
        "UPDATE orders SET status = json_extract(order_json, '$.status') "
        "WHERE status = 'unknown_to_broker'"
    )
    conn.execute(
        "UPDATE intents SET order_status = (SELECT o.status FROM orders o WHERE "
        "o.client_order_id = intents.client_order_id) WHERE order_status = 'unknown_to_broker'"
    )


TERMINAL_ORDER_STATUSES = ("filled", "cancelled", "rejected")
"""Order statuses after which an order never changes: the monitor stops asking."""
OPEN_ORDERS_WHERE = (
    "state = 'submitted' AND (order_status IS NULL OR order_status NOT IN ("
    + ", ".join(f"'{s}'" for s in TERMINAL_ORDER_STATUSES)
    + "))"
)
"""The monitor's filter (submitted intents whose order is not known to be terminal),
with its constants inlined: SQLite uses the partial index ``intents_open_orders`` only
for a query whose WHERE clause holds these very terms (a bound parameter would not do)."""


def _migrate_3(db: sqlite_utils.Database) -> None:
    """Indexes for the queries each cycle runs, so none degrades as history grows: the
    open orders through a partial index holding only them (a filled order leaves it),
    intents of one state or one cycle and an order's fills in the order they are listed
    (no sort step)."""
    conn = db.conn
    conn.execute(
        "CREATE INDEX IF NOT EXISTS intents_open_orders ON intents (created_at, id) "
        f"WHERE {OPEN_ORDERS_WHERE}"
    )
    conn.execute(
        "CREATE INDEX IF NOT EXISTS intents_state_created ON intents (state, created_at, id)"
    )
    conn.execute(
        "CREATE INDEX IF NOT EXISTS intents_cycle_created ON intents (cycle_id, created_at, id)"
    )
    conn.execute("DROP INDEX IF EXISTS intents_state")
    conn.execute("DROP INDEX IF EXISTS intents_cycle")
    conn.execute(
        "CREATE INDEX IF NOT EXISTS fills_order_ts ON fills (client_order_id, ts, fill_id)"
    )
    conn.execute("DROP INDEX IF EXISTS fills_order")


def _migrate_4(db: sqlite_utils.Database) -> None:
    """Several strategies: each strategy's signed share of a netted intent (one order for
    several strategies' intents on one symbol; docs/state.md, "Strategy shares")."""
    db["strategy_shares"].create(
        {
            "intent_id": str,
            "source_intent_id": str,
            "strategist": str,
            "amount": str,
            "cycle_id": str,
            "created_at": str,
        },
        pk=("intent_id", "source_intent_id"),
        not_null={"strategist", "amount", "created_at"},
        if_not_exists=True,
    )
    db["strategy_shares"].create_index(
        ["strategist"], index_name="strategy_shares_strategist", if_not_exists=True
    )


MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {
    1: _migrate_1,
    2: _migrate_2,
    3: _migrate_3,
    4: _migrate_4,
}
"""``MIGRATIONS[n]`` moves a database from schema ``n - 1`` to ``n``; never edit a shipped one."""


SHARED_TABLES = ("events", "backtests")
SHARED_PREFIXES = ("notify_", "llm_")
"""Tables other kernel modules and first-party plugins keep in ``state.db``. A file that
holds only these (one of them created it before the store did) is ours, not foreign."""


def _shared_table(name: str) -> bool:
    return name in SHARED_TABLES or name.startswith(SHARED_PREFIXES)


def _refuse(path: Path, problem: str) -> SchemaError:
    return SchemaError(f"{path}: {problem}; nothing was changed")


def _corrupted(path: Path, detail: str) -> DatabaseCorrupted:
    return DatabaseCorrupted(
        f"{path}: the database is corrupted ({detail.splitlines()[0][:120]}); restore it "
        "(`tradekernel audit restore BACKUP --state-dir NEW_DIR`); nothing was changed"
    )


def _inspect(conn: sqlite3.Connection, path: Path) -> int | None:
    """The schema version of an existing file (``None`` when it is empty), or refuse it."""
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise _corrupted(path, check)
        tables = {
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")
        }
        if "tradekernel_meta" not in tables:
            foreign = {t for t in tables if not _shared_table(t)}
            if foreign:
                shown = ", ".join(sorted(foreign)[:5])
                raise _refuse(path, f"not a tradekernel state database (foreign tables: {shown})")
            return None
        meta = dict(conn.execute("SELECT key, value FROM tradekernel_meta").fetchall())
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc).lower():
            raise _corrupted(path, str(exc)) from None
        raise _refuse(path, f"not a usable SQLite database (corrupted or foreign: {exc})") from None
    if meta.get("app") != APP_ID:
        raise _refuse(path, f"not a tradekernel state database (app = {meta.get('app')!r})")
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise _refuse(
            path, f"bad schema_version {meta.get('schema_version')!r} in tradekernel_meta"
        ) from None
    if version > SCHEMA_VERSION:
        raise _refuse(
            path,
            f"written by a newer tradekernel (schema version {version}; this version "
            f"understands up to {SCHEMA_VERSION}): upgrade tradekernel or use another state_dir",
        )
    return version


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise _refuse(path, f"cannot read the state database: {exc.strerror}") from None
    if head and head != SQLITE_HEADER:  # an empty file is a fresh database
        raise _refuse(path, "not an SQLite database (foreign or corrupted file)")


def _check_place(path: Path, create: bool, read_only: bool = False) -> None:
    """Refuse a state directory that cannot hold the database (one line, exit 2)."""
    state_dir = path.parent
    blocker = next((p for p in (state_dir, *state_dir.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        make_dir(state_dir)  # raises StateUnusable naming the file in the way
    if path.exists() and path.is_dir():
        raise StateUnusable(f"{path}: is a directory, not the state database; nothing was changed")
    writable = state_dir if state_dir.exists() else blocker
    if writable is not None and (create or path.exists()) and not read_only:
        targets = [writable] + ([path] if path.exists() else [])
        if not all(os.access(t, os.W_OK) for t in targets):
            raise StateUnusable(
                f"{state_dir}: the state directory is read-only; tradekernel writes state.db, "
                "its WAL and the journal anchor there: make it writable or point [kernel] "
                "state_dir at a writable directory; nothing was changed"
            )


def connect(
    path: str | Path,
    *,
    create: bool = True,
    synchronous: str = SYNCHRONOUS,
    check: Callable[[sqlite3.Connection], bool] | None = None,
    read_only: bool = False,
) -> sqlite_utils.Database:
    """Open the state database at ``path`` (WAL, busy timeout, foreign keys), migrated,
    as a ``sqlite_utils.Database``: :func:`open_state_db` wrapped, with its evidence
    copy (if any) removed with the database. Raises what :func:`open_state_db` raises."""
    import sqlite_utils

    conn, copy = open_state_db(
        path, create=create, synchronous=synchronous, check=check, read_only=read_only
    )
    db = sqlite_utils.Database(conn, execute_plugins=False)
    if copy is not None:
        db._evidence_copy = copy  # type: ignore[attr-defined]  # removed with the database
    return db


def open_state_db(
    path: str | Path,
    *,
    create: bool = True,
    synchronous: str = SYNCHRONOUS,
    check: Callable[[sqlite3.Connection], bool] | None = None,
    read_only: bool = False,
) -> tuple[sqlite3.Connection, tempfile.TemporaryDirectory[str] | None]:
    """Open the state database at ``path`` (WAL, busy timeout, foreign keys), migrated:
    the connection, and the temporary directory holding a read-only evidence copy when
    one had to be made (keep it as long as the connection; it is removed when collected).

    The connection is set up as a ``sqlite_utils.Database`` sets up its own (recursive
    triggers on), without importing sqlite-utils unless a migration needs it.

    Raises :class:`SchemaError` for a foreign, corrupted or newer-schema file without
    changing it, :class:`StateUnusable` for a place it cannot live (a file as the
    directory, a read-only directory), and :class:`tradekernel.errors.NotFoundError`
    when ``create`` is false and the file does not exist. ``check(conn)`` runs on the
    opened file before anything is written to it (the journal anchor's check): it may
    raise, or return false to get the file as it is, neither configured nor migrated.
    Without ``check``, a ``state.db`` whose anchor says its journal was lost is refused
    (:func:`anchor.refuse_lost`, :class:`StateLost`) before anything is created.
    ``read_only`` opens an existing file for reading only (SQLite ``mode=ro``, or
    ``immutable=1`` when even that needs a write, as in a read-only directory without
    the WAL's shared-memory file): neither configured nor migrated, nothing written, so
    a read-only evidence copy can be verified.
    """
    from ..errors import NotFoundError

    path = Path(path)
    _check_place(path, create, read_only)
    if read_only:
        return _open_read_only(path, check)
    if check is None and path.name == DB_FILENAME:  # a module's own tables in state.db
        from .anchor import refuse_lost

        refuse_lost(path.parent)
    if path.exists():
        _check_header(path)
    elif not create:
        raise NotFoundError(f"{path}: no state database here yet")
    else:
        make_dir(path.parent)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        version = _inspect(conn, path)
        if check is not None and not check(conn):
            conn.execute(RECURSIVE_TRIGGERS)
            return conn, None  # as it is: no writes
        _enable_wal(conn)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(RECURSIVE_TRIGGERS)
        if version is None or version < SCHEMA_VERSION:
            _migrate(conn, path)
    except sqlite3.OperationalError as exc:
        mapped = write_failure(conn, exc)
        conn.close()
        if mapped is None:
            raise
        raise mapped from None
    except BaseException:
        conn.close()
        raise
    return conn, None


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode. The switch needs a moment with no other connection and
    ignores the busy timeout (processes creating one state together meet here); it is
    persistent, so another process doing it is as good: retry for the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def ensure_state_db(path: str | Path) -> None:
    """Create the state database at ``path``, or check the one there, then close it.

    A plugin that keeps its own prefixed tables in ``state.db`` calls this before it
    opens the file with its own connection: a file holding only a plugin's tables would
    later be refused by the store as foreign. Raises what :func:`connect` raises (a
    foreign, corrupted, newer-schema or lost database; a place it cannot live).
    """
    connect(path).close()


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(conn, execute_plugins=False)
    with immediate(db.conn):
        # Re-read under the write lock: another process may have migrated meanwhile.
        version = _inspect(db.conn, path)
        if version is None:
            db["tradekernel_meta"].create({"key": str, "value": str}, pk="key")
            db["tradekernel_meta"].insert_all(
                [
                    {"key": "app", "value": APP_ID},
                    {"key": "schema_version", "value": "0"},
                    {"key": "created_at", "value": ts_text(datetime.now(UTC))},
                ]
            )
            version = 0
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](db)
        db.conn.execute(
            "UPDATE tradekernel_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION),),
        )


def _open_read_only(
    path: Path, check: Callable[[sqlite3.Connection], bool] | None
) -> tuple[sqlite3.Connection, tempfile.TemporaryDirectory[str] | None]:
    from ..errors import NotFoundError

    if not path.exists():
        raise NotFoundError(f"{path}: no state database here yet")
    _check_header(path)
    uri = path.resolve().as_uri()
    conn = None
    copy: tempfile.TemporaryDirectory[str] | None = None
    for mode in ("mode=ro", "immutable=1"):
        wal = Path(f"{path}-wal")
        if mode == "immutable=1" and wal.exists() and wal.stat().st_size > 0:
            # immutable ignores the WAL (its committed rows): read a private copy instead
            copy = _writable_copy(path, wal)
            uri, mode = (Path(copy.name) / path.name).as_uri(), "mode=ro"
        try:
            conn = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            break
        except sqlite3.OperationalError:  # ro needs the -shm: a read-only dir without one
            if conn is not None:
                conn.close()
                conn = None
        except sqlite3.DatabaseError:  # damaged: opened; _inspect says what is wrong
            break
    if conn is None:
        raise StateUnusable(f"{path}: cannot open the state database for reading")
    try:
        _inspect(conn, path)
        if check is not None:
            check(conn)
    except BaseException:
        conn.close()
        if copy is not None:
            copy.cleanup()
        raise
    conn.execute(RECURSIVE_TRIGGERS)
    return conn, copy


def _writable_copy(path: Path, wal: Path) -> tempfile.TemporaryDirectory[str]:
    """``path`` and its WAL copied into a new temporary directory, where SQLite can read
    the WAL (its shared-memory file can be created there): for a read-only directory."""
    tmp = tempfile.TemporaryDirectory(prefix="tradekernel-verify-")
    try:
        shutil.copyfile(path, Path(tmp.name) / path.name)
        shutil.copyfile(wal, Path(tmp.name) / wal.name)
    except OSError as exc:
        tmp.cleanup()
        raise StateUnusable(
            f"{path}: its WAL ({wal.name}) holds committed rows, and copying it to read them "
            f"failed: {exc.strerror}; copy the directory somewhere writable and verify there"
        ) from None
    return tmp
