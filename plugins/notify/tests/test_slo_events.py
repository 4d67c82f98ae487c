"""SLO alerts reach the notifiers with the default routes: the burn that pages, and its
recovery (info), so whoever was paged learns that it is over."""

from __future__ import annotations

from tradekernel_notify import notifications
from tradekernel_notify.render import notification_from_event

from .test_kernel import kernel_with_observer

FIELDS = {"objective": "cycles", "indicator": "cycle_success", "budget_remaining": 0.91}


def test_burn_and_recovery_are_both_delivered_by_the_default_routes(make_settings):
    kernel, observer = kernel_with_observer(make_settings(""))
    kernel.emit("slo", "burn_rate", severity="critical", alert="fast", burn_rate=20.0, **FIELDS)
    kernel.emit("slo", "recovered", severity="info", alert="fast", burn_rate=0.5, **FIELDS)
    kernel.emit("slo", "status", severity="debug", **FIELDS)  # never routed
    delivered = [e.fields["event_kind"] for e in observer.events if e.kind == "delivered"]
    assert delivered == ["slo.burn_rate", "slo.recovered"]
    assert [r.status for r in notifications(kernel).log()] == ["sent", "sent"]
    recovered = next(e for e in observer.events if e.stage == "slo" and e.kind == "recovered")
    note = notification_from_event(recovered)
    assert note.title == "SLO recovered: cycles" and note.severity == "info"
    assert "no longer burns" in note.body and "0.91" in note.body
