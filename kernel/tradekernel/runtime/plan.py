"""The canonical cycle graph: its nodes, their roles, retry policies and state keys.

:data:`GRAPH` is the single description of the chain (:mod:`.graph`); every runtime walks
it and ``tradekernel runtime-plan`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..settings import RuntimeSettings
from .graph import GraphSpec, NodeSpec, Retry, plugin_node
from .state import CycleState


def _node(name: str) -> Callable[[Any, CycleState], None]:
    """The runtime's node method ``_node_<name>`` (looked up per call: nodes.py)."""

    def run(runtime: Any, state: CycleState) -> None:
        getattr(runtime, f"_node_{name}")(state)

    run.__qualname__ = f"Nodes._node_{name}"
    return run


MARKET = ("as_of", "skill_results", "quotes", "bars", "positions", "account")

PLAN: tuple[NodeSpec, ...] = (
    NodeSpec(
        "hydrate",
        "Scanner",
        "fetch the configured skills into skill_results",
        _node("hydrate"),
        Retry(),
        reads=("as_of", "advanced"),
        writes=(*MARKET, "advanced", "stop_reason", "notes"),
        effects=("clock", "events"),
    ),
    NodeSpec(
        "scan",
        "Scanner",
        "pick candidate symbols from the watchlist and hydrated data",
        _node("scan"),
        reads=MARKET,
        writes=("candidates",),
    ),
    NodeSpec(
        "strategize",
        "Strategist",
        "ask the strategist for intents (behind the breaker)",
        _node("strategize"),
        reads=(*MARKET, "candidates", "degraded"),
        writes=("decision", "decisions", "intents", "net_inputs", "degraded_intents"),
        effects=("store", "events"),
    ),
    NodeSpec(
        "guard",
        "Risk",
        "check every intent against every guard; record it",
        _node("guard"),
        reads=(*MARKET, "intents", "net_inputs", "degraded", "degraded_intents"),
        writes=("proposed", "blocked", "pending", "approved", "denials"),
        effects=("store", "events"),
    ),
    NodeSpec(
        "approve",
        "Approver",
        "park for manual approval or auto-approve; expire stale",
        _node("approve"),
        writes=("notes",),
        effects=("store", "events"),
    ),
    NodeSpec(
        "execute",
        "Executor",
        "claim approved intents and submit each exactly once",
        _node("execute"),
        skipped_in=("shadow",),
        reads=("as_of", "degraded"),
        writes=("submitted", "failed"),
        effects=("store", "broker", "events"),
    ),
    NodeSpec(
        "monitor",
        "Monitor",
        "track order status and record each fill once",
        _node("monitor"),
        Retry(),
        ("shadow",),
        reads=("as_of",),
        writes=("fills",),
        effects=("store", "broker", "events"),
    ),
    NodeSpec(
        "report",
        "Reporter",
        "snapshot the account and emit the cycle summary",
        _node("report"),
        Retry(),
        reads=("*",),
        writes=("account", "positions"),
        effects=("events",),
    ),
)

GRAPH = GraphSpec(PLAN)
"""The kernel's graph; a runtime adds the selected plugin nodes (``[components] nodes``)."""

ACTIONS = ("route", "retry", "pause", "cancel", "skip", "cooldown_wait", "end")
"""What the commander can do between nodes; each is a ``commander`` event."""


def runtime_plan(policy: RuntimeSettings | None = None) -> list[dict[str, object]]:
    """The chain as data: node, role, what it does, retry policy, modes that skip it,
    the state keys it reads and writes."""
    return GRAPH.rows(policy)


def kernel_graph(kernel: Any) -> GraphSpec:
    """The graph ``kernel``'s agent walks: :data:`GRAPH` with the selected plugin nodes
    (``[components] nodes``) inserted in order, each before its insertion point."""
    graph = GRAPH
    for name, node in kernel.components("node"):
        spec = plugin_node(name, node, kernel.spec("node", name).description)
        try:
            graph = graph.with_node(spec, str(getattr(node, "before", "")))
        except ConfigError as exc:
            where = kernel.settings.where("components", "nodes")
            raise ConfigError(f"{where}: [components] nodes: {exc}") from None
    return graph
