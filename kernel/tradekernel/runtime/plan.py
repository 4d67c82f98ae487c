"""The canonical cycle graph: its nodes, their roles and their retry policies.

``runtime_plan()`` is the single description of the chain; the commander walks it and
``tradekernel runtime-plan`` prints it.
"""

from __future__ import annotations

from attrs import frozen

from ..settings import RuntimeSettings


@frozen
class NodeSpec:
    name: str
    role: str
    does: str
    retry: bool
    """Whether the commander may retry the node: only nodes whose work is safe to repeat.
    ``execute`` never is: an unknown submit outcome is reconciled, not retried."""
    skipped_in: tuple[str, ...] = ()


PLAN: tuple[NodeSpec, ...] = (
    NodeSpec("hydrate", "Scanner", "fetch the configured skills into skill_results", True),
    NodeSpec(
        "scan", "Scanner", "pick candidate symbols from the watchlist and hydrated data", False
    ),
    NodeSpec(
        "strategize", "Strategist", "ask the strategist for intents (behind the breaker)", False
    ),
    NodeSpec("guard", "Risk", "check every intent against every guard; record it", False),
    NodeSpec(
        "approve", "Approver", "park for manual approval or auto-approve; expire stale", False
    ),
    NodeSpec(
        "execute",
        "Executor",
        "claim approved intents and submit each exactly once",
        False,
        ("shadow",),
    ),
    NodeSpec(
        "monitor", "Monitor", "track order status and record each fill once", True, ("shadow",)
    ),
    NodeSpec("report", "Reporter", "snapshot the account and emit the cycle summary", True),
)

ACTIONS = ("route", "retry", "pause", "cancel", "cooldown_wait", "end")
"""What the commander can do between nodes; each is a ``commander`` event."""


def runtime_plan(policy: RuntimeSettings | None = None) -> list[dict[str, object]]:
    """The chain as data: node, role, what it does, retry policy, modes that skip it."""
    policy = policy or RuntimeSettings()
    return [
        {
            "node": node.name,
            "role": node.role,
            "does": node.does,
            "attempts": policy.node_attempts if node.retry else 1,
            "backoff": str(policy.node_backoff) if node.retry else None,
            "skipped_in": list(node.skipped_in),
            "next": PLAN[i + 1].name if i + 1 < len(PLAN) else "end",
        }
        for i, node in enumerate(PLAN)
    ]
