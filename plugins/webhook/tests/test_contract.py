"""The webhook notifier runs the notifier contract of tradekernel.testing against a
closed port: every delivery fails, and no failure carries the URL token or the HMAC
secret."""

from __future__ import annotations

import socket

from tradekernel.testing import NotifierContract


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestWebhookContract(NotifierContract):
    component_name = "webhook"
    config = 'url_env = "HOOK_URL"\nsecret_env = "HOOK_SECRET"'
    extra_config = (
        '[notify]\ntimeout = "5s"\nretry = { max_attempts = 2, backoff_base = "1ms", '
        'backoff_max = "2ms", retry_after_cap = "1s" }\n'
    )
    environ = {
        "HOOK_URL": f"http://127.0.0.1:{_closed_port()}/hook/uRlToKeN42",
        "HOOK_SECRET": "hMaCsEcReT42",
    }
    secrets = ("uRlToKeN42", "hMaCsEcReT42")

    def failing_notifier(self, factory):
        # the contract's own configuration already points at a closed port
        return self.build(factory)
