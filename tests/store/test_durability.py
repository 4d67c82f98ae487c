"""Durability: every store is opened with ``synchronous=FULL`` except a backtest's own
(``durable=False``: ``synchronous=OFF``), which is checkpointed and synced when closed."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.store import Store

FULL, OFF = 2, 0


def _synchronous(store: Store) -> int:
    return store.conn.execute("PRAGMA synchronous").fetchone()[0]


def test_a_store_is_durable_by_default(state_dir):
    with Store.open(state_dir) as store:
        assert store.durable
        assert _synchronous(store) == FULL


def test_a_non_durable_store_is_written_out_when_closed(state_dir, helpers):
    intent = helpers.make_intent()
    with Store.open(state_dir, durable=False) as store:
        assert not store.durable
        assert _synchronous(store) == OFF
        store.add_intent(intent, cycle_id="c", broker="paper", ref_price=Decimal(1))
        store.transition(intent.id, "pending_approval", actor="test")
        with Store.open(state_dir) as other:  # another connection is still durable
            assert _synchronous(other) == FULL
            assert other.get(intent.id).state.value == "pending_approval"
    wal = state_dir / "state.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # all of it is in state.db
    with Store.open(state_dir) as store:
        assert _synchronous(store) == FULL
        assert store.get(intent.id).state.value == "pending_approval"
        assert store.verify_journal().ok
