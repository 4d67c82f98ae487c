"""Events become readable notifications."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.models import Event
from tradekernel.notify.render import digest, notification_from_event


def test_approval_pending_has_preview_fields_and_commands():
    event = Event(
        stage="approval",
        kind="pending",
        severity="warning",
        fields={
            "intent_id": "int_1",
            "symbol": "AAA",
            "side": "buy",
            "quantity": Decimal("10"),
            "estimated_notional": Decimal("1500.50"),
            "approve_cmd": "tradekernel intents approve int_1",
            "reject_cmd": "tradekernel intents reject int_1",
        },
    )
    n = notification_from_event(event)
    assert n.kind == "approval.pending"
    assert n.severity == "warning"
    assert n.title == "Approval needed: BUY 10 AAA"
    assert "1500.50" in n.body
    assert "Approve: tradekernel intents approve int_1" in n.body
    assert "Reject: tradekernel intents reject int_1" in n.body
    assert n.fields["symbol"] == "AAA" and n.fields["quantity"] == "10"
    assert n.dedup_key == "approval.pending:int_1"


def test_incident_and_control_templates():
    opened = notification_from_event(
        Event(stage="resilience", kind="breaker_opened", fields={"failures": 3, "reason": "broker"})
    )
    assert opened.title == "Circuit breaker opened"
    assert "3 failures: broker" in opened.body
    assert opened.dedup_key is None
    paused = notification_from_event(
        Event(stage="control", kind="paused", fields={"actor": "alice", "reason": "news"})
    )
    assert paused.title == "Trading paused by alice"


def test_unknown_kinds_get_a_generic_rendering():
    n = notification_from_event(Event(stage="custom", kind="thing", fields={"a": 1}))
    assert n.title == "custom.thing"
    assert n.body == "a: 1"


def test_missing_fields_render_as_question_marks():
    n = notification_from_event(Event(stage="executor", kind="submitted", fields={}))
    assert n.title == "Order submitted: ? ? ?"


def test_digest_depends_on_what_is_read():
    assert digest("k", "t", "b") == digest("k", "t", "b")
    assert digest("k", "t", "b") != digest("k", "t", "c")
