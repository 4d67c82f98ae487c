"""Each strategy's trading state (``active``, ``reducing``, ``halted``) and P&L peak,
kept as journaled controls (``strategy:<name>``) like the account's ``trading_state``.

A strategy whose P&L falls from its peak by ``drawdown_stop`` x its capital moves to
``reducing`` (only orders that shrink its own positions pass the budget step); it moves
to ``halted`` when the fall reaches ``drawdown_halt``, or, without one, once it holds
nothing. Only an operator moves it back (:meth:`StrategyStates.set`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from ..errors import ConfigError
from ..sections import StrategyBudget

STRATEGY_STATES = ("active", "reducing", "halted")
PREFIX = "strategy:"


class StrategyStates:
    """Read and move the per-strategy states through the runtime's ``Control``."""

    def __init__(self, control: Any, emit: Callable[..., Any] | None = None) -> None:
        self.control = control
        self._emit = emit or (lambda *a, **k: None)

    def snapshot(self, name: str) -> dict[str, Any]:
        return self.control.get(PREFIX + name, None) or {"state": "active", "peak": "0"}

    def state(self, name: str) -> str:
        state = self.snapshot(name).get("state")
        return state if state in STRATEGY_STATES else "halted"  # unreadable: fail safe

    def states(self, names: Iterable[str]) -> dict[str, str]:
        return {name: self.state(name) for name in names}

    def set(self, name: str, state: str, *, actor: str, reason: str = "") -> None:
        """Move strategy ``name`` to ``state`` (an operator's resume resets the peak)."""
        if state not in STRATEGY_STATES:
            raise ConfigError(f"strategy state must be one of {', '.join(STRATEGY_STATES)}")
        snap = {**self.snapshot(name), "state": state}
        if state == "active":
            snap["peak"] = None  # the drawdown restarts from the P&L at the next update
        self._save(name, snap, actor=actor, reason=reason, drawdown=None)

    def update(
        self, name: str, pnl: Decimal, capital: Decimal, budget: StrategyBudget, *, flat: bool
    ) -> str:
        """Track the P&L peak and apply the drawdown stops; returns the state."""
        snap = self.snapshot(name)
        state = self.state(name)
        if budget.drawdown_stop is None and budget.drawdown_halt is None:
            return state
        raw = snap.get("peak", "0")
        old_peak = pnl if raw is None else Decimal(str(raw))
        peak = max(old_peak, pnl)
        drawdown = (peak - pnl) / capital if capital > 0 else Decimal(0)
        new = state
        stop, halt = budget.drawdown_stop, budget.drawdown_halt
        if state == "active" and stop is not None and drawdown >= Decimal(str(stop)):
            new = "reducing"
        if new != "halted" and halt is not None and drawdown >= Decimal(str(halt)):
            new = "halted"
        if new == "reducing" and halt is None and flat:
            new = "halted"
        if new == state and peak == old_peak and raw is not None:
            return state
        reason = f"drawdown {drawdown:.4f} of capital {capital}" if new != state else "new peak"
        snap = {"state": new, "peak": str(peak)}
        self._save(name, snap, actor="portfolio", reason=reason, drawdown=drawdown, was=state)
        return new

    def _save(
        self, name: str, snap: dict[str, Any], *, actor: str, reason: str, **info: Any
    ) -> None:
        was = info.pop("was", self.state(name))
        self.control.set(PREFIX + name, snap, actor=actor, reason=reason)
        if snap["state"] != was:
            self._emit(
                "portfolio",
                "strategy_state",
                severity="critical" if snap["state"] == "halted" else "warning",
                strategy=name,
                state=snap["state"],
                previous=was,
                drawdown=None if info["drawdown"] is None else str(info["drawdown"]),
                actor=actor,
                reason=reason,
            )
