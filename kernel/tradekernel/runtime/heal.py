"""Self-healing playbooks the running agent applies after each cycle (actor ``auto``).

Each playbook is bounded (``[heal] max_attempts`` per subject, with a doubling
``backoff`` between attempts), every change it makes is journaled with actor ``auto``
(through :class:`~.control.Control` and the executor), announced as a ``heal`` event
(which the notify routes deliver), and recorded in the ``heal`` control record that
``control status`` shows (what acted last, per playbook). Any playbook can be switched
off in ``[heal] playbooks``. See docs/operations.md, "Self-healing".

* ``outage``: after cycles that failed (a broker or data outage), the first healthy one
  reconciles the intents left ``executing``, retried with backoff while it fails.
* ``stuck_executing``: an intent ``executing`` longer than ``stuck_after`` is reconciled.
* ``degrade_exit``: degrade mode is left after ``healthy_cycles`` consecutive healthy
  cycles, never sooner than ``degrade_min`` after it began (hysteresis); off by default
  in live mode. ``control resume`` still leaves it at any time.
* ``breaker_flapping``: a strategist breaker that opened ``flap_opens`` times within
  ``flap_window`` is latched open (no half-open retries) and a critical
  ``heal.escalated`` event is emitted; ``control resume`` releases it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..sections import HealSettings
from ..store import IntentState
from .control import Control

ACTOR = "auto"
"""The reserved actor every automatic action is journaled with."""
RECORD = "heal"
"""The control record of what each playbook did last."""


class Healer:
    """Applies the playbooks; :meth:`after_cycle` is called by the runtime once per cycle."""

    def __init__(
        self,
        settings: HealSettings,
        control: Control,
        *,
        mode: Callable[[], str],
        emit: Callable[..., Any],
        reconcile: Callable[[list[Any]], list[Any]],
    ) -> None:
        """``reconcile(records)`` resolves intents left ``executing`` (``[]``: all of them)
        with actor ``auto`` and returns what it did; it raises when the broker fails."""
        self.settings = settings
        self.control = control
        self.clock = control.clock
        self._mode = mode
        self._emit = emit
        self._reconcile = reconcile
        self.healthy = 0
        """Consecutive healthy cycles."""
        self.failed_cycles = 0
        """Failed cycles since the last successful outage reconcile."""
        self._attempts: dict[str, tuple[int, datetime]] = {}
        """Per subject: attempts made and when the next may run."""
        self._opened_seen: dict[str, str] = {}

    def on(self, playbook: str) -> bool:
        return self.settings.enabled(playbook, self._mode())

    # -- bookkeeping ------------------------------------------------------------------

    def _note(self, playbook: str, kind: str, severity: str, **fields: Any) -> None:
        last = dict(self.control.get(RECORD, None) or {})
        last[playbook] = {
            "at": self.clock().isoformat(),
            "action": fields.get("action", ""),
            "outcome": fields.get("outcome", ""),
        }
        self.control.set(RECORD, last, actor=ACTOR, reason=f"{playbook}: {fields.get('action')}")
        self._emit("heal", kind, severity=severity, playbook=playbook, actor=ACTOR, **fields)

    def _due(self, subject: str) -> int | None:
        """The attempt number due now for ``subject`` (``None``: waiting or given up)."""
        made, at = self._attempts.get(subject, (0, self.clock()))
        if made >= self.settings.max_attempts or self.clock() < at:
            return None
        return made + 1

    def _failed(self, subject: str, playbook: str, attempt: int, reason: str) -> None:
        wait = float(self.settings.backoff) * 2 ** (attempt - 1)
        self._attempts[subject] = (attempt, self.clock() + timedelta(seconds=wait))
        if attempt >= self.settings.max_attempts:
            self._note(
                playbook, "gave_up", "error", action="reconcile", attempt=attempt,
                outcome="failed", reason=reason,
            )  # fmt: skip
        else:
            self._note(
                playbook, "acted", "warning", action="reconcile", attempt=attempt,
                outcome="failed", reason=reason,
            )  # fmt: skip

    # -- the cycle ----------------------------------------------------------------------

    def after_cycle(self, *, healthy: bool, executing: Callable[[], list[Any]]) -> None:
        """Apply every enabled playbook after one cycle. ``healthy``: the cycle ran
        through without a failed node or incident; ``executing()``: the intent records
        in ``executing`` now."""
        self.healthy = self.healthy + 1 if healthy else 0
        if not healthy:
            self.failed_cycles += 1
        if self.on("breaker_flapping"):
            self._breakers()
        if not healthy:
            return
        if self.on("outage") and self.failed_cycles:
            self._outage()
        if self.on("stuck_executing"):
            self._stuck(executing())
        if self.on("degrade_exit"):
            self._degrade_exit()

    def _outage(self) -> None:
        attempt = self._due("outage")
        if attempt is None:
            return
        try:
            results = self._reconcile([])
        except Exception as exc:  # the broker still fails: retry after the backoff
            self._failed("outage", "outage", attempt, f"{type(exc).__name__}: {exc}")
            return
        self._attempts.pop("outage", None)
        failed, self.failed_cycles = self.failed_cycles, 0
        self._note(
            "outage", "acted", "info", action="reconcile", attempt=attempt, outcome="ok",
            reason=f"recovered after {failed} failed cycle(s); {len(results)} intent(s) reconciled",
        )  # fmt: skip

    def _stuck(self, executing: list[Any]) -> None:
        limit = self.clock() - timedelta(seconds=float(self.settings.stuck_after))
        for record in executing:
            since = record.executing_since or record.updated_at
            if since is None or since > limit or record.state != IntentState.EXECUTING:
                continue
            subject = f"stuck:{record.id}"
            attempt = self._due(subject)
            if attempt is None:
                continue
            try:
                results = self._reconcile([record])
            except Exception as exc:
                self._failed(subject, "stuck_executing", attempt, f"{type(exc).__name__}: {exc}")
                continue
            action = results[0].action if results else "none"
            if action == "still_unknown":
                self._failed(subject, "stuck_executing", attempt, "order still unknown")
                continue
            self._attempts.pop(subject, None)
            self._note(
                "stuck_executing", "acted", "info", action="reconcile", attempt=attempt,
                outcome="ok", intent_id=record.id, reason=f"reconciled: {action}",
            )  # fmt: skip

    def _degrade_exit(self) -> None:
        degrade = self.control.degrade
        if degrade is None or self.healthy < self.settings.healthy_cycles:
            return
        since = degrade.get("since")
        if since and self.clock() < datetime.fromisoformat(since) + timedelta(
            seconds=float(self.settings.degrade_min)
        ):
            return
        reason = f"{self.healthy} healthy cycles"
        self.control.exit_degrade(actor=ACTOR, reason=reason)
        self._note(
            "degrade_exit", "acted", "warning", action="exit_degrade", outcome="ok", reason=reason
        )

    def _breakers(self) -> None:
        """Count each breaker's openings within the window; latch a flapping one."""
        window = timedelta(seconds=float(self.settings.flap_window))
        now = self.clock()
        for key, snap in sorted(self.control.items().items()):
            if not (key == "breaker" or key.startswith("breaker:")) or not isinstance(snap, dict):
                continue
            opened = snap.get("opened_at")
            if snap.get("state") != "open" or not opened or snap.get("latched"):
                continue
            if self._opened_seen.get(key) == opened:
                continue
            self._opened_seen[key] = opened
            record = dict(self.control.get(RECORD, None) or {})
            seen = record.get("opens", {}).get(key, [])
            if opened in seen:  # counted before a restart
                continue
            opens = [t for t in seen if datetime.fromisoformat(t) > now - window] + [opened]
            record.setdefault("opens", {})
            record["opens"] = {**record["opens"], key: opens}
            self.control.set(RECORD, record, actor=ACTOR, reason=f"{key} opened")
            if len(opens) < self.settings.flap_opens:
                continue
            self.control.set(key, {**snap, "latched": True}, actor=ACTOR, reason="flapping")
            self._note(
                "breaker_flapping", "escalated", "critical", action="latch_open",
                outcome="escalated", opens=len(opens),
                reason=f"{key} opened {len(opens)} times within {int(window.total_seconds())}s;"
                " held open until an operator runs control resume",
            )  # fmt: skip
