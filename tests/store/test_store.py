"""The store: state machine, CAS, journaling, control state, orders and fills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradekernel.errors import NotFoundError, RefusedError
from tradekernel.models import Fill, GuardVerdict, Order, OrderStatus
from tradekernel.store import (
    TRANSITIONS,
    IllegalTransition,
    IntentNotFound,
    IntentState,
    StateConflict,
    Store,
)


def test_add_intent_is_idempotent_and_journaled(store, helpers):
    intent = helpers.make_intent(1)
    first = store.add_intent(intent, cycle_id="c1", broker="paper", ref_price=Decimal("12.5"))
    again = store.add_intent(intent, cycle_id="c1", broker="paper")
    assert first == again
    assert first.state is IntentState.PROPOSED and first.version == 1
    assert first.ref_price == Decimal("12.5")
    assert first.client_order_id == intent.client_order_id
    assert first.intent == intent
    rows = store.journal_rows(intent.id)
    assert [(r.from_state, r.to_state) for r in rows] == [(None, "proposed")]


def test_happy_path_records_columns_and_versions(store, helpers):
    intent = helpers.make_intent(2)
    store.add_intent(intent, cycle_id="c9", broker="paper")
    verdicts = [GuardVerdict.allowed("a"), GuardVerdict.allowed("b", "ok", "fine")]
    rec = store.transition(intent.id, "pending_approval", actor="guards", verdicts=verdicts)
    assert rec.verdicts == verdicts and rec.version == 2
    store.transition(intent.id, "approved", expected_from="pending_approval", actor="op")
    rec = store.transition(intent.id, "executing", expected_from="approved", actor="ex")
    assert rec.executing_since is not None
    rec = store.transition(
        intent.id, "submitted", actor="ex", broker_order_id="B1", order_status="working"
    )
    assert (rec.state, rec.broker_order_id, rec.order_status, rec.version) == (
        IntentState.SUBMITTED,
        "B1",
        "working",
        5,
    )
    assert [r.to_state for r in store.journal_rows(intent.id)] == [
        "proposed",
        "pending_approval",
        "approved",
        "executing",
        "submitted",
    ]
    assert store.list_intents(cycle_id="c9") == [rec]
    assert store.list_intents(state="approved") == []


def test_every_illegal_transition_raises_and_writes_nothing(store, helpers):
    intent = helpers.make_intent(3)
    store.add_intent(intent, cycle_id="c1", broker="paper")
    before = store.journal_rows()
    for target in IntentState:
        if target in TRANSITIONS[IntentState.PROPOSED]:
            continue
        with pytest.raises(IllegalTransition) as exc:
            store.transition(intent.id, target, actor="x")
        assert exc.value.current_state == "proposed"
        assert isinstance(exc.value, RefusedError)
    assert store.journal_rows() == before
    assert store.get(intent.id).version == 1


def test_terminal_states_cannot_move(store, helpers):
    intent = helpers.make_intent(4)
    store.add_intent(intent, cycle_id="c1", broker="paper")
    store.transition(intent.id, "cancelled", actor="op")
    with pytest.raises(IllegalTransition, match="cancelled -> pending_approval"):
        store.transition(intent.id, "pending_approval", actor="op")


def test_cas_conflict_names_the_current_state(store, helpers):
    (intent_id,) = helpers.add_approved(store, 1)
    store.transition(intent_id, "executing", expected_from="approved", actor="a")
    with pytest.raises(StateConflict, match="already claimed") as exc:
        store.transition(intent_id, "executing", expected_from="approved", actor="b")
    assert exc.value.current_state == "executing"
    assert len(store.journal_rows(intent_id)) == 4


def test_unknown_intent_and_unknown_state(store):
    with pytest.raises(IntentNotFound) as exc:
        store.get("int_nope")
    assert isinstance(exc.value, NotFoundError)
    with pytest.raises(IntentNotFound):
        store.transition("int_nope", "approved", actor="x")
    with pytest.raises(IllegalTransition, match="unknown intent state"):
        store.transition("int_nope", "teleported", actor="x")
    assert store.journal_rows() == []


def test_on_transition_gets_each_committed_change(state_dir, helpers):
    seen = []
    with Store.open(state_dir, on_transition=seen.append) as store:
        intent = helpers.make_intent(5)
        store.add_intent(intent, cycle_id="c1", broker="paper", actor="runtime")
        store.add_intent(intent, cycle_id="c1", broker="paper")  # duplicate: no event
        store.transition(intent.id, "pending_approval", actor="guards", reason="ok")
        with pytest.raises(IllegalTransition):
            store.transition(intent.id, "submitted", actor="x")
    assert [(t.from_state, t.to_state, t.actor) for t in seen] == [
        (None, "proposed", "runtime"),
        ("proposed", "pending_approval", "guards"),
    ]


def test_a_raising_observer_does_not_undo_the_change(state_dir, helpers):
    def boom(_t):
        raise RuntimeError("observer bug")

    with Store.open(state_dir, on_transition=boom) as store:
        intent = helpers.make_intent(6)
        store.add_intent(intent, cycle_id="c1", broker="paper")
        assert (
            store.transition(intent.id, "pending_approval", actor="g").state == "pending_approval"
        )


def test_control_state_is_persisted_and_journaled(state_dir):
    with Store.open(state_dir) as store:
        assert store.get_control("kill_switch", False) is False
        store.set_control("kill_switch", True, actor="alice", reason="drill")
        store.set_control("trading_state", "halted", actor="bob")
        store.set_control("kill_switch", False, actor="alice")
    with Store.open(state_dir) as store:
        assert store.get_control("kill_switch") is False
        assert store.controls() == {"kill_switch": False, "trading_state": "halted"}
        rows = store.journal_rows("control:kill_switch")
        assert [(r.from_state, r.to_state, r.actor) for r in rows] == [
            (None, "true", "alice"),
            ("true", "false", "alice"),
        ]
        assert rows[0].reason == "drill"
        assert store.verify_journal().ok


def test_orders_and_fills_are_recorded_once(store, helpers):
    (intent_id,) = helpers.add_approved(store, 1)
    coid = store.get(intent_id).client_order_id
    working = Order(coid, "AAA", "buy", 10, OrderStatus.WORKING, broker_order_id="B9")
    store.upsert_order(working)
    filled = Order(
        coid,
        "AAA",
        "buy",
        10,
        "filled",
        broker_order_id="B9",
        filled_quantity=10,
        avg_fill_price="101.5",
    )
    store.upsert_order(filled)
    store.upsert_order(working)  # a stale status never overwrites a terminal one
    assert store.get_order(coid) == filled
    rec = store.get(intent_id)
    assert (rec.order_status, rec.filled_quantity, rec.avg_fill_price, rec.broker_order_id) == (
        "filled",
        Decimal(10),
        Decimal("101.5"),
        "B9",
    )
    fill = Fill("F1", coid, "AAA", "buy", 10, "101.5")
    assert store.record_fill(fill) is True
    assert store.record_fill(fill) is False  # a replayed fill is recorded once
    assert store.fills(coid) == [fill]
    assert store.fills("other") == []
    assert store.get_order("nope") is None


def test_a_lower_filled_quantity_never_lowers_the_record(store, helpers):
    (intent_id,) = helpers.add_approved(store, 1)
    coid = store.get(intent_id).client_order_id
    part = Order(coid, "AAA", "buy", 10, "partial_fill", filled_quantity=4, avg_fill_price="1")
    store.upsert_order(part)
    store.upsert_order(Order(coid, "AAA", "buy", 10, OrderStatus.WORKING))  # the venue "forgot"
    assert store.get_order(coid).filled_quantity == 4
    assert store.get(intent_id).filled_quantity == 4


def test_backup_is_a_usable_copy(store, helpers, tmp_path):
    helpers.add_approved(store, 2)
    (tmp_path / "copy").mkdir()
    dest = store.backup(tmp_path / "copy" / "state.db")
    with Store.open(dest.parent) as copy:
        assert len(copy.list_intents()) == 2
        assert copy.verify_journal().ok
        assert copy.journal_rows() == store.journal_rows()
