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
* ``degrade_exit``: degrade mode (the agent's, or one strategist's own ``degrade:<name>``)
  is left after ``healthy_cycles`` consecutive healthy cycles (of the agent, or of that
  strategist), never sooner than ``degrade_min`` after it began (hysteresis); off by
  default in live mode. ``control resume`` still leaves it at any time.
* ``breaker_flapping``: a strategist breaker that opened ``flap_opens`` times within
  ``flap_window`` is latched open (no half-open retries) and a critical
  ``heal.escalated`` event is emitted; ``control resume`` releases it.

What must survive a restart is in the ``heal`` control record: each subject's attempts
and when the next may run (``attempts``; ``control resume`` clears them), the breakers'
openings (``opens``), and, while degraded, the healthy cycles counted towards leaving
each degrade (``healthy``, tied to that degrade's ``since``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..sections import PLAYBOOKS, HealSettings
from ..store import IntentState
from .control import Control

ACTOR = "auto"
"""The reserved actor every automatic action is journaled with."""
RECORD = "heal"
"""The control record of what each playbook did last, and its state across restarts."""
DEGRADE = "degrade"
"""The control key of the agent's degrade mode (a strategist's own: ``degrade:<name>``)."""


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
        self.counts: dict[str, int] = {}
        """Consecutive healthy cycles, per degrade key (``degrade``: the agent's,
        ``degrade:<name>``: a strategist's), restored from the record while degraded."""
        self.failed_cycles = 0
        """Failed cycles since the last successful outage reconcile."""
        self.stuck_every = float(settings.stuck_after) / 4
        """The stuck check runs at most this often (seconds): a stuck intent is reconciled
        within ``stuck_after`` plus this."""
        self._stuck_next: datetime | None = None
        self._breakers_seen: Any = None
        self._opened_seen: dict[str, str] = {}
        self._enabled: dict[str, frozenset[str]] = {}
        self._saved: dict[str, dict[str, Any]] = {}
        for key, saved in _table(_record(self.control), "healthy").items():
            current = self.control.get(key, None)  # the count belongs to this degrade only
            count = saved.get("count") if isinstance(saved, dict) else None
            if (
                type(count) is int
                and isinstance(current, dict)
                and current.get("since") == saved.get("since")
            ):
                self._saved[key] = saved
                self.counts[key] = max(0, min(count, self.settings.healthy_cycles))

    @property
    def healthy(self) -> int:
        """Consecutive healthy cycles of the agent."""
        return self.counts.get(DEGRADE, 0)

    def on(self, playbook: str) -> bool:
        return playbook in self._playbooks()

    def _playbooks(self) -> frozenset[str]:
        """The playbooks enabled in the current mode (worked out once per mode)."""
        mode = self._mode()
        enabled = self._enabled.get(mode)
        if enabled is None:
            enabled = frozenset(p for p in PLAYBOOKS if self.settings.enabled(p, mode))
            self._enabled[mode] = enabled
        return enabled

    # -- bookkeeping ------------------------------------------------------------------

    def _note(self, playbook: str, kind: str, severity: str, **fields: Any) -> None:
        last = _record(self.control)
        last[playbook] = {
            "at": self.clock().isoformat(),
            "action": fields.get("action", ""),
            "outcome": fields.get("outcome", ""),
        }
        self.control.set(RECORD, last, actor=ACTOR, reason=f"{playbook}: {fields.get('action')}")
        self._emit("heal", kind, severity=severity, playbook=playbook, actor=ACTOR, **fields)

    def attempts(self) -> dict[str, tuple[int, datetime]]:
        """Per subject: attempts made and when the next may run (from the record)."""
        out: dict[str, tuple[int, datetime]] = {}
        for subject, value in _table(_record(self.control), "attempts").items():
            try:
                out[subject] = (int(value["made"]), datetime.fromisoformat(value["next"]))
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry starts that subject afresh
        return out

    def _set_attempts(self, subject: str, value: tuple[int, datetime] | None) -> None:
        record = _record(self.control)
        attempts = _table(record, "attempts")
        if value is None:
            if attempts.pop(subject, None) is None:
                return
        else:
            attempts[subject] = {"made": value[0], "next": value[1].isoformat()}
        record["attempts"] = attempts
        self.control.set(RECORD, record, actor=ACTOR, reason=f"{subject}: attempts")

    def _due(self, subject: str) -> int | None:
        """The attempt number due now for ``subject`` (``None``: waiting or given up)."""
        made, at = self.attempts().get(subject, (0, self.clock()))
        if made >= self.settings.max_attempts or self.clock() < at:
            return None
        return made + 1

    def _failed(self, subject: str, playbook: str, attempt: int, reason: str) -> None:
        wait = float(self.settings.backoff) * 2 ** (attempt - 1)
        self._set_attempts(subject, (attempt, self.clock() + timedelta(seconds=wait)))
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

    def after_cycle(
        self,
        *,
        healthy: bool,
        executing: Callable[[], list[Any]],
        strategists: Mapping[str, bool] | None = None,
    ) -> None:
        """Apply every enabled playbook after one cycle. ``healthy``: the cycle ran
        through without a failed node or incident; ``executing()``: the intent records
        in ``executing`` now; ``strategists``: with several, whether each strategist's
        own part was healthy (its breaker closed, no error in its answer)."""
        counts = self.counts
        counts[DEGRADE] = counts.get(DEGRADE, 0) + 1 if healthy else 0
        for name, ok in (strategists or {}).items():
            key = f"{DEGRADE}:{name}"
            counts[key] = counts.get(key, 0) + 1 if ok else 0
        if not healthy:
            self.failed_cycles += 1
        on = self._playbooks()
        if "breaker_flapping" in on:
            version = self.control.version()
            if version != self._breakers_seen:  # an opening is a control write
                self._breakers()
                self._breakers_seen = self.control.version()
        if healthy and "outage" in on and self.failed_cycles:
            self._outage()
        if healthy and "stuck_executing" in on:
            now = self.clock()
            if self._stuck_next is None or now >= self._stuck_next:
                self._stuck_next = now + timedelta(seconds=self.stuck_every)
                self._stuck(executing())
        degraded = self._degraded()
        if degraded and "degrade_exit" in on:
            self._degrade_exit(degraded)
            degraded = self._degraded()
        if degraded or self._saved:
            self._save_counts(degraded)

    def _save_counts(self, degraded: list[str]) -> None:
        """Persist the healthy counts of what is degraded (capped at ``healthy_cycles``:
        one write per counted cycle at most, none while not degraded)."""
        want: dict[str, dict[str, Any]] = {}
        for key in degraded:
            since = (self.control.get(key, None) or {}).get("since")
            count = min(self.counts.get(key, 0), self.settings.healthy_cycles)
            want[key] = {"since": since, "count": count}
        if want != self._saved:
            record = _record(self.control)
            record["healthy"] = want
            self.control.set(RECORD, record, actor=ACTOR, reason="healthy cycles")
            self._saved = want

    def _degraded(self) -> list[str]:
        """The degrade keys set now: ``degrade`` and each strategist's ``degrade:<name>``."""
        get = self.control.get
        return [key for key in self.counts if get(key, None) is not None]

    def _outage(self) -> None:
        attempt = self._due("outage")
        if attempt is None:
            return
        try:
            results = self._reconcile([])
        except Exception as exc:  # the broker still fails: retry after the backoff
            self._failed("outage", "outage", attempt, f"{type(exc).__name__}: {exc}")
            return
        self._set_attempts("outage", None)
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
            self._set_attempts(subject, None)
            self._note(
                "stuck_executing", "acted", "info", action="reconcile", attempt=attempt,
                outcome="ok", intent_id=record.id, reason=f"reconciled: {action}",
            )  # fmt: skip

    def _degrade_exit(self, degraded: list[str]) -> None:
        for key in degraded:
            degrade = self.control.get(key, None)
            if not isinstance(degrade, dict) or self.counts[key] < self.settings.healthy_cycles:
                continue
            since = degrade.get("since")
            if since and self.clock() < datetime.fromisoformat(since) + timedelta(
                seconds=float(self.settings.degrade_min)
            ):
                continue
            reason = f"{self.counts[key]} healthy cycles"
            if key == DEGRADE:
                self.control.exit_degrade(actor=ACTOR, reason=reason, keep_open_breakers=True)
                self._note(
                    "degrade_exit", "acted", "warning", action="exit_degrade", outcome="ok",
                    reason=reason,
                )  # fmt: skip
                return  # each strategist's own degrade went with it, but one whose
                # breaker is still open (a cycle is healthy only with all closed anyway)
            name = key.split(":", 1)[1]
            self.control.set(key, None, actor=ACTOR, reason=reason)
            self._emit("resilience", "degrade_exited", actor=ACTOR, reason=reason, strategist=name)
            self._note(
                "degrade_exit", "acted", "warning", action="exit_degrade", outcome="ok",
                reason=reason, strategist=name,
            )  # fmt: skip

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
            record = _record(self.control)
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
            # the strategist names the incident this opens (one per strategist)
            named = {"strategist": key.partition(":")[2]} if ":" in key else {}
            self._note(
                "breaker_flapping", "escalated", "critical", action="latch_open",
                outcome="escalated", opens=len(opens), **named,
                reason=f"{key} opened {len(opens)} times within {int(window.total_seconds())}s;"
                " held open until an operator runs control resume",
            )  # fmt: skip


def _record(control: Control) -> dict[str, Any]:
    """A copy of the ``heal`` control record (``{}`` when absent or not a table)."""
    record = control.get(RECORD, None)
    return dict(record) if isinstance(record, dict) else {}


def _table(record: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of ``record[key]`` when it is a table, else ``{}`` (a damaged entry)."""
    value = record.get(key)
    return dict(value) if isinstance(value, dict) else {}
