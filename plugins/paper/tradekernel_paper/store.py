"""The paper account's SQLite database (schema via sqlite-utils, writes in transactions).

Numbers are stored as text so Decimals round-trip exactly. Several processes may share
one database: every write runs inside ``BEGIN IMMEDIATE``, and ``PRAGMA data_version``
tells a process cheaply when another one has committed, so it reloads only then.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekernel.api import Fill, OrderStatus, OrderType, Side, TimeInForce

from .ledger import Holding, Ledger, WorkingOrder

SCHEMA_VERSION = "1"
OPEN_STATUSES = "('working', 'partial_fill')"  # OrderStatus values of open orders, as SQL


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _fill(r: dict) -> Fill:
    return Fill(
        fill_id=r["fill_id"],
        client_order_id=r["client_order_id"],
        symbol=r["symbol"],
        side=r["side"],
        quantity=Decimal(r["quantity"]),
        price=Decimal(r["price"]),
        ts=datetime.fromisoformat(r["ts"]),
        commission=Decimal(r["commission"]),
        broker_order_id=r["broker_order_id"],
    )


def _order(r: dict, fill_count: int = 0) -> WorkingOrder:
    return WorkingOrder(
        client_order_id=r["client_order_id"],
        seq=r["seq"],
        symbol=r["symbol"],
        side=Side(r["side"]),
        quantity=Decimal(r["quantity"]),
        order_type=OrderType(r["order_type"]),
        limit_price=_dec(r["limit_price"]),
        time_in_force=TimeInForce(r["time_in_force"]),
        status=OrderStatus(r["status"]),
        ref_ts=_ts(r["ref_ts"]),
        est_price=_dec(r["est_price"]),
        filled_quantity=Decimal(r["filled_quantity"]),
        avg_fill_price=_dec(r["avg_fill_price"]),
        reason=r["reason"],
        code=r["code"],
        intent_id=r["intent_id"],
        submitted_at=_ts(r["submitted_at"]),
        updated_at=_ts(r["updated_at"]),
        fill_count=fill_count,
    )


TABLES: dict[str, tuple[dict[str, type], str]] = {
    "account": (
        {"id": int, "cash": str, "initial_cash": str, "realized_pnl": str, "schema": str},
        "id",
    ),
    "positions": ({"symbol": str, "quantity": str, "avg_price": str}, "symbol"),
    "orders": (
        {
            "client_order_id": str,
            "seq": int,
            "symbol": str,
            "side": str,
            "quantity": str,
            "order_type": str,
            "limit_price": str,
            "time_in_force": str,
            "status": str,
            "ref_ts": str,
            "est_price": str,
            "filled_quantity": str,
            "avg_fill_price": str,
            "reason": str,
            "code": str,
            "intent_id": str,
            "submitted_at": str,
            "updated_at": str,
        },
        "client_order_id",
    ),
    "fills": (
        {
            "fill_id": str,
            "seq": int,
            "client_order_id": str,
            "symbol": str,
            "side": str,
            "quantity": str,
            "price": str,
            "commission": str,
            "ts": str,
            "broker_order_id": str,
        },
        "fill_id",
    ),
}
"""Each table's columns (``int``: INTEGER, ``str``: TEXT) and primary key."""
INDEXES = (("orders", "seq"), ("fills", "seq"), ("orders", "status"), ("fills", "client_order_id"))
"""Reloads read only open orders and their fills; lookups go by client order id."""


def schema_sql() -> list[str]:
    """The statements that create the account's tables and indexes when missing: the very
    SQL sqlite-utils' ``table.create(columns, pk=pk)`` and ``create_index`` write (a test
    compares them), without importing sqlite-utils on the start-up path."""
    statements = []
    for name, (columns, pk) in TABLES.items():
        cols = ",\n".join(
            f'   "{col}" {"INTEGER" if kind is int else "TEXT"}'
            + (" PRIMARY KEY" if col == pk else "")
            for col, kind in columns.items()
        )
        statements.append(f'CREATE TABLE IF NOT EXISTS "{name}" (\n{cols}\n);')
    for table, column in INDEXES:
        statements.append(
            f'CREATE INDEX IF NOT EXISTS "idx_{table}_{column}"\n    ON "{table}" ("{column}");'
        )
    return statements


class PaperStore:
    """Reads and writes one paper account database."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        # what sqlite_utils.Database(conn) and its enable_wal() run on the connection
        self.conn.execute("PRAGMA recursive_triggers=on;")
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.conn.execute("PRAGMA journal_mode=wal;")
        self.durable = durable
        self.conn.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
        self._create_schema()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """Rows of ``sql`` as dicts (what ``sqlite_utils.Database.query`` yields)."""
        cursor = self.conn.execute(sql, params)
        keys = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(keys, row, strict=True))

    def _create_schema(self) -> None:
        for statement in schema_sql():
            self.conn.execute(statement)

    # -- change detection and transactions ----------------------------------------------

    def data_version(self) -> int:
        """Changes whenever *another* connection commits to the database."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error): one writer at a time.
        Inside an open transaction this joins it."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- loading ---------------------------------------------------------------------------

    def init_account(self, cash: Decimal) -> None:
        """Create the account row with ``cash`` unless the database already has one."""
        self.conn.execute(
            "INSERT OR IGNORE INTO account (id, cash, initial_cash, realized_pnl, schema) "
            "VALUES (1, ?, ?, '0', ?)",
            (str(cash), str(cash), SCHEMA_VERSION),
        )

    def load(self, cache_size: int, keep: Ledger | None = None) -> Ledger:
        """The account as a :class:`Ledger`: cash, positions, the open orders and their
        fills; closed orders stay on disk (inside the caller's transaction or not).

        ``keep``: a previous ledger whose cache of closed orders (and their fills) carries
        over: closed orders never change, so only the open state is read again. Reading
        is proportional to open orders and positions, never to the history.
        """
        row = self.conn.execute(
            "SELECT cash, initial_cash, realized_pnl FROM account WHERE id = 1"
        ).fetchone()
        ledger = Ledger(
            cash=Decimal(row[0]),
            initial_cash=Decimal(row[1]),
            realized_pnl=Decimal(row[2]),
            cache_size=cache_size,
        )
        for symbol, qty, avg in self.conn.execute(
            "SELECT symbol, quantity, avg_price FROM positions"
        ):
            ledger.positions[symbol] = Holding(Decimal(qty), Decimal(avg))
        ledger.next_seq = self.conn.execute("SELECT max(seq) FROM orders").fetchone()[0] or 0
        ledger.next_seq += 1
        ledger.fill_seq = self.conn.execute("SELECT max(seq) FROM fills").fetchone()[0] or 0
        if keep is not None:
            for cid, order in keep.recent.items():
                ledger.add_order(order, keep.fills_by_order.get(cid))
        fills: dict[str, list[Fill]] = {}
        for r in self._query(
            f"SELECT f.* FROM fills f JOIN orders o ON o.client_order_id = f.client_order_id "
            f"WHERE o.status IN {OPEN_STATUSES} ORDER BY f.seq"
        ):
            fill = _fill(r)
            fills.setdefault(fill.client_order_id, []).append(fill)
        for r in self._query(f"SELECT * FROM orders WHERE status IN {OPEN_STATUSES} ORDER BY seq"):
            own = fills.get(r["client_order_id"], [])
            order = _order(r, len(own))
            # Bars up to the last fill (or submission) were evaluated already; any bar
            # after that is evaluated again, which gives the same answer it gave before.
            checked = [t for t in (order.ref_ts, own[-1].ts if own else None) if t]
            order.checked_ts = max(checked) if checked else None
            ledger.add_order(order, own)
        return ledger

    # -- history (closed orders are read on demand) ----------------------------------------

    def order(self, client_order_id: str) -> WorkingOrder | None:
        """One order from disk, or ``None``."""
        rows = list(
            self._query("SELECT * FROM orders WHERE client_order_id = ?", [client_order_id])
        )
        return _order(rows[0]) if rows else None

    def client_order_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` client order ids starting with ``prefix``, newest first."""
        sql = "SELECT client_order_id FROM orders WHERE substr(client_order_id, 1, ?) = ? "
        sql += "ORDER BY seq DESC LIMIT ?"
        return [r[0] for r in self.conn.execute(sql, [len(prefix), prefix, int(limit)])]

    def orders(self) -> Iterator[WorkingOrder]:
        """Every order in submission order."""
        for r in self._query("SELECT * FROM orders ORDER BY seq"):
            yield _order(r)

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Every fill in execution order, or those of one order."""
        if client_order_id is None:
            return [_fill(r) for r in self._query("SELECT * FROM fills ORDER BY seq")]
        sql = "SELECT * FROM fills WHERE client_order_id = ? ORDER BY seq"
        return [_fill(r) for r in self._query(sql, [client_order_id])]

    def count(self, table: str) -> int:
        """Rows in ``orders`` or ``fills``."""
        return self.conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]

    # -- writing (call inside transaction()) ------------------------------------------------

    def save_order(self, order: WorkingOrder) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO orders (client_order_id, seq, symbol, side, quantity, "
            "order_type, limit_price, time_in_force, status, ref_ts, est_price, "
            "filled_quantity, avg_fill_price, reason, code, intent_id, submitted_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.client_order_id,
                order.seq,
                order.symbol,
                str(order.side),
                str(order.quantity),
                str(order.order_type),
                _text(order.limit_price),
                str(order.time_in_force),
                str(order.status),
                _text(order.ref_ts),
                _text(order.est_price),
                str(order.filled_quantity),
                _text(order.avg_fill_price),
                order.reason,
                order.code,
                order.intent_id,
                _text(order.submitted_at),
                _text(order.updated_at),
            ),
        )

    def save_fill(self, fill: Fill, seq: int) -> None:
        self.conn.execute(
            "INSERT INTO fills (fill_id, seq, client_order_id, symbol, side, quantity, price, "
            "commission, ts, broker_order_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fill.fill_id,
                seq,
                fill.client_order_id,
                fill.symbol,
                str(fill.side),
                str(fill.quantity),
                str(fill.price),
                str(fill.commission),
                fill.ts.isoformat(),
                fill.broker_order_id,
            ),
        )

    def save_account(self, ledger: Ledger, symbols: set[str]) -> None:
        """Write cash, realized P&L and the positions of ``symbols``."""
        self.conn.execute(
            "UPDATE account SET cash = ?, realized_pnl = ? WHERE id = 1",
            (str(ledger.cash), str(ledger.realized_pnl)),
        )
        for symbol in symbols:
            held = ledger.positions.get(symbol)
            if held is None:
                self.conn.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
            else:
                self.conn.execute(
                    "INSERT OR REPLACE INTO positions (symbol, quantity, avg_price) "
                    "VALUES (?, ?, ?)",
                    (symbol, str(held.quantity), str(held.avg_price)),
                )

    def close(self) -> None:
        """Close the connection; a non-durable store is checkpointed and synced first."""
        try:
            if not self.durable and str(self.path) != ":memory:":
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            self.conn.close()
