"""The queries a cycle runs cannot degrade with history: SQLite answers each from an
index (``SEARCH``), never by reading a whole table or index (``SCAN``) and never by
sorting into a temporary B-tree; the monitor's open orders come from a partial index
that holds only them. Checked with ``EXPLAIN QUERY PLAN`` on every statement the
store's per-cycle reads and writes send."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.models import Order, OrderStatus
from tradekernel.store import IntentState, Store


def _history(store: Store, helpers, n: int = 40) -> list[str]:
    """``n`` intents taken to submitted with a filled order each, plus one still open."""
    ids = []
    for i in range(n + 1):
        intent = helpers.make_intent(i)
        store.add_intent(intent, cycle_id=f"c{i}", broker="paper", ref_price=Decimal(1))
        for to in ("pending_approval", "approved", "executing"):
            store.transition(intent.id, to, actor="test")
        store.transition(intent.id, "submitted", actor="test", broker_order_id=f"B{i}")
        status = OrderStatus.FILLED if i < n else OrderStatus.WORKING
        store.upsert_order(
            Order(
                client_order_id=intent.client_order_id,
                broker_order_id=f"B{i}",
                symbol=intent.symbol,
                side=intent.side,
                quantity=intent.quantity,
                status=status,
            ),
            intent_id=intent.id,
        )
        ids.append(intent.id)
    return ids


def _plans(store: Store, statements: list[tuple[str, tuple]]) -> dict[str, list[str]]:
    out = {}
    for sql, args in statements:
        rows = store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
        out[sql] = [r[-1] for r in rows]
    return out


def _bad(detail: str) -> bool:
    scan = detail.startswith("SCAN") and detail not in (
        "SCAN CONSTANT ROW",  # SELECT (subquery), (subquery)
        "SCAN intents USING INDEX intents_open_orders",  # the partial index: open orders only
    )
    return scan or "TEMP B-TREE" in detail


def test_every_per_cycle_query_searches_an_index(state_dir, helpers):
    with Store.open(state_dir) as store:
        ids = _history(store, helpers)
        assert store._has_open_orders_index()  # asked once per store, not per cycle
        seen: list[tuple[str, tuple]] = []
        store.conn.set_trace_callback(lambda sql: seen.append(sql))
        try:
            open_orders = store.list_intents(state=IntentState.SUBMITTED, open_orders=True)
            for state in ("proposed", "pending_approval", "approved", "executing"):
                store.list_intents(state=state)
            store.list_intents(cycle_id="c3")
            store.get(ids[0])
            store.get_control("paused")
            store.checked_control("paused")
            store.journal_head()
            store.verified(ids[-1])
            store.get_order(open_orders[0].client_order_id)
            store.orders(intent_id=ids[-1])
            store.fills(open_orders[0].client_order_id)
            intent = helpers.make_intent(999)
            store.add_intent(intent, cycle_id="cz", broker="paper", ref_price=Decimal(1))
            store.transition(intent.id, "pending_approval", actor="test")
        finally:
            store.conn.set_trace_callback(None)
        assert [r.id for r in open_orders] == [ids[-1]]
        queries = [
            (sql, ())
            for sql in dict.fromkeys(seen)
            if sql.lstrip().upper().startswith(("SELECT", "WITH"))
        ]
        assert len(queries) >= 12
        plans = _plans(store, queries)
        bad = {sql: plan for sql, plan in plans.items() if any(_bad(d) for d in plan)}
        assert bad == {}, "\n".join(f"{sql}: {plan}" for sql, plan in bad.items())
        monitor = next(p for sql, p in plans.items() if "order_status NOT IN" in sql)
        assert any("intents_open_orders" in d for d in monitor), monitor


def test_open_orders_index_holds_only_open_orders(state_dir, helpers):
    with Store.open(state_dir) as store:
        ids = _history(store, helpers, n=10)
        indexed = store.conn.execute(
            "SELECT id FROM intents INDEXED BY intents_open_orders WHERE "
            "state = 'submitted' AND (order_status IS NULL OR order_status NOT IN "
            "('filled', 'cancelled', 'rejected'))"
        ).fetchall()
    assert [r[0] for r in indexed] == [ids[-1]]


def test_a_schema_2_database_gets_the_indexes(state_dir, helpers):
    import sqlite3

    import sqlite_utils
    from tradekernel.store import SCHEMA_VERSION, db

    state_dir.mkdir(parents=True)
    conn = sqlite3.connect(str(state_dir / "state.db"), isolation_level=None)
    old = sqlite_utils.Database(conn)
    old["tradekernel_meta"].insert_all(
        [{"key": "app", "value": "tradekernel"}, {"key": "schema_version", "value": "2"}],
        pk="key",
    )
    db.MIGRATIONS[1](old)
    db.MIGRATIONS[2](old)
    conn.close()
    with Store.open(state_dir) as store:
        _history(store, helpers, n=3)
        version = store.conn.execute(
            "SELECT value FROM tradekernel_meta WHERE key = 'schema_version'"
        ).fetchone()[0]
        indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
        open_orders = store.list_intents(state="submitted", open_orders=True)
    assert version == str(SCHEMA_VERSION) == "4"
    assert {"intents_open_orders", "intents_state_created", "fills_order_ts"} <= indexes
    assert "intents_state" not in indexes
    assert len(open_orders) == 1


def test_an_unmigrated_file_opened_as_it_is_still_lists_open_orders(state_dir, helpers):
    with Store.open(state_dir) as store:
        ids = _history(store, helpers, n=2)
        store.conn.execute("DROP INDEX intents_open_orders")  # as a schema 2 file has it
        store._open_orders_index = None
        open_orders = store.list_intents(state="submitted", open_orders=True)
    assert [r.id for r in open_orders] == [ids[-1]]
