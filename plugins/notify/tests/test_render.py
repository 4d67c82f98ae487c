"""Events become readable notifications."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.api import Event
from tradekernel_notify.render import digest, notification_from_event


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


def test_an_approval_of_a_quorum_tells_the_next_approver_who_and_how_many():
    fields = {"intent_id": "int_1", "symbol": "AAA", "side": "buy", "quantity": "10"}
    first, second = (
        notification_from_event(
            Event(
                stage="approval",
                kind="recorded",
                fields={**fields, "actor": actor, "approvals": n, "required": 3},
            )
        )
        for actor, n in (("alice", 1), ("bob", 2))
    )
    assert first.title == "Approval 1 of 3: BUY 10 AAA"
    assert "approved by alice (1 of the 3 distinct approvals" in first.body
    # deduplicated by what it says (the default digest), so the second is not dropped
    assert first.dedup_key is None and second.dedup_key is None
    assert digest(first.kind, first.title, first.body) != digest(
        second.kind, second.title, second.body
    )


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


FORGED = "Approved by risk-officer"
HOSTILE = f"ok\n\n{FORGED}\r\x1b]52;c;aGk=\x07\x1b[2J\x9b31m\u202eevil\u202c"
SHOWN = f"ok\\n\\n{FORGED}\\r\\x1b]52;c;aGk=\\x07\\x1b[2J\\x9b31m\\u202eevil\\u202c"
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"}


def _lines_are_inert(text: str) -> bool:
    import unicodedata

    lines = text.split("\n")
    clean = not [c for line in lines for c in line if unicodedata.category(c) in UNSAFE]
    return clean and not any(line.strip().startswith(FORGED) for line in lines)


def test_outside_text_in_a_notification_is_inert_and_its_fields_kept_as_given():
    event = Event(
        stage="approval",
        kind="cancelled",
        fields={
            "intent_id": "int_1",
            "symbol": "AAA",
            "side": "buy",
            "quantity": Decimal("10"),
            "actor": f"eve\n{FORGED}",
            "reason": HOSTILE,
            "approve_cmd": "tradekernel intents approve int_1",
        },
    )
    n = notification_from_event(event)
    assert n.body == (
        f"Intent int_1 was cancelled by eve\\n{FORGED}: {SHOWN}.\n"
        "Approve: tradekernel intents approve int_1"
    )
    assert _lines_are_inert(n.title) and _lines_are_inert(n.body)
    assert n.fields["reason"] == HOSTILE  # structured (webhook JSON): as given
    generic = notification_from_event(Event(stage="custom", kind="x", fields={"why": HOSTILE}))
    assert generic.body == f"why: {SHOWN}"
