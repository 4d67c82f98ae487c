"""The running agent's SLO observer: counts each event as it arrives (no file is read)
and emits ``slo.burn_rate`` / ``slo.recovered`` on alert transitions, and one
``slo.status`` per objective at each cycle's end (the Prometheus gauges).

Its events go through a bus of its own: the kernel drops events emitted from inside an
observer's ``on_event`` (they could loop); these cannot, because the evaluator ignores
the ``slo`` stage.
"""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl
from tradekernel.api import EventBus

from .engine import Evaluator

OBSERVER = "tradekernel-ops.slo"
STAGES = frozenset({"report", "strategist", "approval", "executor", "notify"})
"""The stages an indicator reads; error events of any stage mark their cycle failed."""


class SloObserver:
    """Feeds the kernel's events to an :class:`Evaluator`."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.evaluator = Evaluator(kernel.settings.slo)
        self.bus: EventBus | None = None

    def wants_event(self, stage: str, kind: str, severity: Any) -> bool:
        return stage != "slo" and (
            stage in STAGES or getattr(severity, "value", severity) in ("error", "critical")
        )

    @hookimpl
    def on_event(self, event: Any) -> None:
        transitions = self.evaluator.observe(event)
        if event.stage == "report" and event.kind == "cycle":
            at = event.ts.timestamp()
            transitions += [("status", "debug", t.status(at=at)) for t in self.evaluator.trackers]
        if not transitions:
            return
        if self.bus is None:
            kernel = self.kernel
            self.bus = EventBus(
                kernel.dispatch_event,
                redact=kernel.settings.redact,
                clock=lambda: kernel.events.clock(),
            )
        for kind, severity, fields in transitions:
            self.bus.emit("slo", kind, severity=severity, **fields)
