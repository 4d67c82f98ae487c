"""The approval gate: blocked/pending/auto, expiry, refusals with state, previews, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tradekernel.approval import ApprovalService
from tradekernel.errors import RefusedError
from tradekernel.models import GuardVerdict
from tradekernel.store import IntentState, Store

ALLOW = [GuardVerdict.allowed("max_notional"), GuardVerdict.allowed("session")]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 2, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def events():
    return []


def _service(store, helpers, state_dir, clock, events, **kernel):
    settings = helpers.make_settings(state_dir, approval_ttl=600, **kernel)
    return ApprovalService(
        store, settings, emit=lambda s, k, **f: events.append((s, k, f)), clock=clock
    )


def _proposed(store, helpers, n=0, **kwargs):
    intent = helpers.make_intent(n, **kwargs)
    store.add_intent(intent, cycle_id="c1", broker="paper", ref_price=Decimal("50"))
    return intent.id


def test_denied_intent_is_blocked_with_first_deny_code(store, helpers, state_dir, clock, events):
    svc = _service(store, helpers, state_dir, clock, events)
    iid = _proposed(store, helpers)
    verdicts = [
        GuardVerdict.allowed("session"),
        GuardVerdict.denied("max_notional", "notional_over_limit", "5000 > 1000"),
        GuardVerdict.denied("blocklist", "symbol_blocked"),
    ]
    rec = svc.submit(iid, verdicts)
    assert rec.state is IntentState.BLOCKED
    assert rec.reason == "notional_over_limit"
    assert rec.verdicts == verdicts
    with pytest.raises(RefusedError, match="it is blocked"):
        svc.approve(iid, "op")
    assert events == []


def test_manual_mode_pending_event_and_approve(store, helpers, state_dir, clock, events):
    svc = _service(store, helpers, state_dir, clock, events)
    iid = _proposed(store, helpers)
    rec = svc.submit(iid, ALLOW)
    assert rec.state is IntentState.PENDING_APPROVAL
    assert rec.expires_at == clock.now + timedelta(seconds=600)
    stage, kind, fields = events[-1]
    assert (stage, kind) == ("approval", "pending")
    assert fields["approve_cmd"] == f"tradekernel intents approve {iid}"
    assert fields["reject_cmd"] == f"tradekernel intents reject {iid}"
    rec = svc.approve(iid, "alice", "looks right")
    assert rec.state is IntentState.APPROVED
    last = store.journal_rows(iid)[-1]
    assert (last.actor, last.reason) == ("alice", "looks right")
    assert events[-1][1] == "approved" and events[-1][2]["actor"] == "alice"


def test_auto_mode_approves_as_auto(store, helpers, state_dir, clock, events):
    svc = _service(store, helpers, state_dir, clock, events, approval_mode="auto")
    iid = _proposed(store, helpers)
    assert svc.submit(iid, ALLOW).state is IntentState.APPROVED
    assert store.journal_rows(iid)[-1].actor == "auto"
    assert [k for _, k, _ in events] == ["auto_approved"]
    blocked = _proposed(store, helpers, 1)
    assert svc.submit(blocked, [GuardVerdict.denied("g", "nope")]).state is IntentState.BLOCKED


def test_approving_after_expiry_marks_expired_and_refuses(store, helpers, state_dir, clock, events):
    svc = _service(store, helpers, state_dir, clock, events)
    iid = _proposed(store, helpers)
    svc.submit(iid, ALLOW)
    clock.now += timedelta(seconds=601)
    with pytest.raises(RefusedError, match=f"cannot approve intent {iid}: it is expired"):
        svc.approve(iid, "op")
    assert store.get(iid).state is IntentState.EXPIRED
    rows = store.journal_rows(iid)
    assert rows[-1].to_state == "expired"
    with pytest.raises(RefusedError, match="it is expired"):
        svc.approve(iid, "op")
    assert store.journal_rows(iid) == rows  # the second refusal changed nothing


def test_expire_due(store, helpers, state_dir, clock, events):
    svc = _service(store, helpers, state_dir, clock, events)
    old = _proposed(store, helpers, 0)
    svc.submit(old, ALLOW)
    clock.now += timedelta(seconds=300)
    fresh = _proposed(store, helpers, 1)
    svc.submit(fresh, ALLOW)
    assert svc.expire_due(clock.now + timedelta(seconds=400)) == [old]
    assert store.get(fresh).state is IntentState.PENDING_APPROVAL
    assert svc.expire_due(clock.now + timedelta(seconds=400)) == []


@pytest.mark.parametrize("final", ["rejected", "executing", "cancelled"])
def test_refusals_name_the_state_and_change_nothing(
    store, helpers, state_dir, clock, events, final
):
    svc = _service(store, helpers, state_dir, clock, events)
    iid = _proposed(store, helpers)
    svc.submit(iid, ALLOW)
    if final == "rejected":
        svc.reject(iid, "bob", "too big")
    elif final == "cancelled":
        svc.cancel(iid, "bob")
    else:
        svc.approve(iid, "bob")
        store.transition(iid, "executing", actor="executor")
    before = store.journal_rows()
    with pytest.raises(RefusedError, match=f"it is {final}") as exc:
        svc.approve(iid, "alice")
    assert exc.value.exit_code == 3
    with pytest.raises(RefusedError, match=f"it is {final}"):
        svc.reject(iid, "alice")
    assert store.journal_rows() == before


def test_approve_rechecks_recorded_verdicts(store, helpers, state_dir, clock, events):
    svc = _service(store, helpers, state_dir, clock, events)
    iid = _proposed(store, helpers)
    # A pending intent carrying a deny (written around the service): defense in depth.
    store.transition(
        iid, "pending_approval", actor="bug", verdicts=[GuardVerdict.denied("g", "over")]
    )
    with pytest.raises(RefusedError, match="guard g denied it \\(over\\)"):
        svc.approve(iid, "op")
    assert store.get(iid).state is IntentState.PENDING_APPROVAL


def test_cancel_refused_once_executing(store, helpers, state_dir, clock, events):
    svc = _service(store, helpers, state_dir, clock, events)
    (iid,) = helpers.add_approved(store, 1, start=40)
    store.transition(iid, "executing", actor="executor")
    with pytest.raises(RefusedError, match="it is executing"):
        svc.cancel(iid, "op")


def test_preview_is_reproducible(tmp_path, helpers, clock):
    previews = []
    for run in range(2):
        state_dir = tmp_path / f"run{run}"
        with Store.open(state_dir) as store:
            settings = helpers.make_settings(state_dir, runtime={"quantity_step": 0.5})
            svc = ApprovalService(store, settings, clock=clock)
            intent = helpers.make_intent(7, quantity=None, notional="1000", rationale="breakout")
            store.add_intent(intent, cycle_id="c7", broker="paper", ref_price=Decimal("33"))
            svc.submit(intent.id, ALLOW)
            clock.now += timedelta(seconds=17 * (run + 1))
            previews.append(svc.preview(intent.id))
    first, second = previews
    assert first.stable() == second.stable()
    assert first.age_s != second.age_s
    assert first.quantity == "30.0"  # 1000 / 33 = 30.30 -> rounded DOWN to a 0.5 step
    assert Decimal(first.estimated_notional) == Decimal("990")
    assert first.verdicts[0] == {"guard": "max_notional", "allow": True, "code": "ok", "detail": ""}
    assert (first.rationale, first.strategist, first.prompt_version) == ("breakout", "rules", "p1")
    assert first.schema_version == "intent.v1" and first.state == "pending_approval"
    assert first.expired is False and first.expires_in_s > 0


def test_cli_preview_approve_reject(run_cli, state_dir, helpers):
    with Store.open(state_dir) as store:
        svc = ApprovalService(store, helpers.make_settings(state_dir))
        ids = []
        for n in range(2):
            iid = _proposed(store, helpers, n)
            svc.submit(iid, ALLOW)
            ids.append(iid)
    code, out, _ = run_cli("intents", "preview", ids[0], "--json")
    assert code == 0 and json.loads(out)["symbol"] == "AAA"
    code, out, _ = run_cli("intents", "preview", ids[0])
    assert code == 0 and "buy 10 AAA" in out
    code, out, _ = run_cli("intents", "approve", ids[0], "--by", "alice", "--reason", "ok")
    assert code == 0 and "approved by alice" in out
    code, _, err = run_cli("intents", "approve", ids[0])
    assert code == 3 and "it is approved" in err
    code, out, _ = run_cli("intents", "reject", ids[1])
    assert code == 0 and "rejected by operator" in out
    code, out, _ = run_cli("intents", "list", "--json")
    states = {i["id"]: i["state"] for i in json.loads(out)["intents"]}
    assert states == {ids[0]: "approved", ids[1]: "rejected"}
    code, out, _ = run_cli("intents", "show", ids[0], "--json")
    shown = json.loads(out)
    assert [r["to_state"] for r in shown["journal"]] == ["proposed", "pending_approval", "approved"]
    assert shown["journal"][-1]["actor"] == "alice"


def test_cli_unknown_intent_is_one_line_exit_1(run_cli, state_dir, helpers):
    with Store.open(state_dir) as store:
        _proposed(store, helpers)
    before = (state_dir / "state.db").read_bytes()
    for cmd in ("show", "preview", "approve", "reject", "cancel"):
        code, _out, err = run_cli("intents", cmd, "int_doesnotexist")
        assert code == 1, cmd
        assert err == "Error: no intent with id 'int_doesnotexist'\n"
    assert (state_dir / "state.db").read_bytes() == before


def test_cli_preview_warns_and_approve_refuses_a_tampered_intent(run_cli, state_dir, helpers):
    """A pending intent whose quantity was edited with SQL: preview shows the mismatch,
    approve refuses it (exit 3) and changes nothing."""
    import sqlite3

    with Store.open(state_dir) as store:
        svc = ApprovalService(store, helpers.make_settings(state_dir))
        iid = _proposed(store, helpers)
        svc.submit(iid, ALLOW)
    conn = sqlite3.connect(state_dir / "state.db")
    data = json.loads(conn.execute("SELECT intent_json FROM intents").fetchone()[0])
    data["quantity"] = "500"
    conn.execute("UPDATE intents SET intent_json = ?", (json.dumps(data),))
    conn.commit()
    conn.close()
    code, out, err = run_cli("intents", "preview", iid)
    assert code == 0 and "WARNING" in out and "journal_mismatch" in out and "intent_json" in out
    assert "journal_mismatch" in err
    code, out, _ = run_cli("intents", "preview", iid, "--json")
    assert "intent_json" in json.loads(out)["journal_mismatch"]
    code, _, err = run_cli("intents", "approve", iid)
    assert code == 3 and "journal_mismatch" in err and "nothing was changed" in err
    with Store.open(state_dir) as store:
        assert store.get(iid).state is IntentState.PENDING_APPROVAL


def test_cli_shows_money_to_the_cent_and_quantities_to_their_step_json_stays_exact(
    run_cli, state_dir, helpers
):
    with Store.open(state_dir) as store:
        svc = ApprovalService(store, helpers.make_settings(state_dir))
        by_qty = helpers.make_intent(0, quantity=Decimal("10.000000000"))
        store.add_intent(by_qty, cycle_id="c1", broker="paper", ref_price=Decimal("50.123456"))
        by_notional = helpers.make_intent(1, quantity=None, notional=Decimal("1925.8049"))
        store.add_intent(by_notional, cycle_id="c1", broker="paper", ref_price=Decimal("50"))
        svc.submit(by_qty.id, ALLOW)
    code, out, _ = run_cli("intents", "preview", by_qty.id)
    assert code == 0 and "buy 10 AAA" in out and "notional:  ~501.23 " in out
    code, out, _ = run_cli("intents", "preview", by_qty.id, "--json")
    assert Decimal(json.loads(out)["estimated_notional"]) == Decimal("501.23456")
    code, out, _ = run_cli("intents", "list")
    assert code == 0 and " qty 10 " in out and " $1925.80 " in out
    code, out, _ = run_cli("intents", "list", "--json")
    notionals = [i["intent"]["notional"] for i in json.loads(out)["intents"]]
    assert "1925.8049" in notionals


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_decision_on_a_stale_version_is_refused(store, helpers, state_dir, clock, events, verb):
    from tradekernel.store import StaleVersion

    svc = _service(store, helpers, state_dir, clock, events)
    iid = _proposed(store, helpers)
    seen = svc.submit(iid, ALLOW).version  # what the approver's page showed
    with pytest.raises(StaleVersion, match=f"cannot {verb} intent {iid}: .*changed since"):
        getattr(svc, verb)(iid, "op", expected_version=seen - 1)
    assert store.get(iid).state is IntentState.PENDING_APPROVAL  # nothing written
    assert store.get(iid).version == seen
    record = getattr(svc, verb)(iid, "op", expected_version=seen)
    assert record.version == seen + 1


def test_verdict_rule_fields_round_trip_and_are_omitted_when_unset(
    store, helpers, state_dir, clock, events
):
    from tradekernel.serde import unstructure

    assert unstructure(GuardVerdict.allowed("session")) == {
        "guard": "session",
        "allow": True,
        "code": "ok",
        "detail": "",
    }
    ruled = GuardVerdict("policy", True, "ok", rule="big-orders", version="3:ab12", approvals=2)
    svc = _service(store, helpers, state_dir, clock, events)
    iid = _proposed(store, helpers)
    assert svc.submit(iid, [ruled]).verdicts == [ruled]
    assert store.get(iid).verdicts == [ruled]
    with pytest.raises(ValueError, match="approvals must be 0 or more"):
        GuardVerdict("policy", True, "ok", approvals=-1)


def test_intents_list_before_any_state_is_an_empty_list(run_cli, state_dir):
    """No store yet (a fresh state directory): no intents, exit 0, with or without a filter."""
    code, _, err = run_cli("intents", "list")
    assert code == 0, err
    code, _, err = run_cli("intents", "list", "--broker", "paper")
    assert code == 0, err
    assert "unexpected" not in err
