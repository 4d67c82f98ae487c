"""The default notifier: writes notifications to the log (and so to the event stream
through the runtime's notification events)."""

from __future__ import annotations

from loguru import logger

from ..components import DeliveryResult, Notification
from ..hookspecs import hookimpl


class LogNotifier:
    """Logs each notification at a level matching its severity."""

    def send(self, notification: Notification) -> DeliveryResult:
        level = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING"}.get(
            notification.severity, "INFO"
        )
        # Title and body are inert already (``tradekernel_notify.render``), outside text
        # escaped; the body's own line breaks are escaped the same way, so the record is
        # one log line.
        body = notification.body.replace("\n", "\\n")
        logger.bind(inert=True).log(
            level, "[{}] {}: {}", notification.kind, notification.title, body
        )
        return DeliveryResult(ok=True, status="sent")


@hookimpl
def register_notifiers(register):
    register("log", lambda config, ctx: LogNotifier(), description=LogNotifier.__doc__)
