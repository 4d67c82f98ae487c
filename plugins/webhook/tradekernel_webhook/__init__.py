"""tradekernel-webhook: the ``webhook`` notifier (signed JSON POST, ``notification.v1``)."""

from __future__ import annotations

from tradekernel import hookimpl

from .notifier import (
    SCHEMA,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookConfig,
    WebhookNotifier,
    build_payload,
    sign,
    verify_signature,
)

__all__ = [
    "SCHEMA",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookConfig",
    "WebhookNotifier",
    "build_payload",
    "sign",
    "verify_signature",
]


@hookimpl
def register_notifiers(register):
    register(
        "webhook",
        WebhookNotifier.from_config,
        config=WebhookConfig,
        version="1",
        description="Generic JSON webhook (notification.v1), optionally HMAC-SHA256 signed",
    )
