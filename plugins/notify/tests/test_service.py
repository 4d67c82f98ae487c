"""The Notifications service: routing, dedup, rate limits, timeouts, the log, events;
on each store (the state lives in the store's database)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from tradekernel.api import DeliveryResult, Notification
from tradekernel_notify import Notifications


@pytest.fixture
def store_toml(any_store: str) -> str:
    return any_store


ROUTES = """
[notify]
routes = [
  { kinds = ["trade.*"], notifiers = ["a", "b"] },
  { kinds = ["*"], min_severity = "error" },
]
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def note(kind: str = "trade.fill", title: str = "Filled", body: str = "10 AAA", **kw):
    return Notification(kind=kind, title=title, body=body, **kw)


def test_publish_routes_and_logs(make_settings, kit):
    a, b = kit.Recording(), kit.Recording()
    events = []
    service = Notifications(
        make_settings(ROUTES), {"a": a, "b": b}, emit=lambda *args, **kw: events.append((args, kw))
    )
    records = service.publish(note())
    assert [(r.notifier, r.status) for r in records] == [("a", "sent"), ("b", "sent")]
    assert len(a.sent) == len(b.sent) == 1
    assert service.publish(note(kind="other.thing")) == []
    assert [r.notifier for r in service.publish(note(kind="other.x", severity="error"))] == [
        "a",
        "b",
    ]
    log = service.log()
    assert [r.status for r in log] == ["sent"] * 4
    assert all(r.latency_ms is not None and r.attempts == 1 for r in log)
    assert [args for args, _ in events][:2] == [("notify", "delivered")] * 2
    assert events[0][1]["notifier"] == "a" and events[0][1]["event_kind"] == "trade.fill"


def test_dedup_within_window_then_again_after(make_settings, kit):
    rec = kit.Recording()
    clock = Clock()
    service = Notifications(make_settings(ROUTES), {"a": rec}, clock=clock)
    assert service.publish(note())[0].status == "sent"
    clock.advance(minutes=5)
    assert service.publish(note())[0].status == "dedup_suppressed"
    assert service.publish(note(body="11 AAA"))[0].status == "sent"  # different content
    clock.advance(minutes=6)  # 11 minutes after the first: outside the 10m window
    assert service.publish(note())[0].status == "sent"
    assert len(rec.sent) == 3
    assert service.counts() == {"sent": 3, "dedup_suppressed": 1}
    assert [r.status for r in service.log(status="dedup_suppressed")] == ["dedup_suppressed"]


def test_explicit_dedup_key_wins_over_content(make_settings, kit):
    rec = kit.Recording()
    service = Notifications(make_settings(ROUTES), {"a": rec})
    assert service.publish(note(body="x", dedup_key="k1"))[0].status == "sent"
    assert service.publish(note(body="y", dedup_key="k1"))[0].status == "dedup_suppressed"


def test_failed_delivery_releases_the_dedup_claim(make_settings, kit):
    rec = kit.Recording(
        DeliveryResult(ok=False, status="failed", http_status=500, error="http 500")
    )
    service = Notifications(make_settings(ROUTES), {"a": rec})
    first = service.publish(note())[0]
    assert (first.status, first.http_status, first.error) == ("failed", 500, "http 500")
    rec.result = DeliveryResult(ok=True, status="sent")
    assert service.publish(note())[0].status == "sent"
    assert service.publish(note())[0].status == "dedup_suppressed"


def test_rate_limit_per_notifier(make_settings, kit):
    settings = make_settings(
        ROUTES + 'rate_limit = { count = 10, per = "1h" }\n'
        'rate_limits = { a = { count = 2, per = "1m" } }\n'
    )
    a, b = kit.Recording(), kit.Recording()
    clock = Clock()
    service = Notifications(settings, {"a": a, "b": b}, clock=clock)
    statuses = [
        {r.notifier: r.status for r in service.publish(note(body=str(i)))} for i in range(3)
    ]
    assert [s["a"] for s in statuses] == ["sent", "sent", "rate_limited"]
    assert [s["b"] for s in statuses] == ["sent", "sent", "sent"]
    clock.advance(seconds=61)
    assert service.publish(note(body="later"))[0].status == "sent"
    assert len(a.sent) == 3
    assert len(service.log(status="rate_limited", notifier="a")) == 1


def test_force_bypasses_noise_control_but_is_logged(make_settings, kit):
    rec = kit.Recording()
    service = Notifications(make_settings(ROUTES + "rate_limit = { count = 1 }\n"), {"a": rec})
    service.publish(note())
    for _ in range(2):
        assert service.publish(note(), notifiers=["a"], force=True)[0].status == "sent"
    assert len(rec.sent) == 3
    assert len(service.log(status="sent")) == 3


def test_hanging_notifier_is_abandoned_after_its_timeout(make_settings, kit):
    hang, rec = kit.Hanging(), kit.Recording()
    settings = make_settings(ROUTES + 'timeout = "200ms"\n')
    events = []
    service = Notifications(settings, {"a": hang, "b": rec}, emit=lambda *a, **k: events.append(a))
    started = time.monotonic()
    records = service.publish(note())
    elapsed = time.monotonic() - started
    hang.release.set()
    by_name = {r.notifier: r for r in records}
    assert (by_name["a"].status, by_name["a"].error) == ("failed", "timeout")
    assert by_name["b"].status == "sent"  # the other notifier is not held up
    assert elapsed < 2.0  # hang detector only (10x the timeout), not a performance check
    assert ("notify", "failed") in events
    assert service.log(status="failed")[0].error == "timeout"


def test_raising_or_unavailable_notifiers_become_failed_records(make_settings, kit):
    settings = make_settings(
        '[notify]\nroutes = [{ kinds = ["trade.*"], notifiers = ["bad", "gone"] }]\n'
    )

    def missing(name):
        raise KeyError(name)

    service = Notifications(settings, {"bad": kit.Raising()})
    service.router.selected.append("gone")
    service._resolve = lambda name: {"bad": kit.Raising()}[name] if name == "bad" else missing(name)
    records = {r.notifier: r for r in service.publish(note())}
    assert records["bad"].status == "failed"
    assert "RuntimeError" in records["bad"].error
    assert records["gone"].status == "failed" and "unavailable" in records["gone"].error


def test_log_filters_by_day_and_status(make_settings, kit):
    clock = Clock()
    service = Notifications(make_settings(ROUTES), {"a": kit.Recording()}, clock=clock)
    service.publish(note(body="day1"))
    clock.advance(days=1)
    service.publish(note(body="day2"))
    assert [r.ts.date().isoformat() for r in service.log("2030-01-03")] == ["2030-01-03"]
    assert len(service.log(clock().date())) == 1
    assert len(service.log("today")) == 1
    assert len(service.log()) == 2
    assert service.log(status="failed") == []


def test_disabled_notify_publishes_nothing_by_route(make_settings, kit):
    rec = kit.Recording()
    service = Notifications(make_settings(ROUTES + "enabled = false\n"), {"a": rec})
    assert service.publish(note()) == []
    assert service.publish(note(), notifiers=["a"])[0].status == "sent"


def test_state_survives_a_new_service_instance(make_settings, kit):
    settings = make_settings(ROUTES)
    first = Notifications(settings, {"a": kit.Recording()})
    assert first.publish(note())[0].status == "sent"
    second = Notifications(settings, {"a": kit.Recording()})  # e.g. after a restart
    assert second.publish(note())[0].status == "dedup_suppressed"
    assert len(second.log()) == 2
