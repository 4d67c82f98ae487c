"""The running agent's side: a per-kernel ``on_event`` observer that opens incidents from
alert events and drives escalation at each cycle boundary."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger
from tradekernel.api import Event, EventBus, hookimpl

from .service import opens
from .store import DB_FILE

if TYPE_CHECKING:
    from tradekernel.api import Kernel

    from .service import Incidents

BOUNDARIES = frozenset({("commander", "end"), ("report", "cycle")})
"""Events that end a cycle: escalation that fell due is sent there."""


@contextlib.contextmanager
def kernel_control(kernel: Any, emit: Any) -> Iterator[Any]:
    """The kernel's ``Control`` over a store connection of its own, for one change."""
    from tradekernel.api import Control, open_store

    settings = kernel.settings
    with open_store(
        settings,
        on_transition=kernel.dispatch_transition,
        redact=getattr(settings, "redact", None),
    ) as store:
        yield Control(store, settings.runtime, emit=emit)


def build(kernel: Any, *, emit: Any = None, clock: Any = None) -> Incidents:
    """The :class:`Incidents` of ``kernel``: its notifiers for escalation, its events, its
    Control for the move to ``reducing``."""
    from .service import Incidents, kernel_delivered, kernel_publisher

    emit = emit or kernel.emit
    extra = {"clock": clock} if clock is not None else {}
    return Incidents(
        kernel.settings,
        publish=kernel_publisher(kernel),
        delivered=kernel_delivered(kernel),
        emit=emit,
        control=lambda: kernel_control(kernel, emit),
        **extra,
    )


class IncidentObserver:
    """Attached to each kernel at its start. Its :class:`Incidents` (and the SQLite file)
    is created on the first event that opens an incident, or at a cycle boundary once
    the file exists."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._service: Incidents | None = None
        self._lock = threading.Lock()

    def service(self) -> Incidents:
        with self._lock:  # events come from several threads: one Incidents per kernel
            return self._service or self._build()

    def _build(self) -> Incidents:
        if self._service is None:
            kernel = self.kernel
            # Inside on_event the kernel's re-entrancy guard would drop our events: send
            # them to its observers directly (incident.* never opens an incident).
            bus = EventBus(
                kernel.dispatch_event, redact=kernel.settings.redact, clock=kernel.events.clock
            )
            self._service = build(kernel, emit=bus.emit, clock=lambda: kernel.events.clock())
        return self._service

    def wants_event(self, stage: str, kind: str, severity: object) -> bool:
        config = self.kernel.settings.incidents
        return config.active and (
            (stage, kind) in BOUNDARIES or opens(config, stage, kind, severity)
        )

    @hookimpl
    def on_event(self, event: Event) -> None:
        config = self.kernel.settings.incidents
        try:
            if (event.stage, event.kind) in BOUNDARIES:
                if config.active and (Path(self.kernel.settings.state_dir) / DB_FILE).exists():
                    self.service().tick()
            elif opens(config, event.stage, event.kind, event.severity):
                self.service().observe(event)
        except Exception as exc:  # incidents must never stop a trading cycle
            logger.opt(exception=exc).warning("incidents: {}.{}: {}", event.stage, event.kind, exc)

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
