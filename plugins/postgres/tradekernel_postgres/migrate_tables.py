"""``store migrate``'s second half: the plugins' own tables (``tradekernel.api.open_tables``).

Every table of the source that is not the store's own is copied:

* a table in the source's catalogue is created at the destination from its recorded
  :class:`~tradekernel.api.TableSpec` as the source's table enforces it (its columns'
  types, primary key and NOT NULL columns; plus any column it has beyond the spec), and
  recorded in the destination's catalogue;
* a table without a catalogue entry (an older ``state.db``'s ``notify_``, ``llm_``,
  ``backtests`` or ``events`` tables, made before the catalogue existed) gets a spec
  inferred from the source's columns: a declared type of SQLite's ``INTEGER``, ``REAL``,
  ``TEXT`` or ``BLOB`` family (PostgreSQL's integer, floating point, text and ``bytea``
  types) and its primary key. Such a table with a primary key is recorded in the
  destination's catalogue; one without (the ``events`` sink's table) is created with its
  columns alone and copied in its stored order;
* a table with a column whose type has no portable equivalent (``NUMERIC``, a date, no
  declared type) is not copied: it is listed, with the reason, and the migration goes on
  (a catalogued table with such a column beyond its spec is copied without it, and
  listed too).

Rows are copied with their ids, in primary key order, and the destination's row id is
then moved past them (``dialect.sync_row_id``), so the next insert there gets a fresh id.
Everything runs inside the transaction that copies the store's tables: all or nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import attrs
from tradekernel.api import (
    STORE_TABLES,
    GateFailed,
    TableSpec,
    TradekernelError,
    store_define_tables,
    store_table_catalogue,
)

_SQLITE_FAMILIES = (
    ("INT", int),
    ("CHAR", str),
    ("CLOB", str),
    ("TEXT", str),
    ("BLOB", bytes),
    ("REAL", float),
    ("FLOA", float),
    ("DOUB", float),
)
"""SQLite's type affinity rules (in its order of precedence), for the four plain types."""
_POSTGRES_TYPES = {
    "smallint": int,
    "integer": int,
    "bigint": int,
    "real": float,
    "double precision": float,
    "text": str,
    "character varying": str,
    "character": str,
    "bytea": bytes,
}
_TYPE_NAMES = {int: "int", float: "float", str: "str", bytes: "bytes"}
BATCH = 5_000
"""Rows read and written at a time (a large ``events`` table is never held whole, from
either store: :func:`batches`)."""


@attrs.frozen
class Plan:
    """One plugin table to copy: its spec (``None`` for a table without a primary key,
    created from ``columns`` alone and left out of the catalogue)."""

    name: str
    columns: dict[str, type]
    spec: TableSpec | None
    order: str
    """The ``ORDER BY`` the rows are read in ("" for none)."""


def _internal(name: str) -> bool:
    return name in STORE_TABLES or name.startswith("tradekernel_")


def _sqlite_shape(conn: Any, table: str) -> tuple[list[tuple[str, str, bool]], list[str]]:
    rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    columns = [(r[1], str(r[2] or ""), bool(r[3])) for r in rows]
    pk = [r[1] for r in sorted((r for r in rows if r[5]), key=lambda r: r[5])]
    return columns, pk


def _postgres_shape(conn: Any, table: str) -> tuple[list[tuple[str, str, bool]], list[str]]:
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    columns = [(r[0], r[1], r[2] == "NO") for r in rows]
    pk = conn.execute(
        "SELECT a.attname FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = "
        "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(? AS regclass) "
        "AND i.indisprimary ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)",
        (table,),
    ).fetchall()
    return columns, [r[0] for r in pk]


def _kind(declared: str, postgres: bool) -> type | None:
    if postgres:
        return _POSTGRES_TYPES.get(declared.lower())
    upper = declared.upper()
    return next((kind for family, kind in _SQLITE_FAMILIES if family in upper), None)


def infer(conn: Any, dialect: Any, table: str) -> tuple[Plan | None, str]:
    """The plan for copying ``table`` judged by its columns alone, or ``None`` and why not."""
    try:
        TableSpec(table, {"x": int}, "x")  # a name that cannot say more than a name
    except ValueError as exc:
        return None, f"not a portable name ({exc})"
    postgres = dialect.name == "postgres"
    shape, pk = (_postgres_shape if postgres else _sqlite_shape)(conn, table)
    columns: dict[str, type] = {}
    not_null = set()
    for name, declared, required in shape:
        kind = _kind(declared, postgres)
        if kind is None:
            return None, f"column {name!r} has type {declared or 'none'!r}, not a portable one"
        columns[name] = kind
        if required and name not in pk:
            not_null.add(name)
    try:
        spec = TableSpec(table, columns, pk, not_null=not_null) if pk else None
        if spec is None:
            TableSpec(table, columns, next(iter(columns)))  # the names, checked
    except (ValueError, StopIteration) as exc:
        return None, f"not a portable table ({exc})"
    order = ", ".join(pk) if pk else ("" if postgres else "rowid")
    return Plan(table, columns, spec, order), ""


def plan(src: Any) -> tuple[list[Plan], list[str]]:
    """What to copy of ``src``'s plugin tables, and one line per table that is not copied.
    Raises :class:`GateFailed` when the source's catalogue is damaged."""
    try:
        recorded = {s.name: s for s in store_table_catalogue(src.conn, src.dialect)}
    except ValueError as exc:
        raise GateFailed(f"{src.path}: {exc}; nothing was copied") from None
    plans, skipped = [], []
    present = src.dialect.tables(src.conn)
    for table in sorted(present | set(recorded)):
        if _internal(table):
            continue
        spec = recorded.get(table)
        if table not in present:  # recorded, never created: created empty
            plans.append(Plan(table, dict(spec.columns), spec, ", ".join(spec.pk)))
            continue
        inferred, why = infer(src.conn, src.dialect, table)
        if spec is None:
            if inferred is None:
                skipped.append(f"{table}: {why}")
            else:
                plans.append(inferred)
            continue
        if inferred is None:  # copied as recorded; what the catalogue does not name stays
            skipped.append(f"{table}: only the catalogued columns are copied ({why})")
        if inferred is not None:
            spec = _as_enforced(spec, inferred)
        plans.append(Plan(table, dict(spec.columns), spec, ", ".join(spec.pk)))
    return plans, skipped


def _as_enforced(spec: TableSpec, live: Plan) -> TableSpec:
    """``spec`` as the source's table really is: its columns' types, its primary key and
    its NOT NULL columns (an older catalogue may record what the table never enforced: a
    NOT NULL column added to older rows, a type or key a later version changed), plus any
    column the table has beyond the spec (one an older version added)."""
    columns = {c: live.columns.get(c, t) for c, t in spec.columns.items()}
    columns.update({c: t for c, t in live.columns.items() if c not in columns})
    required = live.spec.not_null if live.spec is not None else frozenset()
    pk = live.spec.pk if live.spec is not None else spec.pk
    return attrs.evolve(spec, columns=columns, pk=pk, not_null=spec.not_null & required)


def holding_rows(dst: Any, plans: list[Plan]) -> list[str]:
    """The destination's plugin tables that hold rows already (its catalogue, when
    damaged: a destination that was written to)."""
    try:
        recorded = {s.name for s in store_table_catalogue(dst.conn, dst.dialect)}
    except ValueError:
        return ["tradekernel_tables (damaged)"]
    names = {p.name for p in plans} | recorded
    present = dst.dialect.tables(dst.conn)
    return [
        t
        for t in sorted(names & present)
        if dst.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    ]


def _create_plain(conn: Any, dialect: Any, plan: Plan) -> None:
    types = dialect.column_types
    columns = ", ".join(f"{c} {types[_TYPE_NAMES[k]]}" for c, k in plan.columns.items())
    conn.execute(f"CREATE TABLE IF NOT EXISTS {plan.name} ({columns})")
    have = set(dialect.columns(conn, plan.name))
    for column, kind in plan.columns.items():
        if column not in have:
            conn.execute(f"ALTER TABLE {plan.name} ADD COLUMN {column} {types[_TYPE_NAMES[kind]]}")


_TAKES = {int: (int,), float: (float, int), str: (str,), bytes: (bytes,)}
"""The Python values each column type takes unchanged on both stores: SQLite keeps a
``1.5`` in an ``INTEGER`` column or text in a ``BLOB`` one, which PostgreSQL's casts
would silently round or turn into bytes."""


def _refuse_value(
    p: Plan, dst: Any, column: str, value: Any, n: int, row: tuple, columns: list[str]
) -> None:
    kind = _TYPE_NAMES[p.columns[column]]
    row_id = p.spec.row_id if p.spec is not None else None
    where = f"row id {row[columns.index(row_id)]}" if row_id in columns else f"row {n}"
    raise GateFailed(
        f"{p.name}.{column}: {where} holds a {type(value).__name__} where the column is "
        f"{kind} (the destination would refuse or change it); the copy was rolled back, "
        "the destination is as it was: nothing was copied; fix the row at the source"
    )


def _one_line(exc: BaseException) -> str:
    """``exc``'s first line, at most about 200 characters cut on a word, without any value
    a row held (SQLite quotes the text it could not decode)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if "Could not decode to UTF-8" in text:
        text = text.split(" with text ", 1)[0]
    if len(text) > 200:
        text = text[:200].rsplit(" ", 1)[0] + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def _gate(what: str, dst: Any) -> Iterator[None]:
    """What goes wrong copying ``what`` (damaged source data, a value or a table the
    destination cannot take) as one :class:`GateFailed` line; the caller's transaction
    rolls the whole copy back. An error of the store's own vocabulary (the server gone,
    its disk full) passes as it is."""
    try:
        yield
    except TradekernelError:
        raise
    except Exception as exc:
        raise GateFailed(
            f"{what}: cannot be copied to {dst.path} ({_one_line(exc)}); the copy was "
            "rolled back, the destination is as it was: nothing was copied"
        ) from None


def copy(src: Any, dst: Any, conn: Any, plans: list[Plan]) -> dict[str, int]:
    """Create each planned table on ``conn`` (the destination's open write transaction),
    copy its rows with their ids and move its row id past them: rows per table. Raises
    :class:`GateFailed` when a table or a row cannot be read or written."""
    specs = [p.spec for p in plans if p.spec is not None]
    if specs:
        with _gate("the plugin tables", dst):
            store_define_tables(conn, dst.dialect, *specs)
    present = src.dialect.tables(src.conn)
    rows: dict[str, int] = {}
    for p in plans:
        with _gate(p.name, dst):
            rows[p.name] = _copy_table(src, dst, conn, p, present)
    return rows


CURSOR = "tradekernel_migrate"
"""The server-side cursor a PostgreSQL source is read through."""


def batches(src: Any, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``sql`` on the source, :data:`BATCH` at a time, never all held: a
    PostgreSQL source through a server-side cursor (inside the source's snapshot
    transaction; a client-side one would fetch the whole result first)."""
    if src.dialect.name != "postgres":
        cursor = src.conn.execute(sql)
        while batch := [tuple(r) for r in cursor.fetchmany(BATCH)]:
            yield batch
        return
    import psycopg

    try:
        with src.conn.raw.cursor(name=CURSOR) as cursor:
            cursor.itersize = BATCH
            cursor.execute(sql)
            while batch := [tuple(r) for r in cursor.fetchmany(BATCH)]:
                yield batch
    except psycopg.Error as exc:
        raise src.conn.mapped(exc) from None


def _copy_table(src: Any, dst: Any, conn: Any, p: Plan, present: set[str]) -> int:
    if p.spec is None:
        _create_plain(conn, dst.dialect, p)
    if p.name not in present:
        return 0
    have = set(src.dialect.columns(src.conn, p.name))
    columns = [c for c in p.columns if c in have]  # a damaged entry may name more
    if not columns:
        return 0
    names = ", ".join(columns)
    by = [c for c in p.order.split(", ") if c in have or c == "rowid"] if p.order else []
    order = f" ORDER BY {', '.join(by)}" if by else ""
    insert = f"INSERT INTO {p.name} ({names}) VALUES ({', '.join('?' * len(columns))})"
    takes = [_TAKES[p.columns[c]] for c in columns]
    count = 0
    for batch in batches(src, f"SELECT {names} FROM {p.name}{order}"):
        for n, row in enumerate(batch, count + 1):
            for column, value, kinds in zip(columns, row, takes, strict=True):
                if value is not None and type(value) not in kinds:
                    _refuse_value(p, dst, column, value, n, row, columns)
        conn.executemany(insert, batch)
        count += len(batch)
    if p.spec is not None and p.spec.row_id is not None:
        dst.dialect.sync_row_id(conn, p.name, p.spec.row_id)
    return count
