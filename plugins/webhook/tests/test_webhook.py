"""The webhook notifier: notification.v1 payload, HMAC signature, retries, secrecy."""

from __future__ import annotations

import json
import time

import pytest
from tradekernel import hookimpl
from tradekernel.api import ConfigError, Notification
from tradekernel.testing import HTTPReceiver
from tradekernel_notify import notifications
from tradekernel_webhook import sign, verify_signature

SECRET = "whsec-shared-secret-value"
NOTE = Notification(
    kind="executor.submitted",
    title="Order submitted: BUY 10 AAA",
    body="Order c1 was sent.",
    severity="info",
    fields={"symbol": "AAA", "quantity": "10"},
    dedup_key="executor.submitted:c1",
)


def verifying_receiver(*, tolerance: float = 300, clock_offset: float = 0):
    """A receiver that accepts only correctly signed, fresh requests (401 otherwise)."""

    def handler(request):
        ok = verify_signature(
            SECRET,
            request.headers.get("x-tradekernel-timestamp"),
            request.body,
            request.headers.get("x-tradekernel-signature"),
            tolerance=tolerance,
            now=time.time() + clock_offset,
        )
        return (200, "accepted") if ok else (401, "bad signature")

    return HTTPReceiver(handler=handler)


def test_signed_payload_is_accepted_by_a_verifying_receiver(make_kernel):
    with verifying_receiver() as rx:
        notifier = make_kernel(rx.url, 'headers = { "X-Team" = "ops" }\n').component(
            "notifier", "webhook"
        )
        result = notifier.send(NOTE)
    assert (result.ok, result.status, result.http_status, result.attempts) == (True, "sent", 200, 1)
    (request,) = rx.requests
    payload = request.json()
    assert payload["schema"] == "notification.v1"
    assert {
        k: payload[k] for k in ("kind", "title", "body", "severity", "fields", "dedup_key")
    } == {
        "kind": "executor.submitted",
        "title": "Order submitted: BUY 10 AAA",
        "body": "Order c1 was sent.",
        "severity": "info",
        "fields": {"symbol": "AAA", "quantity": "10"},
        "dedup_key": "executor.submitted:c1",
    }
    assert payload["ts"] and payload["id"] == request.headers["x-tradekernel-delivery"]
    assert request.headers["x-team"] == "ops"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tradekernel-signature"].startswith("sha256=")


def test_stale_timestamp_is_rejected_by_the_receiver(make_kernel):
    # the receiver's clock is 10 minutes ahead: our fresh timestamp looks like a replay
    with verifying_receiver(clock_offset=600) as rx:
        result = make_kernel(rx.url).component("notifier", "webhook").send(NOTE)
    assert (result.ok, result.http_status, result.attempts) == (False, 401, 1)


def test_verify_signature_rejects_tampering_and_replays():
    body = b'{"a": 1}'
    now = 1_900_000_000
    good = sign(SECRET, str(now), body)
    assert verify_signature(SECRET, str(now), body, good, now=now)
    assert not verify_signature(SECRET, str(now), b'{"a": 2}', good, now=now)
    assert not verify_signature("other", str(now), body, good, now=now)
    assert not verify_signature(SECRET, str(now), body, good, now=now + 301)
    assert not verify_signature(SECRET, None, body, good, now=now)
    assert not verify_signature(SECRET, "soon", body, good, now=now)


def test_unsigned_without_secret_env(make_kernel):
    with HTTPReceiver() as rx:
        kernel = make_kernel(rx.url, environ={"HOOK_URL": rx.url}, signed=False)
        assert kernel.component("notifier", "webhook").send(NOTE).ok
    assert "x-tradekernel-signature" not in rx.requests[0].headers
    assert "x-tradekernel-timestamp" in rx.requests[0].headers


def test_retries_keep_the_delivery_id_and_deliver_once(make_kernel):
    with HTTPReceiver([(502, "bad gateway"), (429, "slow down", {"Retry-After": "0"})]) as rx:
        result = make_kernel(rx.url).component("notifier", "webhook").send(NOTE)
    assert (result.ok, result.attempts) == (True, 3)
    ids = {r.headers["x-tradekernel-delivery"] for r in rx.requests}
    assert len(ids) == 1  # receivers can drop duplicates by this id
    assert [r.json()["id"] for r in rx.requests] == [ids.pop()] * 3


def test_client_errors_are_final(make_kernel):
    with HTTPReceiver([(422, "unprocessable")]) as rx:
        result = make_kernel(rx.url).component("notifier", "webhook").send(NOTE)
    assert (result.ok, result.http_status, result.attempts) == (False, 422, 1)
    assert result.error == "http 422: unprocessable"


@pytest.mark.parametrize(
    ("section", "environ", "expected"),
    [
        ("", {"HOOK_SECRET": SECRET}, "url_env: environment variable HOOK_URL is not set"),
        ("", {"HOOK_URL": "http://127.0.0.1:1/x"}, "secret_env: environment variable HOOK_SECRET"),
        ("", {"HOOK_URL": "ftp://x", "HOOK_SECRET": SECRET}, "url_env: expected an http"),
        (
            'url = "http://127.0.0.1:1/x"\n',
            {"HOOK_URL": "http://127.0.0.1:1/x", "HOOK_SECRET": SECRET},
            "exactly one of url",
        ),
        (
            'headers = { "X-Tradekernel-Signature" = "x" }\n',
            {"HOOK_URL": "http://127.0.0.1:1/x", "HOOK_SECRET": SECRET},
            "set by the notifier",
        ),
    ],
)
def test_config_errors_name_the_key(make_kernel, section, environ, expected):
    kernel = make_kernel("unused", section, environ=environ)
    with pytest.raises(ConfigError) as info:
        kernel.component("notifier", "webhook")
    message = str(info.value)
    assert message.startswith("plugins.toml: [notifier.webhook]") and expected in message
    assert SECRET not in message and "ftp://x" not in message


def test_secrets_never_appear_in_results_or_events(make_kernel):
    seen = []

    class Observer:
        @hookimpl
        def on_event(self, event):
            seen.append(json.dumps(event.fields, default=str))

    with HTTPReceiver([(500, "error")], default=(400, "no")) as rx:
        secret_url = rx.url + "?token=tok-abcdef-123456"
        kernel = make_kernel(secret_url)
        kernel.registry.pm.register(Observer(), name="observer")
        kernel.emit("executor", "failed", client_order_id="c1", symbol="AAA", reason="x")
        records = notifications(kernel).log()
    assert [r.status for r in records] == ["failed"]
    texts = [*seen, *(repr(r) for r in records), repr(kernel.component("notifier", "webhook"))]
    for text in texts:
        assert "tok-abcdef-123456" not in text
        assert SECRET not in text


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [("²", "sha256=ab"), ("1700000000", "sha256=ä"), ("", "sha256=ab"), ("17e9", "x")],
)
def test_odd_signature_headers_are_invalid_not_a_crash(timestamp, signature):
    from tradekernel_webhook import verify_signature

    assert verify_signature("s3cret", timestamp, b"{}", signature, now=1700000000) is False
