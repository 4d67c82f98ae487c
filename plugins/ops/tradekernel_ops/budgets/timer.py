"""Per-node latency from the commander's events: a node's time is from the event that
routed into it (``commander.route`` into the first node, else the ``transition`` whose
``next`` is it) to its own ``transition`` out (retries included). No timer is added to
the runtime: the events' own timestamps are the measurements.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Transition = tuple[str, str, dict[str, Any]]
"""``(kind, severity, fields)`` of a ``budget`` event to emit."""


class NodeTimer:
    """Times each node of the cycle being walked and compares it with ``budgets``
    (seconds by node name). Keeps one cycle's state: memory does not grow."""

    def __init__(
        self,
        budgets: dict[str, float],
        elapsed: Callable[[str, float], None] | None = None,
    ) -> None:
        self.budgets = {node: float(limit) for node, limit in budgets.items()}
        self.elapsed = elapsed
        """Called with ``(node, seconds)`` for every node timed, budgeted or not."""
        self._cycle: str | None = None
        self._node: str | None = None
        self._since: Any = None
        self._timed = 0
        self._over: list[str] = []
        self._times: dict[str, float] = {}

    def observe(self, event: Any) -> list[Transition]:
        """The ``budget`` events ``event`` gives: ``node_over`` for a node over its budget,
        ``nodes`` (one per cycle with a budgeted node timed, with each such node's latest
        time and its budget) at the cycle's end."""
        if event.stage != "commander":
            return []
        fields = event.fields if isinstance(event.fields, dict) else {}
        kind = event.kind
        if kind == "route" and fields.get("action") == "route":
            self._start(event.cycle_id, fields.get("node"), event.ts)
            return []
        if event.cycle_id != self._cycle or self._cycle is None:
            return []
        if kind == "transition":
            return self._leave(fields, event.ts)
        if kind == "end":
            return self._end()
        return []

    def _start(self, cycle: str, node: Any, ts: Any) -> None:
        self._cycle = cycle or None
        self._node = node if isinstance(node, str) else None
        self._since = ts
        self._timed = 0
        self._over = []
        self._times = {}

    def _leave(self, fields: dict[str, Any], ts: Any) -> list[Transition]:
        node, since = self._node, self._since
        nxt = fields.get("next")
        self._node = nxt if isinstance(nxt, str) else None
        self._since = ts
        if node is None or fields.get("node") != node:
            return []
        limit = self.budgets.get(node)
        if limit is None and self.elapsed is None:
            return []
        try:
            elapsed = (ts - since).total_seconds()
        except (TypeError, AttributeError):
            return []
        if not math.isfinite(elapsed) or elapsed < 0:  # a clock stepped back: no sample
            return []
        if self.elapsed is not None:
            self.elapsed(node, elapsed)
        if limit is None:
            return []
        self._timed += 1
        self._times[node] = round(elapsed * 1000, 3)
        if elapsed <= limit:
            return []
        self._over.append(node)
        return [
            (
                "node_over",
                "warning",
                {
                    "node": node,
                    "elapsed_ms": round(elapsed * 1000, 3),
                    "budget_ms": round(limit * 1000, 3),
                },
            )
        ]

    def _end(self) -> list[Transition]:
        timed, over, times = self._timed, self._over, self._times
        self._cycle = self._node = self._since = None
        self._timed, self._over, self._times = 0, [], {}
        if not timed:
            return []
        budgets = {node: round(self.budgets[node] * 1000, 3) for node in times}
        fields = {"timed": timed, "over": over, "elapsed_ms": times, "budget_ms": budgets}
        return [("nodes", "debug", fields)]
