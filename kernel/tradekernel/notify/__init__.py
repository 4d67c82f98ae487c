"""Operator notifications: routing events to notifiers, noise control, delivery log.

Public API (see docs/notifications.md):

* :class:`Notifications` (``tradekernel.notify.service``): ``publish(notification)``
  and ``log(date=None, status=None)``, both returning :class:`DeliveryRecord` lists.
* :mod:`tradekernel.notify.http` / :mod:`tradekernel.notify.retry`: the bounded-retry
  delivery helpers notifier plugins use.

Names are imported lazily so that ``import tradekernel.notify`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DeliveryRecord", "Notifications", "RetryPolicy", "notification_from_event"]

_LAZY = {
    "Notifications": "tradekernel.notify.service",
    "DeliveryRecord": "tradekernel.notify.store",
    "RetryPolicy": "tradekernel.notify.retry",
    "notification_from_event": "tradekernel.notify.render",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
