"""Fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1 and a kernel pointing at it."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from tradekernel.api import Kernel, Settings


class Inbox:
    """aiosmtpd handler: stores each accepted message; can answer 4xx/5xx first."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.replies: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf-8", "replace"),
            }
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def make_kernel(tmp_path):
    kernels = []

    def make(section: str, environ: dict | None = None) -> Kernel:
        config = tmp_path / "plugins.toml"
        config.write_text(
            f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
            '[components]\nnotifiers = ["email"]\nmetrics_sinks = []\n'
            '[notify]\nretry = { max_attempts = 3, backoff_base = "1ms", backoff_max = "5ms" }\n'
            "[notifier.email]\n" + section,
            encoding="utf-8",
        )
        kernel = Kernel(Settings.load(config, environ=environ or {}))
        kernels.append(kernel)
        return kernel

    yield make
    for kernel in kernels:
        kernel.close()
