"""Approver identity (docs/state.md, "Quorum"): one normalised name per approver, look-alike,
control, format and reserved names refused everywhere an approver decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.api import RESERVED_ACTORS, approver_name
from tradekernel.approval import ApprovalService
from tradekernel.errors import ConfigError, RefusedError
from tradekernel.execution import Executor
from tradekernel.models import GuardVerdict
from tradekernel.settings import ApprovalSettings, Settings
from tradekernel.store import IntentState, Store

SAME_AS_ALICE = ["alice", "Alice", " alice ", "ALICE", "\uff41lice"]  # fullwidth a
REFUSED = {
    "cyrillic a": "\u0430lice",
    "zero width space": "alice\u200b",
    "nul": "alice\x00",
    "soft hyphen": "al\u00adice",
    "escape": "alice\x1b[0m",
    "combining accent": "alic\u0301e",
    "newline": "alice\nFAKE: ok",
    "bidi override": "\u202eecila",
    "space inside": "alice smith",
    "empty": "   ",
    "too long": "a" * 65,
    "leading dot": ".alice",
}


@pytest.mark.parametrize("alias", SAME_AS_ALICE)
def test_spellings_of_one_name_are_one_approver(alias):
    assert approver_name(alias) == "alice"


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_look_alike_control_and_malformed_names_are_refused_without_echo(case):
    with pytest.raises(RefusedError) as exc:
        approver_name(REFUSED[case])
    message = str(exc.value)
    assert exc.value.exit_code == 3 and "\n" not in message
    assert not any(ord(c) < 32 or ord(c) >= 0x7F for c in message)


@pytest.mark.parametrize("name", sorted(RESERVED_ACTORS))
def test_the_kernels_own_actors_are_reserved(name):
    with pytest.raises(RefusedError, match="reserved"):
        approver_name(name.upper())


def test_reserved_actors_include_every_actor_the_kernel_journals():
    assert {"auto", "system", "commander", "guards", "executor", "reconcile", "monitor"} <= (
        RESERVED_ACTORS
    )
    assert {"kernel", "console", "shadow", "runtime"} <= RESERVED_ACTORS


@given(st.text(max_size=80))
def test_any_text_is_a_valid_ascii_name_or_a_one_line_refusal(text):
    try:
        name = approver_name(text)
    except RefusedError as exc:
        assert "\n" not in str(exc) and str(exc).isprintable()
        return
    assert name.isascii() and name == name.strip() and name == approver_name(name)
    assert name not in RESERVED_ACTORS


# --- every decision path uses it -------------------------------------------------------

TWO = [GuardVerdict(guard="policy", allow=True, code="ok", rule="big", version="v1", approvals=2)]
ALLOW = [GuardVerdict.allowed("max_notional")]
T0 = datetime(2024, 1, 2, 16, 0, tzinfo=UTC)


def _pending(store, svc, helpers, n=0, verdicts=TWO):
    intent = helpers.make_intent(n)
    store.add_intent(intent, cycle_id="c1", broker="rec", ref_price=Decimal("50"))
    svc.submit(intent.id, verdicts)
    return intent.id


def _service(store, helpers, state_dir, clock=lambda: T0, approvers=None, settings=None):
    settings = settings or helpers.make_settings(state_dir, approval_ttl=600)
    settings.approval = ApprovalSettings(approvers=approvers)
    return ApprovalService(store, settings, clock=clock)


@pytest.mark.parametrize(
    "alias", ["\uff41lice", "\u0430lice", "alice\u200b", "al\u00adice", "auto"]
)
def test_a_look_alike_or_reserved_second_approver_does_not_meet_a_quorum(
    store, helpers, state_dir, alias
):
    svc = _service(store, helpers, state_dir)
    iid = _pending(store, svc, helpers)
    svc.approve(iid, "Alice")
    before = store.journal_rows()
    with pytest.raises(RefusedError):
        svc.approve(iid, alias)
    with pytest.raises(RefusedError):  # the store refuses it as well, whoever calls it
        store.record_approval(iid, actor=alias, required=2)
    assert store.journal_rows() == before
    assert store.get(iid).state is IntentState.PENDING_APPROVAL
    assert svc.approvals(iid) == [("alice", before[-1].ts)]  # journaled normalised


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_reserved_names_cannot_decide_a_single_approval_either(store, helpers, state_dir, verb):
    svc = _service(store, helpers, state_dir)
    iid = _pending(store, svc, helpers, verdicts=ALLOW)
    for name in ("guards", "System", " auto "):
        with pytest.raises(RefusedError, match="reserved"):
            getattr(svc, verb)(iid, name)
    assert store.get(iid).state is IntentState.PENDING_APPROVAL


def test_only_listed_approvers_may_decide(store, helpers, state_dir):
    svc = _service(store, helpers, state_dir, approvers=["alice", "Bob"])
    iid = _pending(store, svc, helpers)
    other = _pending(store, svc, helpers, n=1, verdicts=ALLOW)
    for verb, target in (("approve", iid), ("reject", other)):
        with pytest.raises(RefusedError, match=r"not listed in \[approval\] approvers"):
            getattr(svc, verb)(target, "carol")
    assert store.get(iid).state is IntentState.PENDING_APPROVAL
    svc.approve(iid, "ALICE")
    assert svc.approve(iid, "bob").state is IntentState.APPROVED
    assert svc.reject(other, "bob").state is IntentState.REJECTED


def test_a_name_holding_a_secret_value_is_refused(tmp_path, helpers):
    secret = "Zq8vK2mP4xR7"
    config = tmp_path / "plugins.toml"
    config.write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    settings = Settings.load(config, environ={"TK_TOKEN": secret})
    assert settings.secret("TK_TOKEN") == secret
    with Store.open(settings.state_dir, redact=settings.redact) as store:
        svc = _service(store, helpers, settings.state_dir, settings=settings)
        iid = _pending(store, svc, helpers)
        svc.approve(iid, "alice")
        for name in (f"bob.{secret}", f"carol.{secret}"):
            with pytest.raises(RefusedError, match="secret") as exc:
                svc.approve(iid, name)
            assert secret.casefold() not in str(exc.value).casefold()
            with pytest.raises(RefusedError, match="secret"):
                store.record_approval(iid, actor=name, required=2)
        assert [a for a, _ in svc.approvals(iid)] == ["alice"]


def test_approvers_config_is_validated_with_one_line_errors(tmp_path):
    def load(text):
        path = tmp_path / "plugins.toml"
        path.write_text(text)
        return Settings.load(path, environ={})

    assert load('[approval]\napprovers = ["alice", "Bob"]\n').approval.approvers == [
        "alice",
        "Bob",
    ]
    assert load("").approval.approvers is None
    for body, needle in [
        ('approvers = ["auto"]', "reserved"),
        ('approvers = ["al ice"]', "U+0020"),
        ('approvers = ["\\u0430lice"]', "U+0430"),
        ("approvers = []", "nobody"),
        ("approvers = [1]", "approvers"),
        ('approvers = "alice"', "approvers"),
    ]:
        with pytest.raises(ConfigError) as exc:
            load(f"[approval]\n{body}\n")
        text = str(exc.value)
        assert "\n" not in text and needle in text and "approval" in text, text


# --- expiry is judged under the write lock ----------------------------------------------


class LockClock:
    """Reads ``before`` outside a write transaction on ``conn`` and ``after`` inside one:
    what a decision sees when it waited for another process's write lock past expiry."""

    def __init__(self, conn, before, after):
        self.conn, self.before, self.after = conn, before, after
        self.armed = False

    def __call__(self):
        return self.after if self.armed and self.conn.in_transaction else self.before


@pytest.mark.parametrize(
    ("verb", "verdicts", "approvals_first"),
    [("approve", TWO, 1), ("approve", ALLOW, 0), ("reject", ALLOW, 0), ("reject", TWO, 1)],
)
def test_a_decision_that_reaches_the_lock_after_expiry_is_refused(
    tmp_path, helpers, verb, verdicts, approvals_first
):
    late = T0 + timedelta(seconds=601)
    with Store.open(tmp_path / "state") as store:
        clock = LockClock(store.conn, T0, late)
        store.clock = clock
        svc = _service(store, helpers, tmp_path / "state", clock=clock)
        iid = _pending(store, svc, helpers, verdicts=verdicts)
        if approvals_first:
            svc.approve(iid, "alice")
        clock.armed = True
        with pytest.raises(RefusedError, match="expired") as exc:
            getattr(svc, verb)(iid, "bob")
        assert exc.value.exit_code == 3
        record = store.get(iid)
        assert record.state is IntentState.EXPIRED
        assert [r.actor for r in store.journal_rows(iid)][-1] == "system"
        assert "bob" not in [r.actor for r in store.journal_rows(iid)]
        assert store.verify_journal().ok


def test_every_journal_time_is_read_under_the_write_lock(tmp_path, helpers):
    """A writer that waited for the lock journals the time it wrote, not the time it
    started waiting: every row's ts is a clock reading taken inside the transaction."""
    inside, outside, conn = set(), set(), []
    calls = iter(range(1, 1000))

    def clock():  # every reading distinct, filed by whether the write lock is held
        now = T0 + timedelta(seconds=next(calls))
        (inside if conn and conn[0].in_transaction else outside).add(
            now.isoformat(timespec="microseconds")
        )
        return now

    with Store.open(tmp_path / "state", clock=clock) as store:
        conn.append(store.conn)
        svc = _service(store, helpers, tmp_path / "state", clock=lambda: T0)
        iid = _pending(store, svc, helpers)
        svc.approve(iid, "alice")
        store.set_control("paused", True, actor="test", reason="x")
        svc.approve(iid, "bob")
        stamps = [r.ts for r in store.journal_rows()]
    assert len(stamps) >= 5 and stamps == sorted(stamps)
    assert set(stamps) <= inside, set(stamps) - inside


@pytest.mark.parametrize("alias", ["\u0430lice", "alice\u200b", "guards", "ALICE"])
def test_a_chained_approval_row_under_a_refused_or_same_name_fails_verify_and_preflight(
    store, helpers, state_dir, broker_factory, alias
):
    """Written around the service (a bug, or a writer with the hash recipe): the chain is
    intact, but the name counts toward no quorum, so the quorum is not met."""
    svc = _service(store, helpers, state_dir)
    iid = _pending(store, svc, helpers)
    svc.approve(iid, "alice")
    store.transition(iid, "approved", actor=alias, payload={"approval": {"n": 2, "of": 2}})
    result = store.verify_journal()
    assert not result.ok and result.entity == iid
    executor = Executor(store, broker_factory(), broker_name="rec", settings=svc.settings)
    codes = {d.code: d.detail for d in executor.preflight(iid)}
    assert "1 of the 2 distinct approvals" in codes["quorum_missing"]


def test_cli_by_is_normalised_reserved_is_a_usage_error_and_the_allowlist_refuses(
    tmp_path, state_dir, helpers, capsys
):
    from tradekernel.cli import main

    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{state_dir}"\n[approval]\napprovers = ["alice", "bob"]\n'
    )

    def cli(*args):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(["--config", str(config), *args])
        out = capsys.readouterr()
        return exc.value.code, out.out, out.err

    with Store.open(state_dir) as store:
        svc = _service(store, helpers, state_dir, clock=lambda: datetime.now(UTC))
        iid = _pending(store, svc, helpers)
    code, out, err = cli("intents", "approve", iid, "--by", "Auto")
    assert code == 2 and out == "" and err.count("\n") == 1 and "reserved" in err
    code, out, err = cli("intents", "approve", iid, "--by", "carol")
    assert code == 3 and "not listed in [approval] approvers" in err
    code, out, err = cli("intents", "approve", iid)  # the default `operator` is not listed
    assert code == 3 and "'operator'" in err
    code, out, _ = cli("intents", "approve", iid, "--by", " \uff21LICE ")
    assert out == f"{iid}: approval 1 of 2 recorded by alice; still pending_approval\n"
    with Store.open(state_dir) as store:
        assert [r.actor for r in store.journal_rows(iid)][-1] == "alice"
