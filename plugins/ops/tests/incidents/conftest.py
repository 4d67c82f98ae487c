"""Fixtures: the local Slack and webhook receivers and SMTP server the notifier tests
use, settings whose escalation chain goes slack -> email -> webhook, and a clock."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from tradekernel.api import Kernel, Settings
from tradekernel.testing import HTTPReceiver

CHAIN = """
[incidents]
escalation = [
  {notify = "slack", after = "0m"},
  {notify = "email", after = "10m"},
  {notify = "webhook", after = "20m"},
]
reduce_after = "15m"
"""


class Inbox:
    """aiosmtpd handler keeping every accepted message."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 Message accepted for delivery"


class Clock:
    """An injectable clock: ``clock()`` is the time, ``clock.advance(minutes=10)``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Servers:
    def __init__(self, slack: HTTPReceiver, hook: HTTPReceiver, smtp: Controller, inbox: Inbox):
        self.slack, self.hook, self.smtp, self.inbox = slack, hook, smtp, inbox

    def counts(self) -> tuple[int, int, int]:
        """Deliveries received: (slack, email, webhook)."""
        return len(self.slack.requests), len(self.inbox.messages), len(self.hook.requests)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def servers():
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        with HTTPReceiver() as slack, HTTPReceiver() as hook:
            yield Servers(slack, hook, smtp, inbox)
    finally:
        smtp.stop()


@pytest.fixture
def config(tmp_path: Path, servers: Servers):
    """``config(extra=CHAIN)``: ``(path, environ)`` of a plugins.toml selecting the three
    notifiers, pointed at the local servers, with ``extra`` appended."""

    def write(extra: str = CHAIN) -> tuple[Path, dict[str, str]]:
        path = tmp_path / "plugins.toml"
        path.write_text(
            f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
            '[components]\nnotifiers = ["slack", "email", "webhook"]\nmetrics_sinks = []\n'
            '[notify]\ntimeout = "5s"\nroutes = []\n'
            'retry = { max_attempts = 2, backoff_base = "1ms", backoff_max = "5ms" }\n'
            '[notifier.webhook]\nurl_env = "HOOK_URL"\n'
            f'[notifier.email]\nhost = "127.0.0.1"\nport = {servers.smtp.port}\n'
            'security = "none"\nsender = "bot@example.test"\nto = ["oncall@example.test"]\n'
            + extra,
            encoding="utf-8",
        )
        environ = {"SLACK_WEBHOOK_URL": servers.slack.url, "HOOK_URL": servers.hook.url}
        return path, environ

    return write


@pytest.fixture
def make_kernel(config):
    """``make_kernel(extra=CHAIN)``: a kernel on :func:`config` (closed at the end)."""
    kernels: list[Kernel] = []

    def make(extra: str = CHAIN) -> Kernel:
        path, environ = config(extra)
        kernel = Kernel(Settings.load(path, environ=environ))
        kernels.append(kernel)
        return kernel

    yield make
    for kernel in kernels:
        kernel.close()
