"""tradekernel-notify: operator notifications (see docs/notifications.md).

Routing events to notifiers by ``[notify] routes``, noise control (dedup, rate limits,
timeouts) and the delivery log, plus the ``tradekernel notify`` command. The notifier
protocol (``Notifier``, ``Notification``, ``DeliveryResult``) and the HTTP delivery
helpers notifier plugins share stay in the kernel (:mod:`tradekernel.api`).

Public API:

* :func:`notifications` (``notifications(kernel)``): the :class:`Notifications` of a
  kernel, the one its dispatcher delivers routed events through.
* :class:`Notifications` (``tradekernel_notify.service``): ``publish(notification)``
  and ``log(date=None, status=None)``, both returning :class:`DeliveryRecord` lists.

Names are imported lazily so that loading the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradekernel import hookimpl
from tradekernel.api import lazy_exports

if TYPE_CHECKING:
    from tradekernel.api import Kernel

    from .service import Notifications

__all__ = [
    "DeliveryRecord",
    "Notifications",
    "dispatcher",
    "notification_from_event",
    "notifications",
]

OBSERVER_NAME = "tradekernel.notify"
"""The dispatcher's observer name in each kernel: the kernel's well-known
``tradekernel.api.NOTIFICATION_DISPATCHER``, by which ``config check`` and ``run`` know
that notifications are routed (kept literal here so that loading the plugin stays cheap)."""

_LAZY = {
    "Notifications": "tradekernel_notify.service",
    "DeliveryRecord": "tradekernel_notify.store",
    "notification_from_event": "tradekernel_notify.render",
}


__getattr__ = lazy_exports(__name__, _LAZY)


@hookimpl
def on_kernel_start(kernel: Kernel) -> None:
    """Attach this kernel's notification dispatcher (an ``on_event`` observer)."""
    from .observer import NotifyObserver

    kernel.add_observer(NotifyObserver(kernel), OBSERVER_NAME)


@hookimpl
def register_commands(cli: Any) -> None:
    from .cli import notify

    cli.add_command(notify)


def dispatcher(kernel: Kernel) -> Any:
    """The :class:`~tradekernel_notify.observer.NotifyObserver` attached to ``kernel``;
    a :class:`LookupError` when none is (the kernel is closed, or its plugin registry
    did not load tradekernel-notify)."""
    observer = kernel.observer(OBSERVER_NAME)
    if observer is None:
        raise LookupError(
            "this kernel has no notification dispatcher: it is closed, or its plugin "
            "registry did not load tradekernel-notify"
        )
    return observer


def notifications(kernel: Kernel) -> Notifications:
    """The :class:`Notifications` of ``kernel`` (created on first use): what its
    dispatcher delivers routed events through, with ``publish``, ``test`` and ``log``."""
    return dispatcher(kernel).service()
