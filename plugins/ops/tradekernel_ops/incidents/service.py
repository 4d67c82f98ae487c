"""Incidents: opened by alert events, escalated along ``[incidents] escalation``,
acknowledged and resolved by operators, written up as a postmortem skeleton.

One :class:`Incidents` per process; the state lives in ``state_dir/incidents.db``
(:mod:`.store`), so the agent and ``ops batch`` share it and it survives restarts.
Escalation is driven by :meth:`Incidents.tick`: the agent calls it at each cycle boundary
and ``ops batch`` in its ``incidents`` step; each step is claimed in the database before
it is sent, so it is sent once whichever process gets there first. A claim never
finished (its holder died between the claim and the delivery) is taken over after
:attr:`Incidents.claim_lease` seconds, and the step is sent then unless the delivery log
shows the first attempt was delivered.
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
HOLD = "incident_reducing:"
"""Control key prefix (``incident_reducing:<id>``) of the hold an incident puts on the
``reducing`` trading state while it is critical and unacknowledged: self-healing never
moves trading back to ``active`` while one is set."""
CLAIM_MARGIN = 60.0
"""Seconds added to twice ``[notify] timeout`` (the longest a delivery may take) to make
the claim lease."""
NAME_FIELDS = (
    "rule",
    "objective",
    "playbook",
    "strategist",
    "node",
    "name",
    "guard",
    "broker",
    "notifier",
)
"""The fields that name what is wrong (``alerts.fired``'s rule, ``slo.burn_rate``'s
objective, ``heal.escalated``'s playbook, a breaker's strategist, a failed node...):
every one an event carries is part of the incident key, so unrelated alerts of one kind
never share an incident."""
KEY_PART = 80
"""Characters kept of each name in a key."""
KEY_NAMES = 160
"""Characters kept of the names' part of a key."""


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
    """What an event is about: ``<stage>.<kind>`` and, in :data:`NAME_FIELDS` order,
    each of those fields it carries (``alerts.fired:breaker_open``,
    ``slo.burn_rate:cycles``, ``heal.escalated:breaker_flapping:oracle``)."""
    key = f"{event.stage}.{event.kind}"
    fields = event.fields if isinstance(event.fields, dict) else {}
    names = [
        inert(value)[:KEY_PART]
        for value in (fields.get(name) for name in NAME_FIELDS)
        if isinstance(value, str) and value
    ]
    return f"{key}:{':'.join(names)[:KEY_NAMES]}" if names else key


def _describe(event: Any) -> str:
    fields = event.fields or {}
    parts = [
        f"{k}={inert(str(fields[k]))[:120]}"
        for k in ("rule", "alert", "burn_rate", "value", "threshold", "detail", "reason", "error")
        if fields.get(k) not in (None, "")
    ]
    return " ".join(parts)


class Incidents:
    """The incidents of one state directory.

    ``settings``: the effective settings (``[incidents]``, ``state_dir``, ``notify``).
    ``publish(notification, notifier) -> status``: sends one escalation step (the
    kernel's notification service; see :func:`kernel_publisher`). ``delivered(dedup_key,
    notifier)``: whether a step whose claim is taken over was delivered already (see
    :func:`kernel_delivered`). ``emit(stage, kind,
    **fields)``: announces ``incident.*`` events. ``control``: a callable returning a
    context manager that yields the kernel's ``Control`` (the move to ``reducing``).
    """

    def __init__(
        self,
        settings: Any,
        *,
        publish: Callable[[Notification, str], str] | None = None,
        delivered: Callable[[str, str], bool] | None = None,
        emit: Callable[..., Any] | None = None,
        control: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.config = settings.incidents
        self.store = IncidentStore(settings.state_dir)
        self._publish = publish
        self._delivered = delivered
        self._emit = emit
        self._control = control
        self.clock = clock
        self.claim_lease = 2 * float(settings.notify.timeout) + CLAIM_MARGIN
        """Seconds after which an unfinished claim (its holder stopped) is taken over."""
        self._reported_damage: set[int] = set()

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
        what was done (one dict per action). Safe to call from several processes.

        Due times count the clock's forward progress since the incident opened
        (:meth:`IncidentStore.advance`), so a wall clock stepped back delays nothing."""
        now = now or self.clock()
        done: list[dict[str, Any]] = []
        if not self.config.active:
            return done
        check_config(self.settings)
        items = self.store.advance(now)
        self._report_damaged(now)
        stale = now - timedelta(seconds=self.claim_lease)
        open_steps = self.store.open_steps_status() if items else {}
        for item in items:
            if item.acknowledged is not None:
                continue
            statuses = open_steps.get(item.id, {})
            for number, step in enumerate(self.config.escalation, start=1):
                if item.elapsed < float(step.after) or statuses.get(number, "claimed") != "claimed":
                    continue
                claim = self.store.claim_step(item.id, number, step.notify, now, stale=stale)
                if claim is None:
                    continue
                done.append(self._step(item, number, step.notify, now, claim == "taken_over"))
            reduce_after = self.config.reduce_after
            if (
                reduce_after is not None
                and item.severity == "critical"
                and item.reduce_outcome is None
                and item.elapsed >= float(reduce_after)
                and self.store.claim_reduce(item.id, now, stale=stale)
            ):
                done.append(self._reduce(item, now))
        return done

    def _step(
        self, item: Incident, number: int, notifier: str, now: datetime, taken_over: bool
    ) -> dict[str, Any]:
        """Send one claimed step (or, for a claim taken over, find it delivered)."""
        key = f"incident:{item.id}:step:{number}"
        if taken_over and self._was_delivered(key, notifier):
            status, note = "sent", "delivered before its sender stopped"
        else:
            status = self._send(item, number, notifier)
            note = f"{status} (the first sender stopped before it)" if taken_over else status
        self.store.step_sent(item.id, number, status)
        self.store.note(item.id, now, "escalated", f"step {number}: {notifier} {note}")
        self._announce(
            "escalated",
            item.id,
            severity="warning" if status != "sent" else "info",
            key=item.key,
            step=number,
            notifier=notifier,
            status=status,
        )
        return {"incident": item.id, "step": number, "notifier": notifier, "status": status}

    def _was_delivered(self, dedup_key: str, notifier: str) -> bool:
        if self._delivered is None:
            return False
        try:
            return self._delivered(dedup_key, notifier)
        except Exception as exc:  # an unreadable log: send again rather than never
            logger.warning("incidents: the delivery log could not be read: {}", exc)
            return False

    def _report_damaged(self, now: datetime) -> None:
        """One warning (log and ``incident.unreadable`` event) per unreadable row."""
        for incident, why in sorted(self.store.damaged.items()):
            if incident in self._reported_damage:
                continue
            self._reported_damage.add(incident)
            logger.warning(
                "incidents: incident {} in {} is unreadable ({}); it is skipped",
                incident,
                self.store.path,
                why,
            )
            self._announce("unreadable", incident, severity="warning", error=why)

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
        """Move trading from ``active`` to ``reducing`` (never loosening ``halted``), and
        hold it there (:data:`HOLD`) until the incident is acknowledged. A failure
        releases the claim: the next tick tries again."""
        reason = f"incident {item.id} critical and unacknowledged for {self.config.reduce_after}"
        state = "failed"
        if self._control is not None:
            try:
                with self._control() as control:
                    control.set(
                        f"{HOLD}{item.id}",
                        {"since": now.isoformat(), "reason": reason},
                        actor=ACTOR,
                        reason=reason,
                    )
                    if control.trading_state == "active":
                        control.set_trading_state("reducing", actor=ACTOR, reason=reason)
                        state = "reducing"
                    else:
                        state = f"{control.trading_state} already"
            except Exception as exc:
                logger.warning("incidents: could not move trading to reducing: {}", exc)
                state = "failed"
        if state == "failed":
            self.store.reduce_failed(item.id)
            self.store.note(item.id, now, "trading", f"{reason}: the move failed, retried")
        else:
            self.store.reduce_done(item.id, state)
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

    def _release(self, item: Incident, actor: str, what: str) -> None:
        """Lift the incident's hold on ``reducing`` (the trading state stays as it is: an
        operator decides with ``control trading-state active``)."""
        if item.reduce_outcome is None or self._control is None:
            return
        try:
            with self._control() as control:
                if control.get(f"{HOLD}{item.id}", None) is not None:
                    control.set(f"{HOLD}{item.id}", None, actor=actor, reason=f"incident {what}")
        except Exception as exc:  # the hold stays: self-healing keeps off trading_state
            logger.warning("incidents: could not lift the hold of incident {}: {}", item.id, exc)

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
        self._release(item, actor, "acknowledged")
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
        self._release(item, actor, "resolved")
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


def kernel_delivered(kernel: Any) -> Callable[[str, str], bool]:
    """Whether ``kernel``'s notification delivery log holds a ``sent`` record of
    ``dedup_key`` through ``notifier`` (asked only when a claim is taken over)."""

    def delivered(dedup_key: str, notifier: str) -> bool:
        from tradekernel_notify import notifications

        records = notifications(kernel).log(status="sent", notifier=notifier)
        return any(r.dedup_key == dedup_key for r in records)

    return delivered
