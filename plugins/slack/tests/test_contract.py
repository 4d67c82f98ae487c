"""The slack notifier runs the notifier contract of tradekernel.testing against a closed
port: every delivery fails, and no failure carries the webhook URL (the secret)."""

from __future__ import annotations

import socket

from tradekernel.testing import NotifierContract


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAST_RETRY = (
    '[notify]\ntimeout = "5s"\nretry = { max_attempts = 2, backoff_base = "1ms", '
    'backoff_max = "2ms", retry_after_cap = "1s" }\n'
)


class TestSlackContract(NotifierContract):
    component_name = "slack"
    extra_config = FAST_RETRY
    environ = {
        "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{_closed_port()}/services/T0/B0/sEcReTtOkEn9"
    }
    secrets = ("sEcReTtOkEn9",)

    def failing_notifier(self, factory):
        # the contract's own configuration already points at a closed port
        return self.build(factory)
