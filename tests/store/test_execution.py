"""Execution: claims, quantity, preflight codes, ambiguous submits, reconcile, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tradekernel.errors import RefusedError
from tradekernel.execution import Executor
from tradekernel.models import GuardVerdict
from tradekernel.store import IntentState, Store


def _executor(store, broker, settings, events=None, **kw):
    emit = None if events is None else (lambda s, k, **f: events.append((s, k, f)))
    return Executor(store, broker, broker_name="rec", settings=settings, emit=emit, **kw)


def test_execute_submits_once_and_records(store, settings, broker_factory, helpers):
    broker = broker_factory()
    events = []
    ex = _executor(store, broker, settings, events)
    (iid,) = helpers.add_approved(store, 1)
    result = ex.execute(iid)
    rec = store.get(iid)
    assert (result.outcome, rec.state) == ("submitted", IntentState.SUBMITTED)
    assert rec.broker_order_id == "B-" + rec.client_order_id and rec.order_status == "working"
    assert store.get_order(rec.client_order_id).broker_order_id == rec.broker_order_id
    again = ex.execute(iid)
    assert again.outcome == "already_claimed"
    assert broker.count(rec.client_order_id) == 1
    assert [k for _, k, _ in events] == ["submitted", "claim_conflict"]
    assert store.verify_journal().ok


def test_notional_is_rounded_down_to_the_step(store, state_dir, broker_factory, helpers):
    settings = helpers.make_settings(state_dir, runtime={"quantity_step": 0.25})
    broker = broker_factory()
    intent = helpers.make_intent(1, quantity=None, notional="1000")
    store.add_intent(intent, cycle_id="c", broker="rec", ref_price=Decimal("33"))
    store.transition(intent.id, "pending_approval", actor="g")
    store.transition(intent.id, "approved", actor="op")
    _executor(store, broker, settings).execute(intent.id)
    assert broker.conn.execute("SELECT quantity FROM submits").fetchone()[0] == "30.25"


def test_quantity_rounding_to_zero_fails_without_sending(store, settings, broker_factory, helpers):
    broker = broker_factory()
    intent = helpers.make_intent(2, quantity=None, notional="50")
    store.add_intent(intent, cycle_id="c", broker="rec", ref_price=Decimal("100"))
    store.transition(intent.id, "pending_approval", actor="g")
    store.transition(intent.id, "approved", actor="op")
    result = _executor(store, broker, settings).execute(intent.id)
    assert (result.outcome, result.reason) == ("failed", "quantity_rounds_to_zero")
    assert store.get(intent.id).state is IntentState.FAILED
    assert broker.count() == 0


def test_refuses_unapproved_and_denied(store, settings, broker_factory, helpers):
    broker = broker_factory()
    ex = _executor(store, broker, settings)
    intent = helpers.make_intent(3)
    store.add_intent(intent, cycle_id="c", broker="rec")
    with pytest.raises(RefusedError, match="not_approved"):
        ex.execute(intent.id)
    store.transition(
        intent.id, "pending_approval", actor="bug", verdicts=[GuardVerdict.denied("g", "x")]
    )
    store.transition(intent.id, "approved", actor="bug")
    with pytest.raises(RefusedError, match="guard_denied"):
        ex.execute(intent.id)
    assert store.get(intent.id).state is IntentState.APPROVED and broker.count() == 0


def test_preflight_codes(store, state_dir, broker_factory, helpers):
    broker = broker_factory()
    (iid,) = helpers.add_approved(store, 1)
    paper = helpers.make_settings(state_dir)
    assert _executor(store, broker, paper).preflight(iid) == []
    live = helpers.make_settings(state_dir, mode="live", live_acknowledged=False)
    broker.credentials_ok = lambda: False
    store.set_control("kill_switch", True, actor="op")
    store.set_control("trading_state", "halted", actor="op")
    codes = [d.code for d in _executor(store, broker, live).preflight(iid)]
    assert codes == [
        "live_not_acknowledged",
        "broker_not_live_capable",
        "kill_switch_on",
        "trading_halted",
        "credentials_missing",
    ]
    with pytest.raises(RefusedError, match="kill_switch_on"):
        _executor(store, broker, live).execute(iid)
    assert broker.count() == 0 and store.get(iid).state is IntentState.APPROVED


def test_preflight_expired_and_not_approved(store, settings, broker_factory, helpers):
    ex = _executor(store, broker_factory(), settings)
    intent = helpers.make_intent(4)
    store.add_intent(intent, cycle_id="c", broker="rec")
    assert [d.code for d in ex.preflight(intent.id)] == ["not_approved"]
    store.transition(intent.id, "pending_approval", actor="g")
    store.transition(intent.id, "expired", actor="system")
    assert [d.code for d in ex.preflight(intent.id)] == ["approval_expired"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("accept_then_unknown", "found_at_broker"),
        ("accept_then_error", "found_at_broker"),
        ("drop_before", "resubmitted_after_absent"),
    ],
)
def test_ambiguous_submit_ends_with_exactly_one_order(
    store, settings, broker_factory, helpers, mode, reason
):
    broker = broker_factory(mode=mode)
    events = []
    (iid,) = helpers.add_approved(store, 1)
    result = _executor(store, broker, settings, events).execute(iid)
    rec = store.get(iid)
    assert (result.outcome, rec.state, rec.reason) == ("submitted", "submitted", reason)
    assert broker.count(rec.client_order_id) == 1
    assert "unknown_outcome" in [k for _, k, _ in events]


def test_rejected_submit_fails_with_reason(store, settings, broker_factory, helpers):
    broker = broker_factory(mode="reject")
    (iid,) = helpers.add_approved(store, 1)
    result = _executor(store, broker, settings).execute(iid)
    assert result.outcome == "failed" and result.reason == "broker_rejected: insufficient_funds"
    assert store.get(iid).state is IntentState.FAILED and broker.count() == 0


def test_unknown_outcome_with_failing_lookup_stays_executing_until_reconcile(
    store, settings, broker_factory, helpers
):
    broker = broker_factory(mode="accept_then_unknown", lookup_fails=True)
    (iid,) = helpers.add_approved(store, 1)
    result = _executor(store, broker, settings).execute(iid)
    assert result.outcome == "unknown"
    assert store.get(iid).state is IntentState.EXECUTING
    assert _executor(store, broker, settings).reconcile()[0].action == "still_unknown"
    broker.lookup_fails = False
    (res,) = _executor(store, broker, settings).reconcile()
    assert (res.action, res.state) == ("found", "submitted")
    assert broker.count() == 1
    assert _executor(store, broker, settings).reconcile() == []


def test_reconcile_resubmits_a_confirmed_absent_order_once(
    store, settings, broker_factory, helpers
):
    broker = broker_factory()
    ids = helpers.add_approved(store, 2)
    for iid in ids:  # a crash right after the claim: nothing reached the broker
        store.transition(iid, "executing", expected_from="approved", actor="executor")
    results = _executor(store, broker, settings).reconcile()
    assert [r.action for r in results] == ["resubmitted", "resubmitted"]
    assert broker.per_order() == {store.get(i).client_order_id: 1 for i in ids}


def test_reconcile_does_not_resubmit_while_the_kill_switch_is_on(
    store, settings, broker_factory, helpers
):
    broker = broker_factory()
    (iid,) = helpers.add_approved(store, 1)
    store.transition(iid, "executing", actor="executor")
    store.set_control("kill_switch", True, actor="op")
    (res,) = _executor(store, broker, settings).reconcile()
    assert (res.action, res.state, res.reason) == ("failed", "failed", "not_received_by_broker")
    assert broker.count() == 0


class FakeKernel:
    def __init__(self, broker):
        self.broker = broker
        self.events = []

    def component(self, kind):
        assert kind == "broker"
        return self.broker

    def emit(self, stage, kind, **fields):
        self.events.append((stage, kind))


def test_cli_preflight_reconcile_and_stuck(
    run_cli, state_dir, helpers, broker_factory, monkeypatch
):
    from tradekernel.cli.context import AppContext

    broker = broker_factory()
    monkeypatch.setattr(AppContext, "kernel", lambda self: FakeKernel(broker))
    monkeypatch.setenv("TRADEKERNEL_COMPONENTS__BROKER", "rec")  # the intents' broker
    with Store.open(state_dir) as store:
        ids = helpers.add_approved(store, 2)
        # Stuck for 10 minutes: past --stuck-after 5m, within approval_ttl (15m), so a
        # reconcile that finds the order absent may still resubmit it (journaled: the
        # resubmit checks the row against the journal).
        stuck_since = datetime.now(UTC) - timedelta(minutes=10)
        store.transition(ids[1], "executing", actor="executor", executing_since=stuck_since)
    code, out, _ = run_cli("intents", "preflight", ids[0], "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, err = run_cli("intents", "preflight", ids[1])
    assert code == 3 and "not_approved" in out and "not_approved" in err
    code, out, err = run_cli("intents", "list", "--stuck-after", "5m")
    assert code == 4 and ids[1] in err and ids[0] not in err
    code, out, _ = run_cli("intents", "list", "--state", "approved", "--stuck-after", "5m")
    assert code == 0 and ids[0] in out
    code, out, _ = run_cli("intents", "reconcile", "--json")
    assert code == 0
    assert [(r["intent_id"], r["action"]) for r in json.loads(out)] == [(ids[1], "resubmitted")]
    code, out, _ = run_cli("intents", "list", "--stuck-after", "5m")
    assert code == 0


def test_an_intent_proposed_for_another_broker_is_never_sent_here(
    store, settings, broker_factory, helpers
):
    broker = broker_factory()
    (iid,) = helpers.add_approved(store, 1)  # proposed for broker "rec"
    other = Executor(store, broker, broker_name="other", settings=settings)
    assert "broker_mismatch" in {d.code for d in other.preflight(iid)}
    with pytest.raises(RefusedError, match="broker_mismatch"):
        other.execute(iid)
    store.transition(iid, "executing", actor="executor")  # a crash, then a broker switch
    (res,) = other.reconcile()
    assert (res.action, res.state) == ("still_unknown", "executing")
    assert "broker_mismatch" in res.reason
    assert broker.count() == 0


def test_a_live_capable_broker_needs_live_mode(store, settings, broker_factory, helpers):
    broker = broker_factory()
    broker.live_capable = True  # a real-money broker, while the mode is paper
    (iid,) = helpers.add_approved(store, 1)
    codes = {d.code for d in _executor(store, broker, settings).preflight(iid)}
    assert "live_broker_needs_live_mode" in codes
    with pytest.raises(RefusedError):
        _executor(store, broker, settings).execute(iid)
    assert broker.count() == 0


def test_a_kill_switch_thrown_after_the_claim_stops_the_submit(
    store, settings, broker_factory, helpers
):
    broker = broker_factory()
    (iid,) = helpers.add_approved(store, 1)

    def at(point, intent_id):
        if point == "before_submit":  # another process throws the switch right now
            store.set_control("kill_switch", True, actor="op")

    result = _executor(store, broker, settings, checkpoint=at).execute(iid)
    assert (result.outcome, result.reason) == ("failed", "halted_before_submit: kill_switch_on")
    assert broker.count() == 0


def test_reconcile_does_not_resubmit_a_stale_claim(store, settings, broker_factory, helpers):
    broker = broker_factory()
    (iid,) = helpers.add_approved(store, 1)
    store.transition(iid, "executing", actor="executor")  # a crash before the submit
    later = store.get(iid).executing_since + timedelta(hours=3)  # far past approval_ttl
    (res,) = _executor(store, broker, settings, clock=lambda: later).reconcile()
    assert (res.action, res.state) == ("failed", "failed")
    assert res.reason == "not_received_by_broker: approval_stale"
    assert broker.count() == 0


def test_reconcile_never_resubmits_through_a_broker_it_may_not_use(
    store, settings, broker_factory, helpers
):
    broker = broker_factory()
    broker.live_capable = True  # real money, while the operator pinned shadow mode
    (iid,) = helpers.add_approved(store, 1)
    store.transition(iid, "executing", actor="executor")  # a crash before the submit
    store.set_control("mode", "shadow", actor="op")
    (res,) = _executor(store, broker, settings).reconcile()
    assert (res.action, res.state, res.reason) == ("failed", "failed", "not_received_by_broker")
    assert broker.count() == 0
    rows = store.journal_rows(iid)
    assert "live_broker_needs_live_mode" in str(rows[-1].payload)
