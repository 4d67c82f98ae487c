"""tradekernel-slack: the ``slack`` notifier (Slack incoming webhooks, Block Kit)."""

from __future__ import annotations

from tradekernel import hookimpl

from .notifier import SlackConfig, SlackNotifier, build_payload

__all__ = ["SlackConfig", "SlackNotifier", "build_payload"]


@hookimpl
def register_notifiers(register):
    register(
        "slack",
        SlackNotifier.from_config,
        config=SlackConfig,
        version="1",
        description="Slack incoming webhook with a Block Kit message",
    )
