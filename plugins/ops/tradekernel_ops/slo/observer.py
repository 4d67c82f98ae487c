"""The running agent's SLO observer: counts each event as it arrives (no file is read)
and emits ``slo.burn_rate`` / ``slo.recovered`` on alert transitions, and one
``slo.status`` per objective at each cycle's end (the Prometheus gauges).

At its first ``report.cycle`` (only a process that runs cycles reads anything) it
replays the recorded events of the longest objective window before it and of this run
so far, once, without emitting, streaming (memory does not grow with the events): an
agent restarted in the middle of an episode keeps it (no second page), its burn rates
start from the recorded past, and its error budgets count the whole window, as ``slo
status`` does. Alerts are evaluated over the last six hours of the replay only (the
longest alert window); older events are only counted.

Its events go through a bus of its own: the kernel drops events emitted from inside an
observer's ``on_event`` (they could loop); these cannot, because the evaluator ignores
the ``slo`` stage.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tradekernel import hookimpl
from tradekernel.api import EventBus

from ..bus import observer_bus
from .engine import Evaluator

OBSERVER = "tradekernel-ops.slo"
SEED = timedelta(hours=6)
"""How far back the first cycle's replay reads: the longest alert window."""
STAGES = frozenset({"report", "strategist", "approval", "executor", "notify", "budget"})
"""The stages an indicator reads; error events of any stage mark their cycle failed."""


class SloObserver:
    """Feeds the kernel's events to an :class:`Evaluator`."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.evaluator = Evaluator(kernel.settings.slo)
        self.bus: EventBus | None = None
        self.seeded = False

    def wants_event(self, stage: str, kind: str, severity: Any) -> bool:
        return stage != "slo" and (
            stage in STAGES or getattr(severity, "value", severity) in ("error", "critical")
        )

    @hookimpl
    def on_event(self, event: Any) -> None:
        cycle_end = event.stage == "report" and event.kind == "cycle"
        if cycle_end and not self.seeded:
            self.seeded = True
            transitions = self._seed(event)
        else:
            transitions = self.evaluator.observe(event)
        if cycle_end:
            at = event.ts.timestamp()
            transitions += [("status", "debug", t.status(at=at)) for t in self.evaluator.trackers]
        if not transitions:
            return
        if self.bus is None:
            self.bus = observer_bus(self.kernel)
        for kind, severity, fields in transitions:
            self.bus.emit("slo", kind, severity=severity, **fields)

    def _seed(self, event: Any) -> list[tuple[str, str, dict[str, Any]]]:
        """Rebuild the evaluator from the recorded events up to ``event`` (the sinks
        have written it already); a log that cannot be read leaves the counts as they
        are. Returns ``event``'s own transitions."""
        from loguru import logger

        from .report import recorded

        fresh = Evaluator(self.kernel.settings.slo)
        until = event.ts + timedelta(microseconds=1)
        alerts_from = event.ts - SEED
        since = event.ts - max(SEED, timedelta(seconds=fresh.longest))
        key = (event.ts, event.stage, event.kind, event.cycle_id)
        found = False
        try:
            for past in recorded(self.kernel.settings, since, until):
                if (past.ts, past.stage, past.kind, past.cycle_id) == key:
                    found = True
                    continue
                # their transitions were emitted when they happened
                fresh.observe(past, evaluate=past.ts >= alerts_from)
        except Exception as exc:  # a broken log must not stop the agent's alerts
            logger.warning("slo: the recorded events could not be replayed: {}", exc)
            return self.evaluator.observe(event)
        if not found:  # no sink recorded it: nothing to seed from
            return self.evaluator.observe(event)
        self.evaluator = fresh
        return fresh.observe(event)
