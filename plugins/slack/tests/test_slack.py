"""The slack notifier against a local Slack-like server."""

from __future__ import annotations

import json
import logging

import pytest
from tradekernel import hookimpl
from tradekernel.api import ConfigError, Kernel, Notification, Settings
from tradekernel_notify import Notifications, notifications
from tradekernel_slack import build_payload

NOTE = Notification(
    kind="approval.pending",
    title="Approval needed: BUY 10 AAA",
    body="Intent int_1 waits.\nApprove: tradekernel intents approve int_1",
    severity="warning",
    fields={"symbol": "AAA", "quantity": "10", "approve_cmd": "tradekernel intents approve int_1"},
    dedup_key="approval.pending:int_1",
)


def send(kernel: Kernel, notification: Notification = NOTE):
    return kernel.component("notifier", "slack").send(notification)


def test_block_kit_shape():
    payload = build_payload(NOTE)
    assert payload["text"].startswith("[WARNING] Approval needed: BUY 10 AAA")
    header, section, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Approval needed: BUY 10 AAA"},
    }
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "tradekernel intents approve int_1" in section["text"]["text"]
    assert section["fields"] == [
        {"type": "mrkdwn", "text": "*symbol*\nAAA"},
        {"type": "mrkdwn", "text": "*quantity*\n10"},
    ]
    assert context["type"] == "context" and "approval.pending" in context["elements"][0]["text"]


def test_limits_of_block_kit_are_respected():
    long = Notification(
        kind="k.k",
        title="T" * 400,
        body="<b>" + "x" * 5000,
        fields={f"f{i}": i for i in range(15)},
    )
    header, section, _ = build_payload(long)["blocks"]
    assert len(header["text"]["text"]) == 150
    assert len(section["text"]["text"]) <= 3000 and section["text"]["text"].startswith("&lt;b&gt;")
    assert len(section["fields"]) == 10


def test_ok_delivers_once(make_kernel, slack_server):
    result = send(make_kernel())
    assert (result.ok, result.status, result.http_status, result.attempts) == (
        True,
        "sent",
        200,
        1,
    )
    (request,) = slack_server.requests
    assert request.path.endswith("sEcReTtOkEn123")
    body = request.json()
    assert body["text"] and [b["type"] for b in body["blocks"]] == ["header", "section", "context"]


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (400, "invalid_payload"),
        (403, "invalid_token"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ],
)
def test_permanent_errors_are_not_retried(make_kernel, slack_server, status, answer):
    slack_server.script([(status, answer)])
    result = send(make_kernel())
    assert (result.ok, result.status, result.http_status, result.attempts) == (
        False,
        "failed",
        status,
        1,
    )
    assert result.error == f"http {status}: {answer}"
    assert len(slack_server.requests) == 1


def test_429_with_retry_after_is_retried_then_ok(make_kernel, slack_server):
    slack_server.script([(429, "rate_limited", {"Retry-After": "0"}), (200, "ok")])
    result = send(make_kernel())
    assert (result.ok, result.attempts) == (True, 2)
    assert len(slack_server.requests) == 2


def test_retry_after_beyond_the_cap_gives_up_at_once(make_kernel, slack_server):
    slack_server.script([(429, "rate_limited", {"Retry-After": "120"})])
    result = send(make_kernel())
    assert (result.ok, result.http_status, result.attempts) == (False, 429, 1)
    assert "exceeds the cap" in result.error


def test_500_then_200_is_retried_and_delivered_exactly_once(make_kernel, slack_server):
    slack_server.script([(500, "internal_error"), (200, "ok")])
    kernel = make_kernel()
    records = Notifications(kernel).publish(NOTE, notifiers=["slack"])
    assert [(r.status, r.attempts, r.http_status) for r in records] == [("sent", 2, 200)]
    assert len(slack_server.requests) == 2
    # the same alert again is deduplicated: exactly one message reached the channel
    assert Notifications(kernel).publish(NOTE, notifiers=["slack"])[0].status == "dedup_suppressed"
    assert len(slack_server.requests) == 2


def test_persistent_5xx_stops_after_max_attempts(make_kernel, slack_server):
    slack_server.default = (503, "unavailable")
    result = send(make_kernel())
    assert (result.ok, result.attempts, result.http_status) == (False, 3, 503)


def test_200_without_ok_is_a_failure(make_kernel, slack_server):
    slack_server.script([(200, "something else")])
    result = send(make_kernel())
    assert not result.ok and result.attempts == 1


def test_connection_refused_is_retried_and_reported(make_kernel, slack_server):
    kernel = make_kernel()
    slack_server.stop()
    result = send(kernel)
    assert (result.ok, result.attempts) == (False, 3)
    assert result.error.startswith("connection error")


def test_missing_env_var_is_a_config_error(tmp_path):
    settings = Settings.load(
        overrides={"kernel.state_dir": str(tmp_path), "components.notifiers": ["slack"]},
        environ={},
    )
    with pytest.raises(ConfigError) as info:
        Kernel(settings).component("notifier", "slack")
    assert "[notifier.slack] webhook_url_env" in str(info.value)
    assert "SLACK_WEBHOOK_URL" in str(info.value)


def test_webhook_url_never_appears_in_results_logs_or_events(
    make_kernel, slack_server, capfd, caplog
):
    from loguru import logger

    caplog.set_level(logging.DEBUG)
    sink_id = logger.add(lambda m: print(m, end=""), level="DEBUG")
    seen = []

    class Observer:
        @hookimpl
        def on_event(self, event):
            seen.append(f"{event.stage}.{event.kind} " + json.dumps(event.fields, default=str))

    try:
        slack_server.script([(500, "boom"), (404, "no_service")])
        kernel = make_kernel()
        kernel.registry.pm.register(Observer(), name="observer")
        kernel.emit(
            "approval",
            "pending",
            intent_id="int_9",
            symbol="AAA",
            side="buy",
            quantity="1",
            notional="10",
            approve_cmd="a",
            reject_cmd="r",
        )
        records = notifications(kernel).log()
        slack_server.stop()
        kernel.emit("control", "paused", actor="ops", reason="test")
    finally:
        logger.remove(sink_id)
    out, err = capfd.readouterr()
    assert "HTTP Request" not in caplog.text  # httpx's own request log is withheld
    texts = [out, err, caplog.text, *seen, *(repr(r) for r in records)]
    texts += [repr(r) for r in notifications(kernel).log()]
    texts.append(repr(kernel.component("notifier", "slack")))
    assert [s.split()[0] for s in seen if s.startswith("notify.")] == [
        "notify.failed",
        "notify.failed",
    ]
    assert records and records[0].error == "http 404: no_service"
    for text in texts:
        assert "sEcReTtOkEn123" not in text
        assert "/services/T000/B000" not in text


def test_raw_field_values_are_inert_in_the_blocks():
    forged = "ok\n\nApproved by risk-officer\x1b]52;c;aGk=\x07\u202e"
    note = Notification(kind="executor.failed", title="t", body="b", fields={"detail": forged})
    (field,) = build_payload(note)["blocks"][1]["fields"]
    assert field["text"] == "*detail*\nok\\n\\nApproved by risk-officer\\x1b]52;c;aGk=\\x07\\u202e"
