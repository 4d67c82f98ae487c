"""Four-eyes approval: quorum rules, distinct approvers, reject and expiry mid-quorum,
forged or deleted approvals caught by ``journal verify`` and the executor's preflight,
concurrent approvers, and the CLI."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from tradekernel.approval import ApprovalService
from tradekernel.errors import ConfigError, RefusedError
from tradekernel.execution import Executor
from tradekernel.models import GuardVerdict
from tradekernel.settings import ApprovalSettings, QuorumRule, Settings
from tradekernel.store import DuplicateApproval, IntentState, StaleVersion, Store

ALLOW = [GuardVerdict.allowed("max_notional")]
TWO = [
    GuardVerdict(
        guard="policy", allow=True, code="ok", rule="big-orders", version="v3", approvals=2
    )
]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 2, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _settings(helpers, state_dir, *rules, **kernel):
    settings = helpers.make_settings(state_dir, approval_ttl=600, **kernel)
    settings.approval = ApprovalSettings(quorum=list(rules))
    return settings


def _pending(store, svc, helpers, n=0, verdicts=TWO, price="50", **kwargs):
    intent = helpers.make_intent(n, **kwargs)
    store.add_intent(intent, cycle_id="c1", broker="rec", ref_price=Decimal(price))
    svc.submit(intent.id, verdicts)
    return intent.id


@pytest.fixture
def world(store, helpers, state_dir):
    clock, events = Clock(), []
    settings = _settings(helpers, state_dir)
    svc = ApprovalService(
        store, settings, emit=lambda s, k, **f: events.append((k, f)), clock=clock
    )
    return svc, clock, events


def test_two_person_approval_with_one_person_approving_twice(store, helpers, world, broker_factory):
    svc, clock, events = world
    iid = _pending(store, svc, helpers)
    assert store.get(iid).state is IntentState.PENDING_APPROVAL
    assert svc.approve(iid, "alice", "fine").state is IntentState.PENDING_APPROVAL
    assert events[-1][0] == "recorded"
    assert (events[-1][1]["approvals"], events[-1][1]["required"]) == (1, 2)
    before = store.journal_rows()
    clock.now += timedelta(seconds=5)
    with pytest.raises(DuplicateApproval, match="alice has approved it already") as exc:
        svc.approve(iid, "alice")
    assert exc.value.exit_code == 3 and "nothing was changed" in str(exc.value)
    assert store.journal_rows() == before
    assert store.get(iid).state is IntentState.PENDING_APPROVAL
    for alias in ("Alice", " alice ", "ALICE"):  # one approver, however spelt
        with pytest.raises(DuplicateApproval):
            svc.approve(iid, alias)
    record = svc.approve(iid, "bob")
    assert record.state is IntentState.APPROVED
    assert events[-1][0] == "approved" and events[-1][1]["approvals"] == 2
    assert [a for a, _ in svc.approvals(iid)] == ["alice", "bob"]
    preview = svc.preview(iid)
    assert preview.approvals_required == 2
    assert [a["actor"] for a in preview.approvals] == ["alice", "bob"]
    assert preview.verdicts[0]["rule"] == "big-orders"
    assert store.verify_journal().ok
    executor = Executor(
        store, broker_factory(), broker_name="rec", settings=svc.settings, clock=clock
    )
    assert executor.preflight(iid) == []


def test_a_reject_after_one_approval_wins(store, helpers, world):
    svc, _clock, _events = world
    iid = _pending(store, svc, helpers)
    svc.approve(iid, "alice")
    assert svc.reject(iid, "bob", "too big").state is IntentState.REJECTED
    with pytest.raises(RefusedError, match="it is rejected"):
        svc.approve(iid, "carol")
    assert store.get(iid).state is IntentState.REJECTED
    assert store.verify_journal().ok


def test_expiry_applies_to_the_whole_quorum(store, helpers, world, broker_factory):
    svc, clock, _events = world
    iid = _pending(store, svc, helpers)
    clock.now += timedelta(seconds=300)
    svc.approve(iid, "alice")  # an approval does not extend the window
    clock.now += timedelta(seconds=301)
    with pytest.raises(RefusedError, match="it is expired"):
        svc.approve(iid, "bob")
    assert store.get(iid).state is IntentState.EXPIRED
    assert [a for a, _ in svc.approvals(iid)] == ["alice"]
    executor = Executor(store, broker_factory(), broker_name="rec", settings=svc.settings)
    assert "approval_expired" in [d.code for d in executor.preflight(iid)]


def test_quorum_rules_match_notional_mode_rule_and_symbols(store, helpers, state_dir):
    rules = [
        QuorumRule(approvals=2, min_notional=Decimal("10000")),
        QuorumRule(approvals=3, mode="live"),
        QuorumRule(approvals=2, rule="big-orders", guard="policy"),
        QuorumRule(approvals=4, symbols=["BTC/*"]),
    ]
    svc = ApprovalService(store, _settings(helpers, state_dir, *rules), mode="paper")
    small = _pending(store, svc, helpers, 0, verdicts=ALLOW)  # 10 x 50 = 500
    big = _pending(store, svc, helpers, 1, verdicts=ALLOW, price="2000")  # 20,000
    ruled = _pending(store, svc, helpers, 2, verdicts=TWO)
    crypto = _pending(store, svc, helpers, 3, verdicts=ALLOW, symbol="BTC/USDT")
    assert [svc.quorum(i)[0] for i in (small, big, ruled, crypto)] == [0, 2, 2, 4]
    live = ApprovalService(store, svc.settings, mode="live")
    assert live.quorum(_pending(store, live, helpers, 4, verdicts=ALLOW))[0] == 3
    assert svc.approve(small, "alice").state is IntentState.APPROVED  # no quorum: as before


def test_auto_mode_does_not_bypass_a_quorum(store, helpers, state_dir):
    settings = _settings(helpers, state_dir, approval_mode="auto")
    svc = ApprovalService(store, settings)
    assert store.get(_pending(store, svc, helpers, 0, verdicts=ALLOW)).state is IntentState.APPROVED
    held = _pending(store, svc, helpers, 1, verdicts=TWO)
    assert store.get(held).state is IntentState.PENDING_APPROVAL
    svc.approve(held, "alice")
    assert svc.approve(held, "bob").state is IntentState.APPROVED


def test_a_forged_or_deleted_approval_fails_journal_verify(store, helpers, world, state_dir):
    svc, _clock, _events = world
    iid = _pending(store, svc, helpers)
    svc.approve(iid, "alice")
    assert store.verify_journal().ok
    conn = sqlite3.connect(state_dir / "state.db")
    seq, prev = conn.execute("SELECT max(seq), hash FROM journal").fetchone()
    # an approval row written by hand for mallory, and the intent moved on to approved
    row = conn.execute("SELECT * FROM journal WHERE seq = ?", (seq,)).fetchone()
    conn.execute(
        "INSERT INTO journal (seq, entity, from_state, to_state, actor, reason, ts, payload, "
        "payload_digest, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq + 1,
            iid,
            "pending_approval",
            "approved",
            "mallory",
            "",
            row[6],
            row[7],
            row[8],
            prev,
            "f" * 64,
        ),
    )
    conn.execute("UPDATE intents SET state = 'approved', version = version + 1")
    conn.commit()
    result = store.verify_journal()
    assert not result.ok and result.first_bad_seq == seq + 1
    conn.execute("DELETE FROM journal WHERE seq = ?", (seq + 1,))
    conn.execute("DELETE FROM journal WHERE seq = ?", (seq,))  # alice's approval deleted
    conn.execute("UPDATE intents SET state = 'pending_approval', version = version - 2")
    conn.commit()
    conn.close()
    assert not store.verify_journal().ok


def test_an_approval_around_the_quorum_fails_verify_and_preflight(
    store, helpers, world, broker_factory
):
    """An approval that bypasses the quorum (a bug, or a writer with the hash recipe): the
    chain is intact, yet verify names the shortfall and the executor refuses it."""
    svc, _clock, _events = world
    iid = _pending(store, svc, helpers)
    store.transition(iid, "approved", actor="bob")  # around the service: no quorum check
    result = store.verify_journal()
    assert not result.ok and result.entity == iid
    assert "approves it with 1 of the 2 approvals it needs" in result.problem
    executor = Executor(store, broker_factory(), broker_name="rec", settings=svc.settings)
    codes = {d.code: d.detail for d in executor.preflight(iid)}
    assert "1 of the 2 distinct approvals" in codes["quorum_missing"]
    assert "journal_mismatch" in codes
    with pytest.raises(RefusedError, match="nothing was sent"):
        executor.execute(iid)


def test_the_executor_refuses_an_approved_intent_without_its_quorum(
    store, helpers, state_dir, broker_factory
):
    """Verdicts that ask for two approvers, approved once straight through the store: the
    journal lacks the quorum and preflight names it."""
    intent = helpers.make_intent(0)
    store.add_intent(intent, cycle_id="c1", broker="rec", ref_price=Decimal("50"))
    store.transition(intent.id, "pending_approval", actor="guards", verdicts=TWO)
    store.transition(intent.id, "approved", actor="alice")
    executor = Executor(
        store, broker_factory(), broker_name="rec", settings=helpers.make_settings(state_dir)
    )
    denials = {d.code: d.detail for d in executor.preflight(intent.id)}
    assert denials["quorum_missing"] == "its journal shows 1 of the 2 distinct approvals it needs"


def _threads(targets):
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def run(i, target):
        barrier.wait()
        try:
            results[i] = target()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_approvers_never_double_count_or_double_decide(
    store, helpers, world, state_dir, round_
):
    svc, _clock, _events = world
    iid = _pending(store, svc, helpers, round_)
    actors = ["alice", "bob", "carol", "dave", "alice", "bob"]

    def approve(actor):
        def go():
            with Store.open(state_dir) as own:
                return ApprovalService(own, svc.settings, clock=svc.clock).approve(iid, actor).state

        return go

    results = _threads([approve(a) for a in actors])
    approved = [r for r in results if r is IntentState.APPROVED]
    assert len(approved) == 1  # decided once
    assert all(isinstance(r, IntentState | RefusedError) for r in results)
    given = [a for a, _ in svc.approvals(iid)]
    assert len(given) == 2 and len(set(given)) == 2
    assert store.get(iid).state is IntentState.APPROVED
    assert store.verify_journal().ok


def test_two_pages_of_one_version_decide_once(store, helpers, world, state_dir):
    svc, _clock, _events = world
    iid = _pending(store, svc, helpers)
    seen = store.get(iid).version

    def approve(actor):
        def go():
            with Store.open(state_dir) as own:
                service = ApprovalService(own, svc.settings, clock=svc.clock)
                return service.approve(iid, actor, expected_version=seen).version

        return go

    results = _threads([approve("alice"), approve("bob")])
    assert sorted(type(r).__name__ for r in results) == ["StaleVersion", "int"]
    assert len(svc.approvals(iid)) == 1 and store.verify_journal().ok
    with pytest.raises(StaleVersion):
        svc.approve(iid, "carol", expected_version=seen)


def test_quorum_config_is_validated_with_one_line_errors(tmp_path):
    def load(text):
        path = tmp_path / "plugins.toml"
        path.write_text(text)
        return Settings.load(path, environ={})

    ok = load("[[approval.quorum]]\napprovals = 2\nmin_notional = 10000\n")
    assert ok.approval.quorum == [QuorumRule(approvals=2, min_notional=Decimal(10000))]
    for body, needle in [
        ("approvals = 0", "approvals: expected a whole number of at least 1, got 0"),
        ("approvals = 1.5", "approvals"),
        ("approvals = true", "approvals"),
        ("approvals = 2\nmin_notionl = 5", "unknown key"),
        ('approvals = 2\nmode = "moon"', "mode"),
        ("min_notional = 5", "approvals"),
        ("approvals = 2\nmin_notional = -1", "min_notional"),
    ]:
        with pytest.raises(ConfigError) as exc:
            load(f"[[approval.quorum]]\n{body}\n")
        text = str(exc.value)
        assert "\n" not in text and needle in text and "approval" in text, text


def test_cli_approve_preview_and_show_tell_the_quorum(run_cli, state_dir, helpers, tmp_path):
    with Store.open(state_dir) as store:
        svc = ApprovalService(store, helpers.make_settings(state_dir))
        iid = _pending(store, svc, helpers)
    code, out, _ = run_cli("intents", "approve", iid, "--by", "alice")
    assert (
        code == 0 and out == f"{iid}: approval 1 of 2 recorded by alice; still pending_approval\n"
    )
    code, _, err = run_cli("intents", "approve", iid, "--by", "alice")
    assert code == 3 and "alice has approved it already" in err
    code, out, _ = run_cli("intents", "preview", iid)
    assert code == 0 and "approvals: 1 of 2 (alice at " in out
    code, out, _ = run_cli("intents", "preview", iid, "--json")
    data = json.loads(out)
    assert data["approvals_required"] == 2 and data["approvals"][0]["actor"] == "alice"
    code, out, _ = run_cli("intents", "approve", iid, "--by", "bob")
    assert code == 0 and out == f"{iid}: approval 2 of 2 recorded by bob; approved\n"
    code, out, _ = run_cli("intents", "show", iid)
    assert "approvals: 2 of 2 (alice at" in out and ", bob at " in out
    code, out, _ = run_cli("intents", "show", iid, "--json")
    assert [a["actor"] for a in json.loads(out)["approvals"]] == ["alice", "bob"]


_DECISIONS = st.lists(
    st.tuples(st.sampled_from(["approve", "reject"]), st.sampled_from(["ann", "ben", "cat"])),
    max_size=6,
)


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(need=st.integers(1, 3), decisions=_DECISIONS)
def test_any_sequence_of_decisions_keeps_the_quorum(tmp_path_factory, helpers, need, decisions):
    """Whatever operators do, in any order: approved exactly when ``need`` distinct
    approvers came before any reject, nobody counted twice, and the journal verifies."""
    state_dir = tmp_path_factory.mktemp("q")
    verdicts = [GuardVerdict(guard="policy", allow=True, code="ok", approvals=need)]
    with Store.open(state_dir) as store:
        svc = ApprovalService(store, helpers.make_settings(state_dir))
        iid = _pending(store, svc, helpers, verdicts=verdicts)
        seen: list[str] = []
        rejected = False
        for action, actor in decisions:
            try:
                getattr(svc, action)(iid, actor)
            except RefusedError:
                continue
            if action == "reject":
                rejected = True
            else:
                seen.append(actor)
        given_ = [a for a, _ in svc.approvals(iid)]
        assert given_ == seen and len(set(given_)) == len(given_)
        state = store.get(iid).state
        if rejected:
            assert state is IntentState.REJECTED and len(given_) < need
        else:
            expected = IntentState.APPROVED if len(given_) >= need else IntentState.PENDING_APPROVAL
            assert state is expected
        assert store.verify_journal().ok


@hsettings(max_examples=100, deadline=None)
@given(
    value=st.one_of(
        st.integers(-5, 5),
        st.floats(allow_nan=True),
        st.booleans(),
        st.text("ab1 -_.", max_size=5),
        st.lists(st.integers(), max_size=2),
    )
)
def test_quorum_approvals_config_is_a_whole_number_or_a_one_line_error(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("cfg") / "plugins.toml"
    if isinstance(value, bool):
        literal = str(value).lower()
    elif isinstance(value, float):
        literal = repr(value) if value == value else "nan"
    else:
        literal = json.dumps(value)
    path.write_text(f"[[approval.quorum]]\napprovals = {literal}\n")
    try:
        loaded = Settings.load(path, environ={})
    except ConfigError as exc:
        assert "\n" not in str(exc) and "[approval] quorum[0]" in str(exc)
        assert not (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
    else:
        assert loaded.approval.quorum[0].approvals == value and value >= 1


def _approver(state_dir, settings, actor, ids, queue) -> None:
    outcomes: dict[str, int] = {}
    with Store.open(state_dir) as store:
        svc = ApprovalService(store, settings)
        for iid in ids:
            try:
                outcome = svc.approve(iid, actor).state.value
            except RefusedError as exc:
                outcome = type(exc).__name__
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    queue.put(outcomes)


def test_approver_processes_racing_decide_each_intent_once(tmp_path, helpers):
    """Five processes (four approvers, one of them twice) approve the same 40 intents,
    each needing three: every intent is approved exactly once, by three distinct
    approvers, and the journal verifies."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    state_dir = tmp_path / "state"
    settings = helpers.make_settings(state_dir)
    three = [GuardVerdict(guard="policy", allow=True, code="ok", approvals=3)]
    with Store.open(state_dir) as store:
        svc = ApprovalService(store, settings)
        ids = [_pending(store, svc, helpers, n, verdicts=three) for n in range(40)]
    queue = ctx.Queue()
    actors = ["ann", "ben", "cat", "dan", "ann"]
    procs = [
        ctx.Process(target=_approver, args=(state_dir, settings, a, ids, queue)) for a in actors
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(r.get("approved", 0) for r in results) == len(ids)  # decided once each
    with Store.open(state_dir) as store:
        svc = ApprovalService(store, settings)
        for iid in ids:
            given = [a for a, _ in svc.approvals(iid)]
            assert len(given) == 3 == len(set(given)), given
            assert store.get(iid).state is IntentState.APPROVED
        assert store.verify_journal().ok
