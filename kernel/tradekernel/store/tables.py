"""A plugin's own tables in the store's database, on every store.

State that must follow the store, not the host (the notification log and its dedup
claims, the LLM spend ledger and cache, the backtest evidence promotion reads: what an
agent taken over on another host, or a store migrated to a server, must still see), lives
in tables of the store's own database: ``state.db`` for the SQLite store, the server for
a server store. A plugin opens them with :func:`open_tables`, declares each with a
:class:`TableSpec` (:meth:`Tables.define`: created when missing, columns it lacks added,
recorded in the store's catalogue so ``store migrate`` copies it) and runs portable SQL:
``?`` placeholders, ``INSERT ... ON CONFLICT (...) DO UPDATE SET c = excluded.c`` for an
upsert, an alias on every subquery in ``FROM``, :meth:`Tables.insert` for a new row's id.

Writes run under the store's single-writer lock (:meth:`Tables.write`), so a decision
read and written in one transaction (a dedup claim, a rate limit, a budget) is atomic
across processes and hosts. The tables are not the journal: they are not hash-chained.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from attrs import field, frozen

from .db import BUSY_TIMEOUT_S, DB_FILENAME, ensure_state_db
from .dialect import SQLITE, Dialect

if TYPE_CHECKING:
    from ..settings import Settings

CATALOGUE = "tradekernel_tables"
"""The store's catalogue of plugin tables: name → its :class:`TableSpec` as JSON."""
TYPES = {int: "int", float: "float", str: "str", bytes: "bytes"}
"""The column types a spec may use (Python types, as sqlite-utils takes them)."""
_CATALOGUE_SPEC_COLUMNS = {"name": str, "spec": str}


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


STORE_TABLES = (
    "tradekernel_meta",
    "intents",
    "journal",
    "control",
    "orders",
    "fills",
    "unknown_orders",
    "strategy_shares",
)
"""The store's own tables, in the order a migration copies them: no plugin table may take
one of these names."""
MAX_NAME = 63
"""PostgreSQL's longest identifier (it would silently cut a longer one)."""
MAX_COLUMNS = 1000
"""The most columns a table may have (below PostgreSQL's 1600 and SQLite's 2000)."""
MAX_LOCK_WAIT_S = 1e6
"""The longest lock wait :meth:`Tables.set_lock_wait` takes (a finite one)."""
MAX_SPEC_TEXT = 1_000_000
"""The longest catalogue entry read (a larger one is damaged)."""
_RESERVED = """
    abort add all alter analyse analyze and any array as asc asymmetric attach authorization
    autoincrement before begin between binary both by cascade case cast check collate
    collation column commit concurrently conflict constraint create cross current
    current_catalog current_date current_role current_schema current_time current_timestamp
    current_user database default deferrable deferred delete desc detach distinct do drop
    each else end escape except exclude exclusive exists explain fail false fetch following
    for foreign freeze from full glob grant group groups having if ignore ilike immediate in index
    indexed initially inner insert instead intersect into is isnull join lateral leading
    left like limit localtime localtimestamp natural not nothing notnull null nulls of
    offset on only or order outer over overlaps partition placing pragma preceding primary
    raise recursive
    references regexp reindex release rename replace restrict returning right rollback
    savepoint select session_user set similar some symmetric system_user table tablesample
    temp temporary then ties
    to trailing transaction trigger true unbounded union unique update user using vacuum
    values variadic verbose view virtual when where window with without
"""
RESERVED_WORDS = frozenset(_RESERVED.split())
"""SQL words refused as names (reserved in SQLite, or in PostgreSQL: its reserved and
type/function-name keywords, ``pg_get_keywords()`` categories R and T); a few harmless
non-reserved ones (``key``, ``action`` ...) stay usable, as existing tables use them."""
SYSTEM_COLUMNS = frozenset(("xmin", "xmax", "cmin", "cmax", "ctid", "tableoid"))
"""PostgreSQL's system column names: refused as column names (a table cannot have one)."""


def _identifier(name: str) -> str:
    """``name`` when it is a portable SQL name: lower-case ASCII letters, digits and
    ``_`` (not first a digit), at most :data:`MAX_NAME` characters, no reserved word, no
    ``sqlite_``/``pg_`` prefix. Anything else is refused (``ValueError``): a name is
    written into SQL, so it must never be able to say more than a name."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_NAME
        or not name.isascii()
        or not name.isidentifier()
        or name != name.lower()
        or name.startswith(("sqlite_", "pg_"))
        or name in RESERVED_WORDS
    ):
        raise ValueError(f"not a usable SQL name: {name!r}")
    return name


def _table_name(name: str) -> str:
    _identifier(name)
    if name in STORE_TABLES or name.startswith("tradekernel_"):
        raise ValueError(f"{name!r} is a name of the store's own tables")
    return name


@frozen
class TableSpec:
    """One plugin table: its columns (name → ``int``, ``float``, ``str`` or ``bytes``),
    primary key, indexes and NOT NULL columns. A single ``int`` primary key is the
    table's row id, assigned by the store on insert (:meth:`Tables.insert`). Every name
    is a portable SQL name (lower-case ASCII letters, digits, ``_``; at most 63
    characters; no reserved word; no PostgreSQL system column such as ``xmin``; a
    table's not one of the store's own nor ``tradekernel_...``): anything else raises
    ``ValueError``, as does an unknown type, more than 1000 columns, an empty or
    repeated primary key, or a key, index or NOT NULL naming no column."""

    name: str = field(converter=_table_name)
    columns: Mapping[str, type] = field(converter=dict)
    pk: tuple[str, ...] = field(converter=_names)
    indexes: tuple[tuple[str, ...], ...] = field(
        default=(), converter=lambda v: tuple(_names(i) for i in v)
    )
    not_null: frozenset[str] = field(default=frozenset(), converter=frozenset)

    def __attrs_post_init__(self) -> None:
        if not self.columns or len(self.columns) > MAX_COLUMNS:
            raise ValueError(f"{self.name}: a table needs 1 to {MAX_COLUMNS} columns")
        for column, kind in self.columns.items():
            _identifier(column)
            if column in SYSTEM_COLUMNS:
                raise ValueError(f"{self.name}.{column}: a system column's name in PostgreSQL")
            if kind not in TYPES:
                raise ValueError(
                    f"{self.name}.{column}: type {kind!r} is not one of int, float, str, bytes"
                )
        if not self.pk or len(set(self.pk)) != len(self.pk):
            raise ValueError(f"{self.name}: the primary key must name distinct columns")
        for index in self.indexes:
            if not index or len(self._index_name(index)) > MAX_NAME:
                raise ValueError(f"{self.name}: index {index!r} is empty or its name too long")
        if len({self._index_name(i) for i in self.indexes}) != len(self.indexes):
            raise ValueError(f"{self.name}: two of its indexes would have the same name")
        for column in (*self.pk, *(c for i in self.indexes for c in i), *self.not_null):
            if column not in self.columns:
                raise ValueError(f"{self.name}: {column!r} is not one of its columns")

    def _index_name(self, index: tuple[str, ...]) -> str:
        return f"{self.name}_{'_'.join(index)}"

    @property
    def row_id(self) -> str | None:
        """The column the store assigns on insert, if any."""
        if len(self.pk) == 1 and self.columns[self.pk[0]] is int:
            return self.pk[0]
        return None

    def as_json(self) -> str:
        """The catalogue's record of the spec (columns in their order: a copy's table
        has them in the same order)."""
        return json.dumps(
            {
                "columns": {c: TYPES[t] for c, t in self.columns.items()},
                "pk": list(self.pk),
                "indexes": [list(i) for i in self.indexes],
                "not_null": sorted(self.not_null),
            }
        )

    @classmethod
    def from_json(cls, name: str, text: str) -> TableSpec:
        """The spec the catalogue recorded for ``name`` (``ValueError`` when damaged)."""
        try:
            if not isinstance(text, str) or len(text) > MAX_SPEC_TEXT:
                raise ValueError(f"not a text of at most {MAX_SPEC_TEXT} characters")
            data = json.loads(text)
            by_name = {v: k for k, v in TYPES.items()}
            return cls(
                name,
                {c: by_name[t] for c, t in data["columns"].items()},
                data["pk"],
                data.get("indexes", ()),
                data.get("not_null", ()),
            )
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise ValueError(f"{CATALOGUE}: the entry of {name!r} is damaged ({why})") from None


def _catalogue_spec() -> TableSpec:
    spec = TableSpec("catalogue", _CATALOGUE_SPEC_COLUMNS, "name", not_null={"spec"})
    object.__setattr__(spec, "name", CATALOGUE)  # a name no plugin's spec may take
    return spec


CATALOGUE_SPEC = _catalogue_spec()


def create_sql(spec: TableSpec, dialect: Dialect) -> list[str]:
    """The statements creating ``spec``'s table and then its indexes, when missing."""
    columns = []
    for name, kind in spec.columns.items():
        if name == spec.row_id:
            columns.append(f"{name} {dialect.row_id_type}")
            continue
        null = " NOT NULL" if name in spec.not_null else ""
        columns.append(f"{name} {dialect.column_types[TYPES[kind]]}{null}")
    if spec.row_id is None:
        columns.append(f"PRIMARY KEY ({', '.join(spec.pk)})")
    statements = [f"CREATE TABLE IF NOT EXISTS {spec.name} ({', '.join(columns)})"]
    for index in spec.indexes:
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {spec._index_name(index)} "
            f"ON {spec.name} ({', '.join(index)})"
        )
    return statements


class Tables:
    """A plugin's own tables in the store's database (:func:`open_tables`): one
    connection, used by one thread at a time (a lock serialises callers)."""

    def __init__(self, conn: Any, dialect: Dialect = SQLITE, *, owner: Any = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self._owner = owner
        """What closing closes (the store the connection belongs to), if not the connection."""
        self._lock = threading.RLock()
        self._defined: set[str] = set()

    @classmethod
    def memory(cls) -> Tables:
        """Tables in a private in-memory SQLite database (a configuration check)."""
        return cls(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False))

    @property
    def name(self) -> str:
        """The store's backend: ``sqlite``, ``postgres`` ..."""
        return self.dialect.name

    def close(self) -> None:
        with self._lock:
            (self._owner or self.conn).close()

    def __enter__(self) -> Tables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_lock_wait(self, seconds: float) -> None:
        """Make a write wait at most ``seconds`` for another writer's lock (the store's
        default is long: set it short where a caller cannot wait, such as a cycle).
        ``ValueError`` unless ``0 <= seconds < 1e6``, or inside a transaction (on
        PostgreSQL the setting would be rolled back with it)."""
        if not isinstance(seconds, int | float) or not 0 <= seconds < MAX_LOCK_WAIT_S:
            raise ValueError(f"lock wait: {seconds!r} is not a number of seconds in [0, 1e6)")
        with self._lock:
            if self.conn.in_transaction:
                raise ValueError("lock wait: set it outside a transaction (not inside write())")
            self.dialect.set_lock_wait(self.conn, seconds)

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        """One write transaction under the store's single-writer lock: committed when
        the body returns, rolled back when it raises."""
        with self._lock, self.dialect.write(self.conn) as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        """The connection for reads (each statement sees every earlier commit)."""
        with self._lock:
            yield self.conn

    def insert(self, conn: Any, table: str, row: Mapping[str, Any], row_id: str = "id") -> int:
        """Insert ``row`` into ``table`` (inside :meth:`write`); the new row's ``row_id``
        (``ValueError`` for a name that is not a plain SQL name)."""
        names = ", ".join(_identifier(c) for c in row)
        into = f"INSERT INTO {_identifier(table)}"
        sql = f"{into} ({names}) VALUES ({', '.join('?' * len(row))})" if row else into
        if not row:
            sql += " DEFAULT VALUES"
        return self.dialect.insert_id(conn, sql, tuple(row.values()), _identifier(row_id))

    def define(self, *specs: TableSpec) -> None:
        """Create each table (and its indexes) unless it exists, add the columns an
        older version of it lacks, and record it in the store's catalogue: once per
        table and process, in one write transaction (:func:`define_on`)."""
        todo = [s for s in specs if s.name not in self._defined]
        if not todo:
            return
        with self.write() as conn:
            define_on(conn, self.dialect, *todo)
        self._defined.update(s.name for s in todo)


def define_on(conn: Any, dialect: Dialect, *specs: TableSpec) -> None:
    """:meth:`Tables.define` on ``conn``, inside the caller's write transaction (``store
    migrate`` creates a copy's tables in the transaction that copies its rows). Raises
    ``ValueError`` when a spec changes a recorded column's type or the primary key."""
    added: dict[str, set[str]] = {}
    for spec in (CATALOGUE_SPEC, *specs):
        table, *indexes = create_sql(spec, dialect)
        existing = set(dialect.columns(conn, spec.name))
        if spec is not CATALOGUE_SPEC and existing:
            _recorded(conn, spec, set())  # a changed type or key: refused before any change
        elif not existing and (clash := dialect.index_columns(conn, spec.name)) is not None:
            raise ValueError(
                f"{spec.name}: an index of table {clash[0]} has that name; name the table otherwise"
            )
        conn.execute(table)
        have = set(dialect.columns(conn, spec.name))
        added[spec.name] = set()
        for column, kind in spec.columns.items():
            if column not in have:  # without NOT NULL: the table's older rows lack it
                conn.execute(
                    f"ALTER TABLE {spec.name} ADD COLUMN {column} "
                    f"{dialect.column_types[TYPES[kind]]}"
                )
                added[spec.name].add(column)
        for index, statement in zip(spec.indexes, indexes, strict=True):
            _check_index(conn, dialect, spec, index)
            conn.execute(statement)  # after the columns they may name
    for spec in specs:
        if spec is not CATALOGUE_SPEC:
            conn.execute(
                f"INSERT INTO {CATALOGUE} (name, spec) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                (spec.name, _recorded(conn, spec, added[spec.name]).as_json()),
            )


def _check_index(conn: Any, dialect: Dialect, spec: TableSpec, index: tuple[str, ...]) -> None:
    """Refuse an index whose name another table's index or a table already has (``CREATE
    INDEX IF NOT EXISTS`` would skip it silently, or fail)."""
    name = spec._index_name(index)
    have = dialect.index_columns(conn, name)
    if have is not None and have != (spec.name, index):
        raise ValueError(
            f"{spec.name}: its index on ({', '.join(index)}) would be named {name}, which "
            f"indexes {have[0]} ({', '.join(have[1])}) already; name the table or the "
            "columns otherwise"
        )
    if have is None and name in dialect.tables(conn):
        raise ValueError(
            f"{spec.name}: its index on ({', '.join(index)}) would be named {name}, a "
            "table's name; name the table or the columns otherwise"
        )


def _recorded(conn: Any, spec: TableSpec, added: set[str]) -> TableSpec:
    """What the catalogue records for ``spec``: what its table enforces. Its columns and
    those an entry recorded before had (an older version of the plugin defining its table
    again must not hide a column the table still has from ``store migrate``); NOT NULL
    only where the table has it (a column ``added`` to an existing table, or one recorded
    nullable before, stays nullable: its older rows lack it). A changed type or primary
    key is refused (``ValueError``): the table keeps its old ones."""
    row = conn.execute(f"SELECT spec FROM {CATALOGUE} WHERE name = ?", (spec.name,)).fetchone()
    before = None
    if row is not None:
        try:
            before = TableSpec.from_json(spec.name, row[0])
        except ValueError:
            before = None  # a damaged entry is replaced
    if before is not None:
        if before.pk != spec.pk:
            raise ValueError(
                f"{spec.name}: the primary key was ({', '.join(before.pk)}), the spec says "
                f"({', '.join(spec.pk)}); a table's key never changes: define a new table"
            )
        for column, kind in spec.columns.items():
            was = before.columns.get(column, kind)
            if was is not kind:
                raise ValueError(
                    f"{spec.name}.{column}: its type was {TYPES[was]}, the spec says "
                    f"{TYPES[kind]}; a column's type never changes: add a new column"
                )
    not_null = {
        c
        for c in spec.not_null
        if c not in added and (before is None or c not in before.columns or c in before.not_null)
    }
    extra: dict[str, type] = {}
    if before is not None:
        extra = {c: t for c, t in before.columns.items() if c not in spec.columns}
        not_null |= before.not_null & set(extra)
    if not extra and not_null == spec.not_null:
        return spec
    return attrs.evolve(spec, columns={**spec.columns, **extra}, not_null=not_null)


def catalogue(conn: Any, dialect: Dialect) -> list[TableSpec]:
    """The plugin tables recorded in a store's database (none when it has no catalogue);
    raises ``ValueError`` for a damaged entry."""
    if CATALOGUE not in dialect.tables(conn):
        return []
    rows = conn.execute(f"SELECT name, spec FROM {CATALOGUE} ORDER BY name").fetchall()
    return [TableSpec.from_json(name, spec) for name, spec in rows]


def open_tables(settings: Settings, *, check_only: bool = False) -> Tables:
    """The tables of the configured store's database (``[components] store``), for a
    plugin's own tables. ``check_only``: a private in-memory database instead (a
    component built only to validate the configuration writes nothing). Raises what
    opening the store raises (a foreign, newer or lost database; a server down)."""
    if check_only:
        return Tables.memory()
    from .select import DEFAULT_STORE, open_store

    if settings.components.store != DEFAULT_STORE:
        store = open_store(settings)
        return Tables(store.conn, store.dialect, owner=store)
    path = Path(settings.kernel.state_dir) / DB_FILENAME
    ensure_state_db(path)  # a state database, not lost, migrated (the store's checks)
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    # WAL (the store set it) + NORMAL: a commit survives a crash of the process; these
    # tables are not the journal, so a power cut may cost their last commits
    conn.execute("PRAGMA synchronous = NORMAL")
    return Tables(conn, SQLITE)
