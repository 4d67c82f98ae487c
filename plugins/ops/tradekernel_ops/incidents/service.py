"""Incidents: opened by alert events, escalated along ``[incidents] escalation``,
acknowledged and resolved by operators, written up as a postmortem skeleton.

One :class:`Incidents` per process; the state lives in ``state_dir/incidents.db``
(:mod:`.store`), so the agent and ``ops batch`` share it and it survives restarts.
Escalation is driven by :meth:`Incidents.tick`: the agent calls it at each cycle boundary
and ``ops batch`` in its ``incidents`` step; each step is claimed in the database before
it is sent, so it is sent once whichever process gets there first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from loguru import logger
from tradekernel.api import (
    ConfigError,
    NotFoundError,
    Notification,
    RefusedError,
    approver_name,
    inert,
    utcnow,
)

from .store import Incident, IncidentStore

SEVERITY_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
IGNORED_STAGES = ("incident", "notify")
"""Never open an incident: our own events, and the deliveries of notifications."""
ACTOR = "ops"
"""The (reserved) actor the move to ``reducing`` is journaled with."""
NAME_FIELDS = ("rule", "slo", "name", "guard", "broker", "notifier")
"""The first of these an event carries names what is wrong: part of the incident key."""


def opens(config: Any, stage: str, kind: str, severity: Any) -> bool:
    """Whether ``[incidents]`` (``config``) opens or updates an incident for a
    ``stage.kind`` event at ``severity``: any stage but :data:`IGNORED_STAGES`, at
    ``min_severity`` or above (``alerts.fired``, ``slo.burn_rate``, a breaker opening...)."""
    if not config.active or stage in IGNORED_STAGES:
        return False
    rank = SEVERITY_RANK.get(str(getattr(severity, "value", severity)).lower(), 1)
    return rank >= SEVERITY_RANK[config.min_severity]


def check_config(settings: Any) -> None:
    """Raise a one-line :class:`ConfigError` when an escalation step names a notifier
    that ``[components] notifiers`` does not select (it could never be sent)."""
    selected = list(settings.components.notifiers)
    for index, step in enumerate(settings.incidents.escalation):
        if step.notify not in selected:
            raise ConfigError(
                f"[incidents] escalation[{index}].notify: {inert(step.notify)[:40]!r} is not "
                f"selected in [components] notifiers ({', '.join(selected) or 'none'})"
            )


def _severity(event: Any) -> str:
    return str(getattr(event.severity, "value", event.severity)).lower()


def incident_key(event: Any) -> str:
    """What an event is about: ``<stage>.<kind>`` and the first :data:`NAME_FIELDS`
    value it carries (``alerts.fired:breaker_open``, ``slo.burn_rate:cycle_success``)."""
    key = f"{event.stage}.{event.kind}"
    fields = event.fields or {}
    for name in NAME_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value:
            return f"{key}:{inert(value)[:80]}"
    return key


def _describe(event: Any) -> str:
    fields = event.fields or {}
    parts = [
        f"{k}={inert(str(fields[k]))[:120]}"
        for k in ("rule", "slo", "value", "threshold", "detail", "reason", "error")
        if fields.get(k) not in (None, "")
    ]
    return " ".join(parts)


class Incidents:
    """The incidents of one state directory.

    ``settings``: the effective settings (``[incidents]``, ``state_dir``, ``runtime``).
    ``publish(notification, notifier) -> status``: sends one escalation step (the
    kernel's notification service; see :func:`kernel_publisher`). ``emit(stage, kind,
    **fields)``: announces ``incident.*`` events. ``control``: a callable returning a
    context manager that yields the kernel's ``Control`` (the move to ``reducing``).
    """

    def __init__(
        self,
        settings: Any,
        *,
        publish: Callable[[Notification, str], str] | None = None,
        emit: Callable[..., Any] | None = None,
        control: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.config = settings.incidents
        self.store = IncidentStore(settings.state_dir)
        self._publish = publish
        self._emit = emit
        self._control = control
        self.clock = clock

    def close(self) -> None:
        self.store.close()

    # -- opening --------------------------------------------------------------------------

    def observe(self, event: Any) -> int | None:
        """Open or update the incident ``event`` is about (when it :meth:`opens` one) and
        run the escalation due now; the incident's id, or None."""
        severity = _severity(event)
        if not opens(self.config, event.stage, event.kind, severity):
            return None
        key = incident_key(event)
        severity = "critical" if severity == "critical" else "error"
        detail = _describe(event)
        title = f"{key}: {detail}"[:200] if detail else key
        now = self.clock()
        incident, opened, raised = self.store.record(
            key, title, severity, now, f"{event.stage}.{event.kind} ({severity})", detail
        )
        kind = "opened" if opened else "updated"
        # The title (free text from the event) stays in incidents.db: events carry the key.
        self._announce(kind, incident, key=key, incident_severity=severity)
        if opened or raised:
            self.tick(now)
        return incident

    # -- escalation -----------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Send every escalation step that is due and not sent yet, and move trading to
        ``reducing`` for a critical incident unacknowledged for ``reduce_after``. Returns
        what was done (one dict per action). Safe to call from several processes."""
        now = now or self.clock()
        done: list[dict[str, Any]] = []
        if not self.config.active:
            return done
        check_config(self.settings)
        for item in self.store.list():
            if item.acknowledged is not None:
                continue
            claimed = self.store.steps_claimed(item.id)
            for number, step in enumerate(self.config.escalation, start=1):
                if number in claimed or now < item.opened + timedelta(seconds=step.after):
                    continue
                if not self.store.claim_step(item.id, number, step.notify, now):
                    continue
                status = self._send(item, number, step.notify)
                self.store.step_sent(item.id, number, status)
                self.store.note(item.id, now, "escalated", f"step {number}: {step.notify} {status}")
                self._announce(
                    "escalated",
                    item.id,
                    severity="warning" if status != "sent" else "info",
                    key=item.key,
                    step=number,
                    notifier=step.notify,
                    status=status,
                )
                done.append(
                    {"incident": item.id, "step": number, "notifier": step.notify, "status": status}
                )
            reduce_after = self.config.reduce_after
            if (
                reduce_after is not None
                and item.severity == "critical"
                and item.reduced is None
                and now >= item.opened + timedelta(seconds=reduce_after)
                and self.store.claim_reduce(item.id, now)
            ):
                done.append(self._reduce(item, now))
        return done

    def _send(self, item: Incident, step: int, notifier: str) -> str:
        if self._publish is None:
            return "failed"
        steps = len(self.config.escalation)
        notification = Notification(
            kind="incident.escalated",
            title=f"Incident {item.id} ({item.severity}) unacknowledged: {item.title}",
            body=(
                f"Incident {item.id}, opened {item.opened.isoformat()}, is not acknowledged "
                f"(escalation step {step} of {steps}). Acknowledge with: "
                f"tradekernel incidents ack {item.id} --by <name>"
            ),
            severity=item.severity,
            fields={"incident": item.id, "key": item.key, "step": step},
            dedup_key=f"incident:{item.id}:step:{step}",
        )
        try:
            return self._publish(notification, notifier)
        except Exception as exc:  # a failed step is recorded, never stops the others
            logger.warning("incidents: step {} of incident {} failed: {}", step, item.id, exc)
            return "failed"

    def _reduce(self, item: Incident, now: datetime) -> dict[str, Any]:
        reason = f"incident {item.id} critical and unacknowledged for {self.config.reduce_after}"
        state = "unchanged"
        if self._control is not None:
            try:
                with self._control() as control:
                    if control.trading_state == "active":
                        control.set_trading_state("reducing", actor=ACTOR, reason=reason)
                        state = "reducing"
                    else:
                        state = control.trading_state
            except Exception as exc:
                logger.warning("incidents: could not move trading to reducing: {}", exc)
                state = "failed"
        self.store.note(item.id, now, "trading", f"{reason}: trading {state}")
        self._announce(
            "escalated",
            item.id,
            severity="critical",
            key=item.key,
            trading_state=state,
            status="sent" if state == "reducing" else state,
        )
        return {"incident": item.id, "trading_state": state}

    # -- operators ------------------------------------------------------------------------

    def get(self, incident: int) -> Incident:
        """The incident (NotFoundError when there is none)."""
        item = self.store.get(incident)
        if item is None:
            raise NotFoundError(f"no incident {incident}")
        return item

    def list(self, *, include_resolved: bool = False) -> list[Incident]:
        return self.store.list(include_resolved=include_resolved)

    def acknowledge(self, incident: int, by: str) -> Incident:
        """Acknowledge: escalation stops. ``by`` must be an approver name (RefusedError).
        Refused when it is acknowledged or resolved already."""
        actor = approver_name(by)
        item = self.get(incident)
        now = self.clock()
        if not self.store.acknowledge(incident, actor, now):
            raise RefusedError(f"incident {incident} is {item.state} already")
        self.store.note(incident, now, "acknowledged", f"by {actor}")
        self._announce("acknowledged", incident, key=item.key, actor=actor)
        return self.get(incident)

    def resolve(self, incident: int, by: str) -> Incident:
        """Resolve (acknowledging it too, when it was not)."""
        actor = approver_name(by)
        item = self.get(incident)
        now = self.clock()
        if not self.store.resolve(incident, actor, now):
            raise RefusedError(f"incident {incident} is resolved already")
        self.store.note(incident, now, "resolved", f"by {actor}")
        self._announce("resolved", incident, key=item.key, actor=actor)
        return self.get(incident)

    def _announce(self, kind: str, incident: int, *, severity: str = "", **fields: Any) -> None:
        if self._emit is None:
            return
        level = severity or ("warning" if kind in ("opened", "escalated") else "info")
        try:
            self._emit("incident", kind, severity=level, incident=incident, **fields)
        except Exception as exc:
            logger.warning("incidents: could not emit incident.{}: {}", kind, exc)


def kernel_publisher(kernel: Any) -> Callable[[Notification, str], str]:
    """Send one escalation step through ``kernel``'s notification service
    (``tradekernel-notify``: the same notifiers, delivery log and ``notify.*`` events).
    Forced past dedup and rate limits: the incident's own claim makes it once-only."""

    def publish(notification: Notification, notifier: str) -> str:
        from tradekernel_notify import notifications

        records = notifications(kernel).publish(notification, notifiers=[notifier], force=True)
        return records[0].status if records else "failed"

    return publish
