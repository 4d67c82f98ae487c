"""Post notifications to a Slack incoming webhook as a Block Kit message.

Slack answers ``200 ok`` on success; ``400 invalid_payload``, ``403 invalid_token`` /
``action_prohibited``, ``404 no_service`` / ``channel_not_found`` and ``410
channel_is_archived`` are final; ``429`` (with ``Retry-After``) and ``5xx`` are retried
by :func:`tradekernel.api.post`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from attrs import define
from tradekernel.api import (
    DeliveryResult,
    Notification,
    RetryPolicy,
    inert,
    post,
    require_http_url,
    require_secret,
)

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
FALLBACK_MAX = 3000
COMMAND_FIELDS = ("approve_cmd", "reject_cmd")
"""Already in the body as ready-to-paste commands."""
SEVERITY_ICONS = {
    "debug": ":grey_question:",
    "info": ":information_source:",
    "warning": ":warning:",
    "error": ":x:",
    "critical": ":rotating_light:",
}


@define
class SlackConfig:
    """``[notifier.slack]``."""

    webhook_url_env: str = "SLACK_WEBHOOK_URL"
    """Environment variable holding the incoming-webhook URL (the URL is a secret)."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _value(value: Any) -> str:
    """A field value as inert text (the title and body are inert already)."""
    if isinstance(value, str):
        return inert(value)
    return json.dumps(value, default=str)


def build_payload(notification: Notification, *, now: datetime | None = None) -> dict[str, Any]:
    """The webhook payload: a header, a section with the body and up to ten fields, a
    context line (severity, kind, time), and a plain-text ``text`` fallback."""
    ts = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    icon = SEVERITY_ICONS.get(notification.severity, ":information_source:")
    fields = [
        {
            "type": "mrkdwn",
            "text": _clip(f"*{_escape(inert(k))}*\n{_escape(_value(v))}", FIELD_TEXT_MAX),
        }
        for k, v in notification.fields.items()
        if k not in COMMAND_FIELDS and v not in (None, "")
    ][:MAX_FIELDS]
    section: dict[str, Any] = {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": _clip(_escape(notification.body) or " ", SECTION_TEXT_MAX),
        },
    }
    if fields:
        section["fields"] = fields
    return {
        "text": _clip(
            f"[{notification.severity.upper()}] {notification.title}\n{notification.body}",
            FALLBACK_MAX,
        ),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(notification.title, HEADER_MAX)},
            },
            section,
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{icon} *{notification.severity.upper()}* · "
                        f"`{_escape(notification.kind)}` · {ts}",
                    }
                ],
            },
        ],
    }


class SlackNotifier:
    """Sends each notification with bounded retry; never raises."""

    def __init__(self, url: str, policy: RetryPolicy, *, redact: Any = lambda s: s) -> None:
        self._url = url
        self._policy = policy
        self._redact = redact
        import httpx  # imported when a notifier is built, not when the plugin registers

        self._client = httpx.Client(follow_redirects=False)

    @classmethod
    def from_config(cls, config: SlackConfig, ctx: Any) -> SlackNotifier:
        """The factory: reads the webhook URL from ``config.webhook_url_env``."""
        url = require_secret(ctx, "slack", "webhook_url_env", config.webhook_url_env)
        require_http_url(ctx, "slack", "webhook_url_env", url)
        return cls(url, RetryPolicy.from_settings(ctx.settings), redact=ctx.settings.redact)

    def __repr__(self) -> str:  # never show the URL
        return "SlackNotifier(url=********)"

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            content = json.dumps(build_payload(notification)).encode()
        except Exception as exc:
            return DeliveryResult(
                ok=False, status="failed", attempts=0, error=f"bad payload: {type(exc).__name__}"
            )
        return post(
            self._url,
            content,
            policy=self._policy,
            client=self._client,
            success=lambda response: response.text.strip() == "ok",
            redact=self._redact,
        )

    def close(self) -> None:
        self._client.close()
