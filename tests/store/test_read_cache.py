"""The store's reuse of its last read (``list_intents``) never changes what a caller
sees: a caller that changes a record's verdicts does not change later reads, and a
missing schema-3 index costs speed, never the monitor's query."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from tradekernel.models import GuardVerdict
from tradekernel.store import IntentState, Store

from .conftest import make_intent


def _pending(store: Store) -> None:
    intent = make_intent(0)
    store.add_intent(intent, cycle_id="c1", broker="rec", ref_price=Decimal("100"))
    store.transition(
        intent.id,
        IntentState.PENDING_APPROVAL,
        actor="guards",
        verdicts=[GuardVerdict.allowed("max_notional")],
    )


def test_a_caller_changing_a_record_does_not_change_later_reads(tmp_path):
    with Store.open(tmp_path) as store:
        _pending(store)
        first = store.list_intents(state="pending_approval")
        assert len(first[0].verdicts) == 1
        again = store.list_intents(state="pending_approval")  # served from the last read
        again[0].verdicts.clear()
        assert len(store.list_intents(state="pending_approval")[0].verdicts) == 1


def test_a_dropped_open_orders_index_slows_the_query_but_never_breaks_it(tmp_path):
    with Store.open(tmp_path) as store:
        _pending(store)
        assert store.list_intents(state="submitted", open_orders=True) == []
        raw = sqlite3.connect(tmp_path / "state.db")
        raw.execute("DROP INDEX intents_open_orders")
        raw.commit()
        raw.close()
        assert store.list_intents(state="submitted", open_orders=True) == []
