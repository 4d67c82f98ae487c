"""Operator control and resilience state, persisted in the store and journaled.

Everything here lives in the store's ``control`` table, so it holds across processes
and restarts, and every change is a journal row with its actor:

* ``paused``: the commander skips cycles (operator).
* ``kill_switch``: nothing new may trade (guards deny with ``kill_switch_on``; the
  executor's preflight refuses).
* ``trading_state``: ``active``, ``reducing`` (only orders that shrink a position pass)
  or ``halted`` (nothing new is submitted).
* ``mode``: an operator's persisted runtime mode (see :mod:`.mode`).
* ``degrade``: entered when the breaker opens or incidents pass the threshold; with
  ``degrade_reducing`` it records the journal row of the ``reducing`` it set
  (``reducing_seq``), the only ``reducing`` leaving it may undo.
* ``incident_reducing:<id>``: set by the incident tooling while a critical,
  unacknowledged incident holds trading in ``reducing`` (leaving degrade never undoes it).
* ``incidents`` and ``cooldown_until``: the incident counter and its cooldown.
* ``breaker``: the strategist circuit breaker (see :class:`CircuitBreaker`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..errors import ConfigError
from ..models import utcnow
from ..settings import RuntimeSettings

TRADING_STATES = ("active", "reducing", "halted")
"""The trading states an operator may set (``control trading-state``)."""
HOLD_PREFIX = "incident_reducing:"
"""Control keys of the incident tooling's holds on ``reducing`` (one per incident)."""
FAIL_SAFE = {"paused": True, "kill_switch": True, "trading_state": "halted", "mode": "shadow"}
"""What a switch reads as when its row disagrees with its last journal row (deleted or
changed behind the journal's back). Any other control that disagrees pauses the runtime."""
BREAKER_NON_FAILURES = frozenset({"budget_exhausted", "prompt_over_budget", "prompt_no_candidates"})
"""Decision error types that are not provider failures (they never open the breaker)."""


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Control:
    """Read and change the persisted operator and resilience state."""

    def __init__(
        self,
        store: Any,
        policy: RuntimeSettings,
        *,
        emit: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.policy = policy
        self._emit = emit or (lambda *a, **k: None)
        self.clock = clock
        self._cache: dict[str, Any] | None = None
        self._reported: set[str] = set()
        self._seen: tuple[int, int] | None = None
        """The store's version (:meth:`version`) the cached snapshot was read at."""
        self.data_version = -1
        """The store's ``PRAGMA data_version`` at the last :meth:`refresh`."""
        self.incidents_recorded = 0
        """Incidents this process recorded (a cycle that adds none is healthy)."""

    def version(self) -> tuple[int, int]:
        """The store's version as of the last :meth:`refresh`, without SQL: its
        ``data_version`` then (other connections' commits) and this connection's changes
        now. Equal versions mean nothing was written in between, except by another
        connection after that refresh (seen at the next one)."""
        return self.data_version, self.store.own_changes

    def refresh(self) -> None:
        """Read every control value once, each checked against its last journal row (one
        query); later reads are served from that snapshot until the next refresh. The
        runtime refreshes at the start of each cycle and before it executes, so an
        operator's change (kill switch, pause) takes effect at once there. A control that
        disagrees with its journal reads as :data:`FAIL_SAFE` (any other one pauses),
        reported once as a critical ``control.conflict``. Without a refresh every read
        goes to the store, unchecked.

        When nothing was written to the store since the last refresh (one ``PRAGMA
        data_version`` read, and this connection's change count) the snapshot is kept as
        it is: a control changed behind the journal is changed by some write."""
        self.data_version = self.store.data_version()
        version = self.version()
        if self._cache is not None and version == self._seen:
            return
        checked = self.store.checked_controls(tuple(FAIL_SAFE))
        cache = {k: v for k, (v, p) in checked.items() if p is None and v is not None}
        problems = {k: p for k, (_, p) in checked.items() if p is not None}
        for key in problems:
            if key in FAIL_SAFE:
                cache[key] = FAIL_SAFE[key]
            else:
                cache["paused"] = True
        for problem in problems.values():
            if problem not in self._reported:
                self._reported.add(problem)
                self._emit(
                    "control",
                    "conflict",
                    severity="critical",
                    actor="runtime",
                    reason=f"journal_mismatch: {problem}; failing safe",
                )
        self._cache = cache
        self._seen = version

    def get(self, key: str, default: Any = None) -> Any:
        if self._cache is None:
            return self.store.get_control(key, default)
        return self._cache.get(key, default)

    def items(self) -> dict[str, Any]:
        """Every control value by key: from the snapshot after a :meth:`refresh`."""
        if self._cache is None:
            return self.store.controls()
        return dict(self._cache)

    def set(self, key: str, value: Any, *, actor: str, reason: str = "") -> None:
        """Persist and journal one control value."""
        self.store.set_control(key, value, actor=actor, reason=reason)
        if self._cache is not None:
            self._cache[key] = value

    # -- operator switches -----------------------------------------------------------

    @property
    def paused(self) -> bool:
        return bool(self.get("paused", False))

    def pause(self, *, actor: str, reason: str = "") -> None:
        self.set("paused", True, actor=actor, reason=reason)
        self._emit("control", "paused", severity="warning", actor=actor, reason=reason)

    def resume(self, *, actor: str, reason: str = "") -> None:
        """Resume trading: clears pause, cooldown, incidents, degrade mode, breakers
        latched open by the ``breaker_flapping`` playbook and the self-healing attempts
        of playbooks that gave up."""
        self.set("paused", False, actor=actor, reason=reason)
        self.set("cooldown_until", None, actor=actor, reason=reason or "resume")
        self.set("incidents", 0, actor=actor, reason=reason or "resume")
        if self.degrade is not None:
            self.exit_degrade(actor=actor, reason=reason or "resume")
        for key, snap in self.store.controls().items():  # a breaker latched open by heal
            if isinstance(snap, dict) and snap.get("latched"):
                closed = {"state": "closed", "failures": 0, "opened_at": None}
                self.set(key, closed, actor=actor, reason=reason or "resume")
        heal = self.get("heal", None)  # playbooks that gave up may try again
        if isinstance(heal, dict) and heal.get("attempts"):
            self.set("heal", {**heal, "attempts": {}}, actor=actor, reason=reason or "resume")
        self._emit("control", "resumed", actor=actor, reason=reason)

    @property
    def kill_switch(self) -> bool:
        return bool(self.get("kill_switch", False))

    def set_kill_switch(self, on: bool, *, actor: str, reason: str = "") -> None:
        self.set("kill_switch", on, actor=actor, reason=reason)
        self._emit(
            "control",
            "kill_switch",
            severity="critical" if on else "warning",
            value=on,
            actor=actor,
            reason=reason,
        )

    @property
    def trading_state(self) -> str:
        return self.get("trading_state", "active")

    def set_trading_state(self, state: str, *, actor: str, reason: str = "") -> None:
        if state not in TRADING_STATES:
            raise ConfigError(
                f"trading state must be one of {', '.join(TRADING_STATES)}, got {state!r}"
            )
        self.set("trading_state", state, actor=actor, reason=reason)
        self._emit("control", "trading_state", value=state, actor=actor, reason=reason)

    @property
    def mode(self) -> str | None:
        return self.get("mode", None)

    def set_mode(self, mode: str | None, *, actor: str, reason: str = "") -> None:
        if mode is not None and mode not in ("paper", "shadow", "live"):
            raise ConfigError(f"mode must be paper, shadow or live, got {mode!r}")
        self.set("mode", mode, actor=actor, reason=reason)
        self._emit("control", "mode", value=mode, actor=actor, reason=reason)

    # -- degrade, incidents, cooldown ---------------------------------------------------

    @property
    def degrade(self) -> dict[str, Any] | None:
        return self.get("degrade", None)

    def enter_degrade(self, *, reason: str, actor: str = "runtime") -> None:
        """Enter degrade mode; with ``degrade_reducing`` an ``active`` trading state goes
        to ``reducing``, and the degrade record keeps that journal row's ``seq``."""
        if self.degrade is not None:
            return
        degrade: dict[str, Any] = {"since": _iso(self.clock()), "reason": reason}
        if self.policy.degrade_reducing and self.trading_state == "active":
            self.set_trading_state("reducing", actor=actor, reason="degrade")
            degrade["reducing_seq"] = self._trading_row_seq()
        self.set("degrade", degrade, actor=actor, reason=reason)
        self._emit("resilience", "degrade_entered", severity="warning", reason=reason)

    def exit_degrade(
        self, *, actor: str, reason: str = "", keep_open_breakers: bool = False
    ) -> None:
        """Leave degrade mode: the agent's and every strategist's own (``degrade:<name>``;
        with ``keep_open_breakers``, as self-healing asks, not one whose breaker is still
        open or half-open). Trading goes back to ``active`` only from the ``reducing``
        this degrade set (:meth:`owns_reducing`): never an operator's, never one an
        incident holds."""
        degrade = self.degrade
        self.set("degrade", None, actor=actor, reason=reason)
        controls = self.store.controls()
        for key, value in controls.items():
            if not key.startswith("degrade:") or value is None:
                continue
            breaker = controls.get("breaker:" + key.partition(":")[2])
            if (
                keep_open_breakers
                and isinstance(breaker, dict)
                and breaker.get("state")
                not in (
                    None,
                    "closed",
                )
            ):
                continue
            self.set(key, None, actor=actor, reason=reason)
        if self.trading_state == "reducing" and self.owns_reducing(degrade, controls):
            self.set_trading_state("active", actor=actor, reason="degrade exited")
        self._emit("resilience", "degrade_exited", actor=actor, reason=reason)

    def owns_reducing(
        self, degrade: dict[str, Any] | None, controls: dict[str, Any] | None = None
    ) -> bool:
        """Whether the ``reducing`` trading state now is the one ``degrade`` set: its
        journal row is still the last of ``trading_state``, and no incident holds
        ``reducing`` (``incident_reducing:<id>``)."""
        seq = degrade.get("reducing_seq") if isinstance(degrade, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool):
            return False
        controls = self.store.controls() if controls is None else controls
        if any(k.startswith(HOLD_PREFIX) and v is not None for k, v in controls.items()):
            return False
        return self._trading_row_seq() == seq

    def _trading_row_seq(self) -> int | None:
        rows = self.store.journal_rows("control:trading_state")
        return rows[-1].seq if rows else None

    @property
    def cooldown_until(self) -> datetime | None:
        return _parse(self.get("cooldown_until", None))

    def in_cooldown(self) -> bool:
        until = self.cooldown_until
        return until is not None and self.clock() < until

    def record_incident(self, reason: str) -> int:
        """Count an incident; at the threshold start a cooldown and enter degrade mode."""
        self.incidents_recorded += 1
        count = int(self.get("incidents", 0)) + 1
        self.set("incidents", count, actor="runtime", reason=reason)
        self._emit("resilience", "incident", severity="warning", reason=reason, count=count)
        if count >= self.policy.incident_threshold:
            until = self.clock() + timedelta(seconds=self.policy.incident_cooldown)
            self.set("cooldown_until", _iso(until), actor="runtime", reason=reason)
            self.set("incidents", 0, actor="runtime", reason="cooldown started")
            self._emit(
                "resilience", "cooldown", severity="warning", reason=reason, until=_iso(until)
            )
            self.enter_degrade(reason=f"incidents: {reason}")
        return count

    def status(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "kill_switch": self.kill_switch,
            "trading_state": self.trading_state,
            "mode": self.mode,
            "degrade": self.degrade,
            "incidents": int(self.get("incidents", 0)),
            "cooldown_until": self.get("cooldown_until", None),
            "breaker": CircuitBreaker(self).snapshot(),
            "strategies": self.strategies(),
            "heal": self.get("heal", None),
        }

    def strategies(self) -> dict[str, dict[str, Any]]:
        """Each strategist's own breaker and degrade state (several strategists), by name."""
        out: dict[str, dict[str, Any]] = {}
        for key, value in sorted(self.store.controls().items()):
            what, _, name = key.partition(":")
            if name and what in ("breaker", "degrade"):
                out.setdefault(name, {"breaker": None, "degrade": None})[what] = value
        return out


class CircuitBreaker:
    """Closed → open after ``breaker_failures`` consecutive failures → half-open after
    ``breaker_cooldown`` → closed again on a success (open again on a failure)."""

    KEY = "breaker"

    def __init__(
        self,
        control: Control,
        *,
        emit: Callable[..., Any] | None = None,
        key: str = KEY,
        failures: int | None = None,
        cooldown: float | None = None,
    ) -> None:
        """``key``, ``failures`` and ``cooldown``: another breaker than the strategist's
        (its control key, and thresholds other than ``[runtime] breaker_*``)."""
        self.control = control
        self.policy = control.policy
        self.clock = control.clock
        self._emit = emit or (lambda *a, **k: None)
        self.key = key
        self.failures = failures or self.policy.breaker_failures
        self.cooldown = float(self.policy.breaker_cooldown if cooldown is None else cooldown)

    def snapshot(self) -> dict[str, Any]:
        return self.control.get(self.key, None) or {
            "state": "closed",
            "failures": 0,
            "opened_at": None,
        }

    def _save(self, snap: dict[str, Any], reason: str) -> None:
        self.control.set(self.key, snap, actor="breaker", reason=reason)

    @property
    def state(self) -> str:
        return self.snapshot()["state"]

    def allow(self) -> bool:
        """Whether the strategist may be called now (moves open → half-open on cooldown)."""
        snap = self.snapshot()
        if snap["state"] != "open":
            return True
        if snap.get("latched"):  # flapping: held open until an operator resumes
            return False
        opened = _parse(snap["opened_at"])
        if opened and self.clock() >= opened + timedelta(seconds=self.cooldown):
            snap["state"] = "half_open"
            self._save(snap, "cooldown elapsed")
            self._emit("resilience", "breaker_half_open", state="half_open")
            return True
        return False

    def record_success(self) -> None:
        snap = self.snapshot()
        if snap["state"] == "closed" and snap["failures"] == 0:
            return
        was = snap["state"]
        self._save({"state": "closed", "failures": 0, "opened_at": None}, "success")
        if was != "closed":
            self._emit("resilience", "breaker_closed", state="closed")

    def record_failure(self, error_type: str) -> bool:
        """Count a failure; returns True when this failure opened the breaker."""
        snap = self.snapshot()
        failures = int(snap["failures"]) + 1
        opens = snap["state"] == "half_open" or failures >= self.failures
        if opens and snap["state"] != "open":
            self._save(
                {"state": "open", "failures": failures, "opened_at": _iso(self.clock())},
                f"failure: {error_type}",
            )
            self._emit(
                "resilience",
                "breaker_opened",
                severity="error",
                state="open",
                failures=failures,
                reason=error_type,
            )
            return True
        snap["failures"] = failures
        self._save(snap, f"failure: {error_type}")
        return False
