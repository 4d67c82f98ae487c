"""POST each notification as JSON (``notification.v1``) to a URL, optionally signed.

Signature: ``X-Tradekernel-Signature: sha256=<hex>`` is HMAC-SHA256, keyed with the
shared secret, over ``"<timestamp>.<raw body>"`` where ``<timestamp>`` is the value of
``X-Tradekernel-Timestamp`` (Unix seconds). Receivers verify it and reject stale
timestamps (replays); :func:`verify_signature` does both. ``X-Tradekernel-Delivery``
(also the payload's ``id``) is the same on every retry, so receivers can drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import define, field
from tradekernel import __version__
from tradekernel.api import (
    DeliveryResult,
    Notification,
    RetryPolicy,
    config_error,
    post,
    require_http_url,
    require_secret,
)

SCHEMA = "notification.v1"
TIMESTAMP_HEADER = "X-Tradekernel-Timestamp"
SIGNATURE_HEADER = "X-Tradekernel-Signature"
DELIVERY_HEADER = "X-Tradekernel-Delivery"
RESERVED_HEADERS = frozenset(
    h.lower() for h in (TIMESTAMP_HEADER, SIGNATURE_HEADER, DELIVERY_HEADER, "Content-Type")
)


@define
class WebhookConfig:
    """``[notifier.webhook]``: ``url`` or ``url_env`` (exactly one)."""

    url: str | None = None
    url_env: str | None = None
    """Environment variable holding the URL (use it when the URL carries a token)."""
    secret_env: str | None = None
    """Environment variable holding the HMAC shared secret; unset = unsigned requests."""
    headers: dict[str, str] = field(factory=dict)
    """Extra request headers (``Authorization`` etc.); the X-Tradekernel-* ones are reserved."""


def build_payload(
    notification: Notification, *, delivery_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """The ``notification.v1`` document."""
    return {
        "schema": SCHEMA,
        "id": delivery_id,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "severity": notification.severity,
        "fields": dict(notification.fields),
        "dedup_key": notification.dedup_key,
        "ts": (now or datetime.now(UTC)).isoformat(),
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> bool:
    """For receivers: ``True`` when ``signature`` matches and ``timestamp`` is within
    ``tolerance`` seconds of ``now`` (older or future-dated requests are replays)."""
    if not timestamp or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False  # headers are untrusted input: anything odd is simply not valid
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


class WebhookNotifier:
    """Sends each notification with bounded retry; never raises."""

    def __init__(
        self,
        url: str,
        policy: RetryPolicy,
        *,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        redact: Any = lambda s: s,
    ) -> None:
        self._url = url
        self._secret = secret
        self._headers = dict(headers or {})
        self._policy = policy
        self._redact = redact
        import httpx  # imported when a notifier is built, not when the plugin registers

        self._client = httpx.Client(follow_redirects=False)

    @classmethod
    def from_config(cls, config: WebhookConfig, ctx: Any) -> WebhookNotifier:
        """The factory: resolves the URL and the signing secret from the environment."""
        if (config.url is None) == (config.url_env is None):
            raise config_error(ctx, "webhook", "url", "set exactly one of url and url_env")
        if config.url_env is not None:
            url = require_secret(ctx, "webhook", "url_env", config.url_env)
        else:
            url = config.url or ""
        require_http_url(ctx, "webhook", "url_env" if config.url_env else "url", url)
        secret = None
        if config.secret_env is not None:
            secret = require_secret(ctx, "webhook", "secret_env", config.secret_env)
        for name in config.headers:
            if name.lower() in RESERVED_HEADERS:
                raise config_error(ctx, "webhook", "headers", f"{name} is set by the notifier")
        return cls(
            url,
            RetryPolicy.from_settings(ctx.settings),
            secret=secret,
            headers=config.headers,
            redact=ctx.settings.redact,
        )

    def __repr__(self) -> str:  # never show the URL or the secret
        return f"WebhookNotifier(url=********, signed={self._secret is not None})"

    def send(self, notification: Notification) -> DeliveryResult:
        delivery_id = uuid.uuid4().hex
        try:
            body = json.dumps(
                build_payload(notification, delivery_id=delivery_id), default=str
            ).encode()
        except Exception as exc:
            return DeliveryResult(
                ok=False, status="failed", attempts=0, error=f"bad payload: {type(exc).__name__}"
            )

        def headers() -> dict[str, str]:
            timestamp = str(int(time.time()))
            out = {
                "User-Agent": f"tradekernel/{__version__}",
                **self._headers,
                DELIVERY_HEADER: delivery_id,
                TIMESTAMP_HEADER: timestamp,
            }
            if self._secret is not None:
                out[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
            return out

        return post(
            self._url,
            body,
            policy=self._policy,
            headers=headers,
            client=self._client,
            redact=self._redact,
        )

    def close(self) -> None:
        self._client.close()
