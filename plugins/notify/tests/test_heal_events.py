"""Self-healing events reach the notifiers through the configured routes."""

from __future__ import annotations

from tradekernel_notify import notifications
from tradekernel_notify.render import notification_from_event

from .test_kernel import kernel_with_observer

ROUTE = """
[notify]
routes = [{ kinds = ["heal.*"], min_severity = "warning", notifiers = ["*"] }]
"""


def test_heal_events_are_routed_and_rendered(make_settings):
    kernel, observer = kernel_with_observer(make_settings(ROUTE))
    kernel.emit("heal", "acted", playbook="outage", action="reconcile", outcome="ok")  # info
    kernel.emit(
        "heal",
        "escalated",
        severity="critical",
        playbook="breaker_flapping",
        action="latch_open",
        outcome="escalated",
        opens=3,
        reason="breaker opened 3 times within 3600s\x1b[31m",
    )
    delivered = [e for e in observer.events if e.kind == "delivered"]
    assert [e.fields["event_kind"] for e in delivered] == ["heal.escalated"]
    assert [r.status for r in notifications(kernel).log()] == ["sent"]
    note = notification_from_event(observer.events[1])
    assert note.title == "Escalated: breaker_flapping"
    assert "Needs an operator: breaker opened 3 times" in note.body and "\x1b" not in note.body
