"""The running agent's budget observer (attached at kernel start when ``[budgets]``
names a node or a broker): ``budget.node_over`` and ``budget.nodes`` from the
commander's events (:class:`~.timer.NodeTimer`), and at each cycle's end one
``budget.broker_usage`` per broker budget of the process (what ``budget status`` shows).

Its events go through a bus of its own, as the SLO observer's do: the kernel drops
events emitted from inside an observer's ``on_event``; these cannot loop, because the
observer reads only ``commander`` events.
"""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl
from tradekernel.api import EventBus, broker_budgets

from ..bus import observer_bus
from .timer import NodeTimer


class BudgetObserver:
    """Feeds the ``commander`` events to a :class:`NodeTimer`; reports broker usage."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        budgets = kernel.settings.budgets
        self.timer = NodeTimer(budgets.nodes)
        self.brokers = set(budgets.brokers)
        self.agent = str(kernel.settings.state_dir.resolve())
        self.bus: EventBus | None = None

    def wants_event(self, stage: str, kind: str, severity: Any) -> bool:
        if stage != "commander":
            return False
        return kind == "end" or (bool(self.timer.budgets) and kind in ("route", "transition"))

    @hookimpl
    def on_event(self, event: Any) -> None:
        out = self.timer.observe(event) if self.timer.budgets else []
        if event.kind == "end" and self.brokers:
            out += [
                ("broker_usage", "debug", budget.usage())
                for budget in broker_budgets(self.agent)
                if budget.broker in self.brokers
            ]
        if not out:
            return
        if self.bus is None:
            self.bus = observer_bus(self.kernel)
        for kind, severity, fields in out:
            self.bus.emit("budget", kind, severity=severity, **fields)
