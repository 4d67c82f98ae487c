"""Routing of ``stage.kind`` keys by glob and severity to selected notifiers."""

from __future__ import annotations

from tradekernel.api import Settings
from tradekernel_notify.routing import Router


def routes(*routes: dict) -> list:
    """``[notify] routes`` as Settings structures them from ``routes`` (tables)."""
    return Settings.load(environ={}, overrides={"notify.routes": list(routes)}).notify.routes


def test_globs_severity_and_selected_order():
    router = Router(
        routes(
            {"kinds": ["approval.pending", "executor.*"], "notifiers": ["slack"]},
            {"kinds": ["*"], "min_severity": "error", "notifiers": ["*"]},
        ),
        selected=["email", "slack", "log"],
    )
    assert router.route("approval.pending", "info") == ["slack"]
    assert router.route("executor.failed", "warning") == ["slack"]
    assert router.route("approval.approved", "info") == []
    assert router.route("scan.candidates", "error") == ["email", "slack", "log"]
    assert router.route("executor.failed", "critical") == ["email", "slack", "log"]


def test_min_severity_filters():
    router = Router(routes({"kinds": ["alerts.*"], "min_severity": "warning"}), ["log"])
    assert router.route("alerts.fired", "info") == []
    assert router.route("alerts.fired", "warning") == ["log"]


def test_notify_events_are_never_routed():
    router = Router(routes({"kinds": ["*"], "min_severity": "debug"}), ["log"])
    assert router.route("notify.failed", "critical") == []
    assert router.route("anything.else", "debug") == ["log"]


def test_unselected_notifiers_receive_nothing():
    router = Router(routes({"kinds": ["a.*"], "notifiers": ["slack", "log"]}), ["log"])
    assert router.route("a.b", "info") == ["log"]
    assert router.unselected() == ["slack"]


def test_default_routes_cover_trade_events_incidents_and_alerts():
    router = Router(Settings().notify.routes, ["log"])
    for key in (
        "approval.pending",
        "approval.recorded",  # the second approver learns the first approved
        "executor.submitted",
        "executor.failed",
        "monitor.fill",
        "resilience.breaker_opened",
        "resilience.degrade_entered",
        "resilience.degrade_exited",
        "resilience.cooldown",
        "control.kill_switch",
        "control.paused",
        "control.resumed",
        "alerts.fired",
        "slo.recovered",  # told when a burn that paged is over
    ):
        assert router.route(key, "info") == ["log"], key
    assert router.route("scan.candidates", "info") == []
    assert router.route("hydrate.skill", "error") == ["log"]
