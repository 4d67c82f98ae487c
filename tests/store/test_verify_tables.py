"""Verify rebuilds intents and control values from the journal: edits and deletions of
the tables behind the journal's back are reported naming the intent/key and column."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from tradekernel.approval import ApprovalService
from tradekernel.execution import Executor
from tradekernel.models import GuardVerdict, Order, OrderStatus
from tradekernel.store import IntentState, Store
from tradekernel.store.journal import GENESIS, row_hash
from tradekernel.store.verify import content_id

ALLOW = [GuardVerdict.allowed("max_notional"), GuardVerdict.allowed("session")]
DENY = [GuardVerdict.allowed("session"), GuardVerdict.denied("max_notional", "too_large")]
T0 = datetime(2024, 1, 2, 16, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def history(state_dir, helpers, broker_factory):
    """A realistic history: one intent in each state, control values set and cleared.

    Returns the intent ids by state name."""
    clock = Clock()
    settings = helpers.make_settings(state_dir, approval_ttl=600)
    ids: dict[str, str] = {}
    with Store.open(state_dir) as store:
        approval = ApprovalService(store, settings, clock=clock)
        executor = Executor(store, broker_factory(), broker_name="rec", settings=settings)
        names = [
            "proposed",
            "blocked",
            "pending",
            "approved",
            "executing",
            "submitted",
            "cancelled",
            "expired",
            "rejected",
        ]
        for n, name in enumerate(names):
            intent = helpers.make_intent(n)
            ref = Decimal("100") if n % 2 else Decimal("99.5")
            store.add_intent(intent, cycle_id=f"c{n // 3}", broker="rec", ref_price=ref)
            ids[name] = intent.id
        store.set_control("kill_switch", True, actor="op", reason="drill")
        store.set_control("kill_switch", None, actor="op", reason="cleared")
        store.set_control("note", "maintenance", actor="op")
        store.set_control("note", None, actor="op")
        approval.submit(ids["blocked"], DENY)
        for name in ("approved", "executing", "submitted", "cancelled", "rejected"):
            approval.submit(ids[name], ALLOW)
            if name != "rejected":
                approval.approve(ids[name], actor="operator")
        approval.reject(ids["rejected"], actor="operator", reason="not today")
        approval.cancel(ids["cancelled"], actor="operator", reason="changed my mind")
        store.transition(ids["executing"], IntentState.EXECUTING, actor="ex")
        assert executor.execute(ids["submitted"]).outcome == "submitted"
        coid = store.get(ids["submitted"]).client_order_id
        store.upsert_order(  # fills after submission: order-tracked, no journal row
            Order(
                client_order_id=coid,
                symbol="AAA",
                side="buy",
                quantity=Decimal("10"),
                status=OrderStatus.FILLED,
                broker_order_id="B-" + coid,
                filled_quantity=Decimal("10"),
                avg_fill_price=Decimal("100.5"),
            )
        )
        approval.submit(ids["expired"], ALLOW)
        clock.now = T0 + timedelta(minutes=5)
        approval.submit(ids["pending"], ALLOW)
        assert approval.expire_due(T0 + timedelta(minutes=11)) == [ids["expired"]]
        store.set_control("trading_state", "halted", actor="op")
        store.set_control("kill_switch", True, actor="op", reason="halt")
        states = {name: store.get(iid).state.value for name, iid in ids.items()}
        result = store.verify_journal()
    assert states == {
        "proposed": "proposed",
        "blocked": "blocked",
        "pending": "pending_approval",
        "approved": "approved",
        "executing": "executing",
        "submitted": "submitted",
        "cancelled": "cancelled",
        "expired": "expired",
        "rejected": "rejected",
    }
    assert result.ok, result.problem
    return ids


def _sql(state_dir, sql, *args):
    conn = sqlite3.connect(state_dir / "state.db")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def _column(state_dir, intent_id, column):
    conn = sqlite3.connect(state_dir / "state.db")
    try:
        sql = f"SELECT {column} FROM intents WHERE id = ?"
        return conn.execute(sql, (intent_id,)).fetchone()[0]
    finally:
        conn.close()


def _verify(state_dir):
    with Store.open(state_dir) as store:
        return store.verify_journal()


def test_clean_history_verifies_and_records_the_proposal_in_full(state_dir, history):
    with Store.open(state_dir) as store:
        assert store.verify_journal().ok
        rec = store.get(history["submitted"])
        assert (rec.order_status, rec.filled_quantity) == ("filled", Decimal("10"))
        first = store.journal_rows(history["proposed"])[0]
    assert first.payload["ref_price"] == "99.5"
    assert first.payload["client_order_id"] == "tk-" + history["proposed"].removeprefix("int_")
    assert first.payload["intent"]["id"] == history["proposed"]
    assert first.payload["cycle_id"] == "c0" and first.payload["broker"] == "rec"


def _edit_intent_json(state_dir, intent_id, **changes):
    data = json.loads(_column(state_dir, intent_id, "intent_json"))
    data.update(changes)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    _sql(state_dir, "UPDATE intents SET intent_json = ? WHERE id = ?", text, intent_id)


def _edit_verdicts_deny_to_allow(state_dir, intent_id):
    verdicts = json.loads(_column(state_dir, intent_id, "verdicts"))
    assert [v["allow"] for v in verdicts] == [True, False]
    for v in verdicts:
        v["allow"], v["code"] = True, "ok"
    text = json.dumps(verdicts, sort_keys=True)
    _sql(state_dir, "UPDATE intents SET verdicts = ? WHERE id = ?", text, intent_id)


INTENT_TAMPERS = {
    "quantity": (
        "approved",
        "intent_json",
        lambda d, i: _edit_intent_json(d, i, quantity="5000"),
    ),
    "rationale": (
        "pending",
        "intent_json",
        lambda d, i: _edit_intent_json(d, i, rationale="trust me"),
    ),
    "ref_price": (
        "approved",
        "ref_price",
        lambda d, i: _sql(d, "UPDATE intents SET ref_price = '1' WHERE id = ?", i),
    ),
    "expires_at": (
        "pending",
        "expires_at",
        lambda d, i: _sql(
            d,
            "UPDATE intents SET expires_at = '2099-01-01T00:00:00.000000+00:00' WHERE id = ?",
            i,
        ),
    ),
    "verdicts": ("blocked", "verdicts", _edit_verdicts_deny_to_allow),
    "broker": (
        "approved",
        "broker",
        lambda d, i: _sql(d, "UPDATE intents SET broker = 'live-broker' WHERE id = ?", i),
    ),
    "client_order_id": (
        "approved",
        "client_order_id",
        lambda d, i: _sql(d, "UPDATE intents SET client_order_id = 'tk-evil' WHERE id = ?", i),
    ),
    "cycle_id": (
        "proposed",
        "cycle_id",
        lambda d, i: _sql(d, "UPDATE intents SET cycle_id = 'c9' WHERE id = ?", i),
    ),
    "reason": (
        "blocked",
        "reason",
        lambda d, i: _sql(d, "UPDATE intents SET reason = NULL WHERE id = ?", i),
    ),
    "executing_since": (
        "executing",
        "executing_since",
        lambda d, i: _sql(
            d,
            "UPDATE intents SET executing_since = '2099-01-01T00:00:00.000000+00:00' WHERE id = ?",
            i,
        ),
    ),
    "symbol": (
        "approved",
        "symbol",
        lambda d, i: _sql(d, "UPDATE intents SET symbol = 'ZZZ' WHERE id = ?", i),
    ),
}


@pytest.mark.parametrize("case", sorted(INTENT_TAMPERS))
def test_intent_column_edits_are_detected_naming_intent_and_column(
    state_dir, history, run_cli, case
):
    name, column, tamper = INTENT_TAMPERS[case]
    intent_id = history[name]
    tamper(state_dir, intent_id)
    result = _verify(state_dir)
    assert not result.ok
    assert (result.entity, result.column) == (intent_id, column)
    assert f"intent {intent_id}: column {column}" in result.problem
    assert result.first_bad_seq is not None
    code, _, err = run_cli("journal", "verify")
    assert code == 4
    assert intent_id in err and column in err
    code, out, _ = run_cli("journal", "verify", "--json")
    data = json.loads(out)
    assert code == 4 and (data["entity"], data["column"]) == (intent_id, column)


def test_the_first_bad_intent_is_named(state_dir, history):
    for name in ("submitted", "proposed"):  # proposed was added first
        _sql(state_dir, "UPDATE intents SET ref_price = '7' WHERE id = ?", history[name])
    assert _verify(state_dir).entity == history["proposed"]


@pytest.mark.parametrize(
    ("sql", "key"),
    [
        ("DELETE FROM control", "kill_switch"),
        ("DELETE FROM control WHERE key = 'trading_state'", "trading_state"),
        ("UPDATE control SET value = 'false' WHERE key = 'kill_switch'", "kill_switch"),
        ("UPDATE control SET value = '\"running\"' WHERE key = 'trading_state'", "trading_state"),
        ("UPDATE control SET value = '\"x\"' WHERE key = 'note'", "note"),
    ],
)
def test_control_rows_deleted_or_edited_are_detected(state_dir, history, run_cli, sql, key):
    _sql(state_dir, sql)
    result = _verify(state_dir)
    assert not result.ok
    assert (result.entity, result.column) == (f"control:{key}", "value")
    assert f"control {key}" in result.problem
    code, _, err = run_cli("journal", "verify")
    assert code == 4 and f"control {key}" in err


def test_a_missing_control_row_whose_journal_value_is_null_is_unset(state_dir, history):
    _sql(state_dir, "DELETE FROM control WHERE key = 'note'")  # last journaled value: null
    assert _verify(state_dir).ok


def test_a_control_row_deleted_and_set_again_is_detected(state_dir, history):
    _sql(state_dir, "DELETE FROM control WHERE key = 'kill_switch'")
    with Store.open(state_dir) as store:
        store.set_control("kill_switch", False, actor="mallory")
        result = store.verify_journal()
        last = store.journal_rows("control:kill_switch")[-1].seq
    assert not result.ok
    assert (result.entity, result.first_bad_seq) == ("control:kill_switch", last)


def test_an_intent_id_that_is_not_its_content_digest_is_detected(store, helpers):
    genuine = helpers.make_intent(1)
    assert content_id(genuine) == genuine.id
    forged = attrs.evolve(genuine, id="int_" + "0" * 24, rationale="same content, forged id")
    store.add_intent(genuine, cycle_id="c", broker="rec")
    assert store.verify_journal().ok
    store.add_intent(forged, cycle_id="c", broker="rec")
    result = store.verify_journal()
    assert not result.ok
    assert (result.entity, result.column) == (forged.id, "id")
    assert "digest of its content" in result.problem and genuine.id in result.problem


def test_transition_payload_may_not_use_the_reserved_set_key(store, helpers):
    intent = helpers.make_intent(1)
    store.add_intent(intent, cycle_id="c", broker="rec")
    with pytest.raises(TypeError, match="reserved"):
        store.transition(intent.id, "cancelled", actor="op", payload={"set": {"broker": "x"}})
    assert store.get(intent.id).state is IntentState.PROPOSED


def _rechain(state_dir, rewrite):
    """Rewrite payloads with ``rewrite(seq, payload) -> payload`` and re-hash the whole
    chain, as the previous release's writer would have produced it (which wrote no
    journal anchor: a whole rewritten chain is what the anchor exists to catch)."""
    from tradekernel.models import canonical_json, digest

    (state_dir / "journal.anchor").unlink(missing_ok=True)

    conn = sqlite3.connect(state_dir / "state.db")
    rows = conn.execute(
        "SELECT seq, entity, from_state, to_state, actor, reason, ts, payload FROM journal "
        "ORDER BY seq"
    ).fetchall()
    prev = GENESIS
    for seq, entity, from_state, to_state, actor, reason, ts, payload in rows:
        data = rewrite(seq, json.loads(payload))
        fields = dict(
            seq=seq,
            entity=entity,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
            reason=reason or "",
            ts=ts,
            payload_digest=digest(data),
            prev_hash=prev,
        )
        h = row_hash(**fields)
        conn.execute(
            "UPDATE journal SET payload = ?, payload_digest = ?, prev_hash = ?, hash = ? "
            "WHERE seq = ?",
            (canonical_json(data), fields["payload_digest"], prev, h, seq),
        )
        prev = h
    conn.commit()
    conn.close()


def _legacy(seq, payload):
    if "intent" in payload:
        payload.pop("ref_price")
        payload.pop("client_order_id")
    return payload


def test_databases_from_before_full_proposals_still_verify(state_dir, history):
    _rechain(state_dir, _legacy)
    assert _verify(state_dir).ok
    iid = history["approved"]
    _sql(state_dir, "UPDATE intents SET client_order_id = 'tk-evil' WHERE id = ?", iid)
    result = _verify(state_dir)  # still checked: derived from the intent id
    assert (result.ok, result.entity, result.column) == (False, iid, "client_order_id")


def test_a_journal_whose_transitions_do_not_chain_is_detected(state_dir, history):
    iid = history["approved"]

    def skip_state(seq, payload):
        return payload

    _rechain(state_dir, skip_state)
    assert _verify(state_dir).ok  # re-hashing alone changes nothing
    conn = sqlite3.connect(state_dir / "state.db")
    seq = conn.execute(
        "SELECT seq FROM journal WHERE entity = ? AND to_state = 'approved'", (iid,)
    ).fetchone()[0]
    conn.execute("UPDATE journal SET from_state = 'proposed' WHERE seq = ?", (seq,))
    conn.commit()
    conn.close()
    _rechain(state_dir, skip_state)  # a consistent chain around an impossible move
    result = _verify(state_dir)
    assert (result.ok, result.entity, result.first_bad_seq) == (False, iid, seq)
    assert "moves it from proposed" in result.problem
