"""The cycle runtime: the canonical graph, the commander, operator control and resilience."""

from .control import CircuitBreaker, Control
from .loop import CycleTotals, run_cycles
from .mode import ResolvedMode, resolve_mode
from .plan import PLAN, runtime_plan
from .runtime import Runtime
from .state import CycleState

__all__ = [
    "PLAN",
    "CircuitBreaker",
    "Control",
    "CycleState",
    "CycleTotals",
    "ResolvedMode",
    "Runtime",
    "resolve_mode",
    "run_cycles",
    "runtime_plan",
]
