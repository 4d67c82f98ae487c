"""Intent lists are reused while the database did not change, and never when it did:
this store's own writes, another connection's (another process's) commits and a raw
edit behind the store's back are all seen by the next read."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from decimal import Decimal

from tradekernel.store import IntentState, Store


def _add(store: Store, helpers, n: int) -> str:
    intent = helpers.make_intent(n)
    store.add_intent(intent, cycle_id="c", broker="paper", ref_price=Decimal(1))
    store.transition(intent.id, "pending_approval", actor="test")
    return intent.id


def test_an_unchanged_database_is_not_decoded_again(state_dir, helpers):
    with Store.open(state_dir) as store:
        _add(store, helpers, 1)
        first = store.list_intents(state="pending_approval")
        seen: list[str] = []
        store.conn.set_trace_callback(seen.append)
        second = store.list_intents(state="pending_approval")
        store.conn.set_trace_callback(None)
    assert first == second and first is not second
    assert seen == ["PRAGMA data_version"]


def test_own_writes_are_seen(state_dir, helpers):
    with Store.open(state_dir) as store:
        iid = _add(store, helpers, 1)
        assert [r.id for r in store.list_intents(state="pending_approval")] == [iid]
        store.transition(iid, "approved", actor="test")
        assert store.list_intents(state="pending_approval") == []
        assert [r.id for r in store.list_intents(state=IntentState.APPROVED)] == [iid]


def test_another_connections_commits_are_seen(state_dir, helpers):
    with Store.open(state_dir) as store, Store.open(state_dir) as other:
        iid = _add(store, helpers, 1)
        assert [r.id for r in store.list_intents(state="pending_approval")] == [iid]
        other.transition(iid, "approved", actor="operator")
        assert store.list_intents(state="pending_approval") == []
        second = _add(other, helpers, 2)
        assert [r.id for r in store.list_intents(state="pending_approval")] == [second]


def test_another_process_and_a_raw_edit_are_seen(state_dir, helpers):
    with Store.open(state_dir) as store:
        iid = _add(store, helpers, 1)
        assert len(store.list_intents(state="pending_approval")) == 1
        code = (
            "import sys; from tradekernel.store import Store\n"
            "with Store.open(sys.argv[1]) as s: s.transition(sys.argv[2], 'approved', "
            "actor='operator')\n"
        )
        subprocess.run([sys.executable, "-c", code, str(state_dir), iid], check=True)
        assert store.list_intents(state="pending_approval") == []
        assert [r.id for r in store.list_intents(state="approved")] == [iid]
        raw = sqlite3.connect(state_dir / "state.db")
        raw.execute("UPDATE intents SET reason = 'edited' WHERE id = ?", (iid,))
        raw.commit()
        raw.close()
        assert store.list_intents(state="approved")[0].reason == "edited"
