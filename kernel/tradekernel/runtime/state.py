"""The state one cycle carries from node to node."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from attrs import define, field

from ..models import Account, Bar, Decision, Intent, Position, Quote, SkillResult


@define
class CycleState:
    """Everything the nodes of one cycle read and write. Nodes add to it in order."""

    cycle_id: str
    mode: str
    mode_source: str
    as_of: datetime | None = None
    advanced: bool = False
    """Whether the hydrate node already moved the market clock for this cycle."""
    skill_results: dict[str, SkillResult] = field(factory=dict)
    quotes: dict[str, Quote] = field(factory=dict)
    bars: dict[str, list[Bar]] = field(factory=dict)
    positions: dict[str, Position] = field(factory=dict)
    account: Account | None = None
    candidates: list[str] = field(factory=list)
    decision: Decision | None = None
    decisions: dict[str, Decision] = field(factory=dict)
    """Each strategist's decision, by name (``decision``: the cycle's, combined)."""
    intents: list[Intent] = field(factory=list)
    proposed: list[str] = field(factory=list)
    blocked: list[str] = field(factory=list)
    pending: list[str] = field(factory=list)
    approved: list[str] = field(factory=list)
    submitted: list[str] = field(factory=list)
    failed: list[str] = field(factory=list)
    fills: int = 0
    denials: dict[str, int] = field(factory=dict)
    degraded: bool = False
    degraded_intents: set[str] = field(factory=set)
    """Intents of a strategist in its own degrade state: handled as in degrade."""
    net_inputs: dict[str, tuple[Intent, ...]] = field(factory=dict)
    """Each netted intent's inputs (the strategies' own intents), guarded one by one too."""
    stop_reason: str | None = None
    notes: list[str] = field(factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts for the cycle's ``report`` event."""
        account = self.account
        unrealized = sum((p.unrealized_pnl for p in self.positions.values()), Decimal(0))
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "mode": self.mode,
            "candidates": len(self.candidates),
            "intents": len(self.intents),
            "blocked": len(self.blocked),
            "pending": len(self.pending),
            "approved": len(self.approved),
            "submitted": len(self.submitted),
            "failed": len(self.failed),
            "fills": self.fills,
            "denials": dict(self.denials),
            "hold_reason": self.decision.hold_reason if self.decision else None,
            "cash": str(account.cash) if account else None,
            "equity": str(account.equity) if account else None,
            "realized_pnl": str(account.realized_pnl) if account else None,
            "unrealized_pnl": str(unrealized),
            "degraded": self.degraded,
        }
