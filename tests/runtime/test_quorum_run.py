"""Four-eyes approval in a running agent: auto mode does not bypass a quorum rule, an
intent waits for its distinct approvers and executes only after the last one; an intent
no rule matches is auto-approved as before."""

from __future__ import annotations

from tradekernel.approval import ApprovalService
from tradekernel.models import Decision
from tradekernel.runtime import Runtime
from tradekernel.store import IntentState

from .conftest import Scripted, buy

QUORUM = """
[guard.max_order_notional]
limit = 5000

[[approval.quorum]]
approvals = 2
min_notional = 300
mode = "paper"
"""


def test_auto_mode_waits_for_the_quorum_and_executes_after_it(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 20), Decision.hold("wait"), Decision.hold("wait")]
    kernel, rec = make_kernel(
        approval="auto", strategist="scripted", extra=QUORUM, plugins=((scripted, "scripted"),)
    )
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        assert len(first.pending) == 1 and not first.approved and not first.submitted
        (intent_id,) = first.pending
        assert rec.of("approval", "pending")[0].fields["required"] == 2
        assert not rec.of("approval", "auto_approved")
        service = ApprovalService(runtime.store, kernel.settings)
        service.approve(intent_id, "alice")
        assert not runtime.run_cycle().submitted  # one approval of two: nothing sent
        assert runtime.store.get(intent_id).state is IntentState.PENDING_APPROVAL
        service.approve(intent_id, "bob")
        assert runtime.run_cycle().submitted == [intent_id]
        assert [a for a, _ in service.approvals(intent_id)] == ["alice", "bob"]
        assert runtime.store.verify_journal().ok


def test_an_intent_no_quorum_rule_matches_is_auto_approved(make_kernel):
    scripted = Scripted()
    scripted.script = [buy("AAA", 1)]  # about 100: under min_notional
    kernel, rec = make_kernel(
        approval="auto", strategist="scripted", extra=QUORUM, plugins=((scripted, "scripted"),)
    )
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
        assert state.submitted and not state.pending
        assert rec.of("approval", "auto_approved")
