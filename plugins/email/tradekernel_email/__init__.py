"""tradekernel-email: the ``email`` notifier (SMTP with STARTTLS, SSL or plain)."""

from __future__ import annotations

from tradekernel import hookimpl

from .notifier import EmailConfig, EmailNotifier, build_message

__all__ = ["EmailConfig", "EmailNotifier", "build_message"]


@hookimpl
def register_notifiers(register):
    register(
        "email",
        EmailNotifier.from_config,
        config=EmailConfig,
        version="1",
        description="E-mail over SMTP (STARTTLS, SSL or plain)",
    )
