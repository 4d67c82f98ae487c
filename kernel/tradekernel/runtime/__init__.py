"""The cycle runtime: the canonical graph, the commander, operator control and resilience."""

from .control import CircuitBreaker, Control
from .graph import END, Cycle, GraphSpec, NodeSpec, Retry, Route
from .loop import CycleTotals, run_cycles
from .mode import ResolvedMode, resolve_mode
from .plan import GRAPH, PLAN, runtime_plan
from .runtime import Runtime
from .state import CycleState

__all__ = [
    "END",
    "GRAPH",
    "PLAN",
    "CircuitBreaker",
    "Control",
    "Cycle",
    "CycleState",
    "CycleTotals",
    "GraphSpec",
    "NodeSpec",
    "ResolvedMode",
    "Retry",
    "Route",
    "Runtime",
    "resolve_mode",
    "run_cycles",
    "runtime_plan",
]
