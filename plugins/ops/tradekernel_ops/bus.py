"""The event bus of an observer that emits events of its own."""

from __future__ import annotations

from typing import Any

from tradekernel.api import EventBus


def observer_bus(kernel: Any) -> EventBus:
    """A bus that hands events straight to the kernel's observers (inside ``on_event``
    the kernel's re-entrancy guard would drop events emitted the usual way), redacted by
    the settings, stamped by the kernel's event clock as it is at each emit."""
    return EventBus(
        kernel.dispatch_event,
        redact=kernel.settings.redact,
        clock=lambda: kernel.events.clock(),
    )
