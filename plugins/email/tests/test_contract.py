"""The email notifier runs the notifier contract of tradekernel.testing against a closed
port: every delivery fails, and no failure carries the SMTP password."""

from __future__ import annotations

import socket

from tradekernel.testing import NotifierContract


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestEmailContract(NotifierContract):
    component_name = "email"
    config = (
        f'host = "127.0.0.1"\nport = {_closed_port()}\nsecurity = "starttls"\n'
        'sender = "agent@example.invalid"\nto = ["ops@example.invalid"]\n'
        'username_env = "SMTP_USER"\npassword_env = "SMTP_PASSWORD"'
    )
    extra_config = (
        '[notify]\ntimeout = "5s"\nretry = { max_attempts = 2, backoff_base = "1ms", '
        'backoff_max = "2ms", retry_after_cap = "1s" }\n'
    )
    environ = {"SMTP_USER": "agent", "SMTP_PASSWORD": "pAsSwOrD-77"}
    secrets = ("pAsSwOrD-77",)

    def failing_notifier(self, factory):
        # the contract's own configuration already points at a closed port
        return self.build(factory)
