"""``alerts check``: evaluate the policy, announce what fires, report the outcome.

Each firing rule becomes an ``alerts.fired`` event. The notification dispatcher of
``tradekernel-notify`` routes it by ``[notify] routes`` (the defaults send ``alerts.*`` to
every notifier) with the dedup key ``alerts.fired:<rule>:<date>``, so repeated checks
within ``[notify] dedup_window`` notify once. A rule that fired earlier in the day (its
last ``alerts.*`` event is ``fired``) and is ok now gets an ``alerts.resolved`` event.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from attrs import define, field
from tradekernel.api import utcnow

from .observe import collect
from .policy import Policy, load_policy
from .rules import RuleResult, active_rules, evaluate


@define
class AlertCheck:
    """The outcome of one check: every active rule's result and what was delivered."""

    date: date
    policy: Policy
    results: list[RuleResult]
    resolved: list[str] = field(factory=list)
    deliveries: list[dict[str, Any]] = field(factory=list)
    """One entry per notifier and announced alert: ``notifier``, ``event_kind``,
    ``dedup_key``, ``status`` (sent, failed, dedup_suppressed, rate_limited), ``error``."""

    @property
    def firing(self) -> list[RuleResult]:
        return [r for r in self.results if r.firing]

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "profile": self.policy.profile,
            "firing": [r.name for r in self.firing],
            "resolved": self.resolved,
            "rules": [r.as_dict() for r in self.results],
            "deliveries": self.deliveries,
        }


def alert_id(rule: str, day: date) -> str:
    """The per-rule, per-day id that is the notification's dedup key suffix."""
    return f"{rule}:{day.isoformat()}"


def _last_alert_kinds(events: list[Any] | None) -> dict[str, str]:
    last: dict[str, str] = {}
    for event in events or []:
        if event.stage == "alerts" and event.kind in ("fired", "resolved"):
            last[str(event.fields.get("rule"))] = event.kind
    return last


def check_alerts(
    kernel: Any,
    day: date | None = None,
    *,
    now: datetime | None = None,
    announce: bool = True,
) -> AlertCheck:
    """Evaluate the alert policy of ``kernel.settings`` over ``day`` (default: today,
    UTC). With ``announce`` (the default) emit ``alerts.fired`` for each firing rule and
    ``alerts.resolved`` for each rule that fired earlier today and is ok now; the
    deliveries the notification dispatcher made for them are returned."""
    settings = kernel.settings
    policy = load_policy(settings)
    now = now or utcnow()
    day = day or now.date()
    validate = "invalid_events" in active_rules(policy)
    obs = collect(settings, day, now, validate=validate)
    check = AlertCheck(date=day, policy=policy, results=evaluate(policy, obs))
    if not announce:
        return check
    last = _last_alert_kinds(obs.events)
    check.resolved = [
        r.name for r in check.results if r.status == "ok" and last.get(r.name) == "fired"
    ]
    if not check.firing and not check.resolved:
        return check
    _prepare_state(settings)
    from tradekernel_notify import notifications

    service = notifications(kernel)
    before = _logged(service, now, None)
    for result in check.firing:
        _emit(kernel, "fired", result, day)
    for result in check.results:
        if result.name in check.resolved:
            _emit(kernel, "resolved", result, day)
    after = _logged(service, now, before)
    check.deliveries = [
        {
            "notifier": r.notifier,
            "event_kind": r.event_kind,
            "dedup_key": r.dedup_key,
            "status": r.status,
            "error": r.error,
        }
        for r in after
        if r.event_kind.startswith("alerts.")
    ]
    return check


def _logged(service: Any, now: datetime, before: Any) -> Any:
    """With ``before`` None: the last id of today's notification log (0 when it cannot
    be read); else the records logged after id ``before`` (none when it cannot be read:
    the deliveries went out unlogged, with the store down)."""
    from loguru import logger

    try:
        records = service.log(date=now.date())
    except Exception as exc:  # the store down: the alerts were sent all the same
        logger.warning(
            "alerts: the notification log is unreadable ({}); deliveries not listed", exc
        )
        return 0 if before is None else []
    if before is None:
        return max((r.id for r in records), default=0)
    return [r for r in records if r.id > before]


def _prepare_state(settings: Any) -> None:
    # The configured store must exist (SQLite: state.db with its identity table) before
    # the notification log adds its tables, or the store would later refuse the file.
    from loguru import logger
    from tradekernel.api import open_store

    try:
        open_store(settings).close()
    except Exception as exc:  # never let this silence an alert
        logger.warning("alerts: the state store is unusable ({}); notifying anyway", exc)


def _emit(kernel: Any, kind: str, result: RuleResult, day: date) -> None:
    kernel.emit(
        "alerts",
        kind,
        severity=result.severity if kind == "fired" else "info",
        rule=result.name,
        value=result.value,
        threshold=result.threshold,
        comparison=result.comparison,
        alert_id=alert_id(result.name, day),
        date=day.isoformat(),
        status=result.status,
        detail=result.detail,
    )
