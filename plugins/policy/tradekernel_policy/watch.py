"""Looking at the policy files at every cycle's end, with or without intents.

The guard looks at its file when it first evaluates an intent in a new cycle; a cycle
that proposes nothing never asks it. This observer (attached to each kernel that selects
a policy guard) does the same at the end of every cycle, on the ``report.cycle`` event,
so a changed file is picked up, or its failure alerted, within one cycle whatever the
strategist does. Its own events go through a bus of its own: the kernel drops events
emitted from inside an observer's ``on_event`` (they could loop), and these cannot.
"""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl
from tradekernel.api import EventBus

OBSERVER = "tradekernel-policy.cycle-watch"


def policy_guards(settings: Any) -> list[str]:
    """The selected guards that use the ``policy`` guard."""
    return [
        name
        for name in settings.components.guards
        if settings.component_use("guard", name) == "policy"
    ]


class CycleWatch:
    """Calls each built policy guard's ``reload_if_changed`` after every cycle."""

    def __init__(self, kernel: Any, names: list[str]) -> None:
        self.kernel = kernel
        self.names = names
        self.bus: EventBus | None = None

    def wants_event(self, stage: str, kind: str, severity: Any) -> bool:
        return stage == "report" and kind == "cycle"

    @hookimpl
    def on_event(self, event: Any) -> None:
        if event.stage != "report" or event.kind != "cycle":
            return
        if self.bus is None:
            kernel = self.kernel
            self.bus = EventBus(
                kernel.dispatch_event, redact=kernel.settings.redact, clock=kernel.events.clock
            )
        for name in self.names:
            guard = self.kernel.component("guard", name)  # built when the run started
            reload = getattr(guard, "reload_if_changed", None)
            if callable(reload):
                reload(emit=self.bus.emit)
