"""The notification dispatcher: a per-kernel ``on_event`` observer that turns routed
events into notifications and delivers them through :class:`Notifications`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger
from tradekernel.api import Event, EventBus, hookimpl

from .routing import NEVER_ROUTED, Router

if TYPE_CHECKING:
    from tradekernel.api import Kernel

    from .service import Notifications


class NotifyObserver:
    """Attached to each kernel at its start (``on_kernel_start``), after its sink
    fan-out. The service (and its connection to the notification state) is created on
    the first routed event only."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._router: Router | None = None
        self._service: Notifications | None = None

    @property
    def router(self) -> Router:
        if self._router is None:
            settings = self.kernel.settings
            self._router = Router(settings.notify.routes, self.kernel.selected("notifier"))
            for name in self._router.unselected():
                logger.warning(
                    "[notify] routes name notifier {!r}, which [components] notifiers does "
                    "not select: it receives nothing",
                    name,
                )
        return self._router

    def service(self) -> Notifications:
        """The notification service of this kernel (created on first use)."""
        if self._service is None:
            from .service import Notifications

            # refuse=False: a state that cannot be opened (refused credentials, a lost
            # state) sends unlogged, as a server that is down does, never nothing
            self._service = Notifications(self.kernel, emit=self._nested_bus().emit, refuse=False)
        return self._service

    def close(self) -> None:
        """Close the service's connection to the notification state (the kernel closes
        its observers when it closes)."""
        if self._service is not None:
            self._service.close()

    def _nested_bus(self) -> EventBus:
        # on_event runs inside the kernel's dispatch, whose re-entrancy guard would drop
        # our notify.* events. Dispatch them to this kernel's observers directly instead:
        # that cannot loop, because notify.* events are never routed (see on_event).
        kernel = self.kernel
        return EventBus(
            kernel.dispatch_event,
            redact=kernel.settings.redact,
            clock=kernel.events.clock,
        )

    def wants_event(self, stage: str, kind: str, severity: object) -> bool:
        """Whether ``[notify] routes`` send a ``stage.kind`` event of ``severity`` to a
        selected notifier (the kernel builds no event that nothing consumes)."""
        key = f"{stage}.{kind}"
        if key.startswith(NEVER_ROUTED) or not self.kernel.settings.notify.enabled:
            return False
        return bool(self.router.route(key, severity))

    @hookimpl
    def on_event(self, event: Event) -> None:
        key = f"{event.stage}.{event.kind}"
        if key.startswith(NEVER_ROUTED) or not self.kernel.settings.notify.enabled:
            return
        names = self.router.route(key, event.severity)
        if not names:
            return
        try:
            from .render import notification_from_event

            self.service().publish(notification_from_event(event), notifiers=names)
        except Exception as exc:  # notifications must never stop a trading cycle
            logger.opt(exception=exc).warning("notify: delivery of {} failed: {}", key, exc)
