"""The store conformance suite: every store backend (SQLite and PostgreSQL, the
``backend`` fixture) keeps the same guarantees.

CAS transitions and stale versions, the journal chain and its verification, controls,
orders and fills, approvals and quorum, conflicts and shares, schema versions, and the
refusals: a foreign database, a newer schema, a journal row tampered with or deleted,
a lost or rolled-back database.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from tradekernel.models import Fill, GuardVerdict, Order, OrderStatus
from tradekernel.portfolio.shares import Share
from tradekernel.store import (
    DuplicateApproval,
    IllegalTransition,
    IntentState,
    SchemaError,
    StaleVersion,
    StateConflict,
    StateLost,
)
from tradekernel.store.states import ApprovalExpired

from .conftest import AS_OF, make_intent


def _add(store, n=0, **kw):
    intent = make_intent(n, **kw)
    store.add_intent(intent, cycle_id="c1", broker="rec", ref_price=Decimal("100"))
    return intent.id


def _pending(store, n=0, quorum=None):
    iid = _add(store, n)
    payload = None if quorum is None else {"quorum": quorum}
    store.transition(
        iid,
        IntentState.PENDING_APPROVAL,
        actor="guards",
        verdicts=[GuardVerdict.allowed("max_notional")],
        expires_at=AS_OF + timedelta(days=3650),
        payload=payload,
    )
    return iid


@pytest.fixture
def store(backend, state_dir):
    with backend.open(state_dir) as s:
        yield s


# -- CAS transitions -------------------------------------------------------------------


def test_transitions_compare_and_set_and_refuse_stale_versions(store):
    iid = _pending(store)
    record = store.get(iid)
    assert (record.state, record.version) == (IntentState.PENDING_APPROVAL, 2)
    rows = len(store.journal_rows())
    with pytest.raises(StateConflict) as conflict:
        store.transition(iid, IntentState.EXECUTING, expected_from="approved", actor="x")
    assert conflict.value.current_state == "pending_approval"
    with pytest.raises(StaleVersion):
        store.transition(iid, IntentState.APPROVED, expected_version=1, actor="x")
    with pytest.raises(IllegalTransition):
        store.transition(iid, IntentState.SUBMITTED, actor="x")
    assert len(store.journal_rows()) == rows  # nothing written by a refusal
    approved = store.transition(iid, IntentState.APPROVED, expected_version=2, actor="op")
    assert (approved.state, approved.version) == (IntentState.APPROVED, 3)
    claimed = store.transition(iid, "executing", expected_from="approved", actor="exec")
    assert claimed.executing_since is not None
    with pytest.raises(StateConflict, match="already claimed"):
        store.transition(iid, "executing", expected_from="approved", actor="exec")
    assert store.verify_journal().ok


def test_add_intent_is_idempotent_and_lists_in_order(store):
    first = _add(store, 1)
    second = _add(store, 2)
    assert _add(store, 1) == first
    assert [r.id for r in store.list_intents()] == [first, second]
    assert [r.id for r in store.list_intents(state="proposed", cycle_id="c1")] == [first, second]
    assert store.list_intents(state="approved") == []
    assert len(store.journal_rows()) == 2


def test_a_write_by_another_connection_is_read(backend, state_dir, store):
    iid = _pending(store)
    assert store.list_intents(state="pending_approval")[0].id == iid
    with backend.open(state_dir) as other:
        other.transition(iid, IntentState.APPROVED, actor="op")
    assert store.list_intents(state="pending_approval") == []
    assert store.get(iid).state is IntentState.APPROVED


# -- the journal -----------------------------------------------------------------------


def test_journal_chain_verifies_and_is_read_back(store):
    iid = _pending(store)
    store.set_control("kill_switch", True, actor="op", reason="test")
    rows = store.journal_rows()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert [r.to_state for r in store.journal_rows(iid)] == ["proposed", "pending_approval"]
    result = store.verify_journal()
    assert (result.ok, result.rows_checked) == (True, 3)
    assert store.journal_head() == (3, rows[-1].hash)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE journal SET reason = 'edited' WHERE seq = 2",
        "DELETE FROM journal WHERE seq = 2",
        "UPDATE journal SET payload = '{\"x\": 1}' WHERE seq = 1",
    ],
)
def test_a_tampered_or_deleted_journal_row_fails_verification(backend, store, sql):
    _pending(store, 1)
    _pending(store, 2)
    assert store.verify_journal().ok
    backend.tamper(store, sql)
    result = store.verify_journal()
    assert not result.ok
    assert result.first_bad_seq in (1, 2, 3)


def test_a_row_changed_behind_the_journal_fails_verification(backend, store):
    iid = _pending(store)
    backend.tamper(store, "UPDATE intents SET state = 'approved' WHERE id = ?", (iid,))
    result = store.verify_journal()
    assert not result.ok and result.entity == iid
    assert store.journal_disagreement(iid) is not None


def test_postgres_journal_is_append_only(backend, store):
    if backend.name != "postgres":
        pytest.skip("SQLite's journal is protected by verification alone")
    _pending(store)
    for sql in ("UPDATE journal SET reason = 'x'", "DELETE FROM journal", "TRUNCATE journal"):
        with pytest.raises(Exception, match="append-only"):
            store.conn.execute(sql)
    assert store.verify_journal().ok


def test_concurrent_appends_keep_one_chain(backend, state_dir, store):
    import threading

    errors = []

    def work(k):
        try:
            with backend.open(state_dir) as s:
                for i in range(10):
                    s.set_control(f"k{k}", i, actor="t")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = store.verify_journal()
    assert (result.ok, result.rows_checked) == (True, 40)


# -- controls --------------------------------------------------------------------------


def test_controls_are_journaled_compared_and_checked(backend, store):
    store.set_control("trading_state", "paused", actor="op")
    assert store.get_control("trading_state") == "paused"
    assert store.get_control("missing", 7) == 7
    assert store.checked_control("trading_state") == ("paused", None)
    assert store.checked_controls(["other"]) == {
        "trading_state": ("paused", None),
        "other": (None, None),
    }
    text = store.control_text("trading_state")
    with pytest.raises(StateConflict):
        store.set_controls(
            [("trading_state", "running", "")], actor="op", expect={"trading_state": "x"}
        )
    store.set_controls(
        [("trading_state", "running", "")], actor="op", expect={"trading_state": text}
    )
    assert store.controls() == {"trading_state": "running"}
    backend.tamper(store, "UPDATE control SET value = '\"paused\"' WHERE key = 'trading_state'")
    value, problem = store.checked_control("trading_state")
    assert value is None and "journal" in problem
    assert store.checked_controls()["trading_state"][1] is not None
    assert not store.verify_journal().ok


# -- orders and fills ------------------------------------------------------------------


def _order(coid, status, filled="0", reason=None):
    return Order(
        client_order_id=coid,
        symbol="AAA",
        side="buy",
        quantity=Decimal(10),
        status=status,
        filled_quantity=Decimal(filled),
        reason=reason,
    )


def test_orders_keep_terminal_status_and_filled_quantity(store):
    iid = _add(store)
    coid = store.get(iid).client_order_id
    store.upsert_order(_order(coid, OrderStatus.PARTIAL_FILL, "4"))
    store.upsert_order(_order(coid, OrderStatus.WORKING, "2"))  # stale: keeps 4 filled
    assert store.get_order(coid).filled_quantity == Decimal(4)
    store.upsert_order(_order(coid, OrderStatus.FILLED, "10"))
    store.upsert_order(_order(coid, OrderStatus.WORKING, "0"))  # never after terminal
    assert store.get_order(coid).status is OrderStatus.FILLED
    record = store.get(iid)
    assert (record.order_status, record.filled_quantity) == ("filled", Decimal(10))
    assert [o.client_order_id for o in store.orders(intent_id=iid)] == [coid]
    assert store.unknown_client_order_ids([coid, "tk-none"]) == ["tk-none"]


def test_fills_are_recorded_once_in_time_order(store):
    iid = _add(store)
    coid = store.get(iid).client_order_id
    late = Fill("f2", coid, "AAA", "buy", 3, 101, ts=AS_OF + timedelta(seconds=5))
    early = Fill("f1", coid, "AAA", "buy", 2, 100, ts=AS_OF)
    assert store.record_fill(late) is True
    assert store.record_fill(early) is True
    assert store.record_fill(early) is False
    assert [f.fill_id for f in store.fills(coid)] == ["f1", "f2"]
    assert [f.fill_id for f in store.fills()] == ["f1", "f2"]
    assert store.strategy_fills(iid) == {"rules": Decimal(5)}


def test_unknown_orders_are_reported_once(store):
    assert store.mark_order_unknown("tk-1") is True
    assert store.mark_order_unknown("tk-1") is False
    assert store.unknown_orders() == ["tk-1"]
    assert store.mark_order_known("tk-1") is True
    assert store.mark_order_known("tk-1") is False
    assert store.unknown_orders() == []


# -- approvals and quorum --------------------------------------------------------------


def test_quorum_counts_distinct_approvers(store):
    iid = _pending(store, quorum=2)
    record, n = store.record_approval(iid, actor="alice", required=2, deadline_clock=lambda: AS_OF)
    assert (record.state, n) == (IntentState.PENDING_APPROVAL, 1)
    with pytest.raises(DuplicateApproval):
        store.record_approval(iid, actor=" Alice ", required=2, deadline_clock=lambda: AS_OF)
    with pytest.raises(StaleVersion):
        store.record_approval(iid, actor="bob", required=2, expected_version=1)
    record, n = store.record_approval(iid, actor="bob", required=2, deadline_clock=lambda: AS_OF)
    assert (record.state, n) == (IntentState.APPROVED, 2)
    with pytest.raises(StateConflict):
        store.record_approval(iid, actor="carol", required=2, deadline_clock=lambda: AS_OF)
    assert store.verify_journal().ok


def test_an_expired_approval_window_is_refused(store):
    iid = _pending(store)
    late = AS_OF + timedelta(days=3651)
    with pytest.raises(ApprovalExpired):
        store.transition(iid, "approved", actor="op", deadline_clock=lambda: late)
    assert store.get(iid).state is IntentState.PENDING_APPROVAL


# -- conflicts and shares --------------------------------------------------------------


def test_conflicts_and_shares_are_journaled_once(backend, store):
    net = _add(store, 1)
    shares = [Share("a", "s1", Decimal(3)), Share("b", "s2", Decimal(-1))]
    assert store.record_conflict("cfl_1", cycle_id="c1", payload={}, shares=shares, netted_id=net)
    assert not store.record_conflict("cfl_1", cycle_id="c1", payload={}, shares=shares)
    assert store.shares(net) == shares
    assert store.netted_intents("a") == [net]
    assert store.input_history(["s1", net, "zzz"]) == ({"s1": net}, {net})
    assert store.verify_journal().ok
    backend.tamper(store, "UPDATE strategy_shares SET amount = '9' WHERE source_intent_id = 's1'")
    assert not store.verify_journal().ok


# -- schema, identity, refusals ------------------------------------------------------


def test_reopening_keeps_everything_and_migrates_nothing(backend, state_dir, store):
    iid = _pending(store)
    store.close()
    with backend.open(state_dir, create=False) as again:
        assert again.get(iid).state is IntentState.PENDING_APPROVAL
        version = again.conn.execute(
            "SELECT value FROM tradekernel_meta WHERE key = 'schema_version'"
        ).fetchone()[0]
        assert int(version) >= 1
        assert again.verify_journal().ok


def test_a_newer_schema_is_refused_before_anything_is_written(backend, state_dir, store):
    _pending(store)
    store.conn.execute("UPDATE tradekernel_meta SET value = '999' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(SchemaError, match="newer tradekernel"):
        backend.open(state_dir)


def test_a_database_of_another_app_is_refused(backend, state_dir, store):
    store.conn.execute("UPDATE tradekernel_meta SET value = 'other' WHERE key = 'app'")
    store.close()
    with pytest.raises(SchemaError, match="not a tradekernel state database"):
        backend.open(state_dir)


def test_a_foreign_database_is_refused_and_left_alone(backend, state_dir):
    conn = backend.raw(state_dir)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(SchemaError, match="foreign tables: customers"):
        backend.open(state_dir)
    conn = backend.raw(state_dir)
    assert backend.tables(conn) == {"customers"}
    conn.close()


def test_a_missing_store_is_not_created_when_told_not_to(backend, state_dir):
    from tradekernel.errors import NotFoundError

    with pytest.raises(NotFoundError):
        backend.open(state_dir, create=False)


def test_a_truncated_journal_is_lost_state(backend, state_dir, store):
    _pending(store, 1)
    _pending(store, 2)
    store.close()  # writes the journal anchor
    with backend.open(state_dir, check_anchor=False) as s:
        backend.tamper(s, "DELETE FROM journal WHERE seq > 1")
    with pytest.raises(StateLost, match="journal truncated"):
        backend.open(state_dir)
    with backend.open(state_dir, read_only=True) as s:
        assert not s.verify_journal().ok


def test_an_empty_database_behind_an_anchor_is_lost_state(backend, state_dir, store):
    _pending(store)
    store.close()
    backend.wipe(state_dir)
    with pytest.raises(StateLost):
        backend.open(state_dir)


def test_a_transition_returns_the_record_it_committed_not_a_later_one(backend, state_dir):
    """Another writer may change the intent between the commit and the caller's next
    read: what transition and record_approval return is the record as committed."""
    with backend.open(state_dir) as other:
        moved = []

        def meanwhile(change):
            if change.to_state == "approved" and not moved:
                moved.append(other.transition(change.intent_id, "executing", actor="exec"))

        with backend.open(state_dir, on_transition=meanwhile) as store:
            iid = _pending(store)
            approved = store.transition(iid, IntentState.APPROVED, actor="op")
            assert (approved.state, approved.version) == (IntentState.APPROVED, 3)
            assert moved and store.get(iid).state is IntentState.EXECUTING
            moved.clear()
            second = _pending(store, 1)
            record, n = store.record_approval(second, actor="alice", required=1)
            assert (record.state, n) == (IntentState.APPROVED, 1)
            assert moved and store.get(second).state is IntentState.EXECUTING
