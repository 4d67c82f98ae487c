"""Send each notification as a plain-text e-mail over SMTP (smtplib).

Transient failures (connection errors, timeouts, 4xx SMTP replies) are retried with the
kernel's bounded retry (:func:`tradekernel.api.deliver`); 5xx replies (bad
recipient, authentication failure) are final.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from attrs import define, field
from tradekernel.api import DeliveryAttempt as Attempt
from tradekernel.api import (
    DeliveryResult,
    Notification,
    RetryPolicy,
    config_error,
    deliver,
    inert,
    require_secret,
)

if TYPE_CHECKING:  # smtplib and email are imported on the first message, not at registration
    from email.message import EmailMessage

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def _address(_inst: Any, attribute: Any, value: str) -> None:
    if "@" not in value or any(c.isspace() for c in value):
        raise ValueError(f"{attribute.name}: expected an e-mail address, got {value!r}")


def _addresses(_inst: Any, attribute: Any, value: list[str]) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: needs at least one recipient")
    for address in value:
        _address(_inst, attribute, address)


@define
class EmailConfig:
    """``[notifier.email]``."""

    sender: str = field(validator=_address)
    """The From address."""
    to: list[str] = field(validator=_addresses)
    host: str = "localhost"
    port: int | None = None
    """Default: 587 for starttls, 465 for ssl, 25 for none."""
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    subject_prefix: str = "[tradekernel] "


def build_message(
    notification: Notification, *, sender: str, to: list[str], subject_prefix: str = ""
) -> EmailMessage:
    """The e-mail: subject from the title, the body, then the fields one per line."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message = EmailMessage()
    message["Subject"] = (subject_prefix + notification.title).replace("\n", " ")
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    lines = [notification.body, ""]
    # The body is inert already (``tradekernel_notify.render``); the raw field values are
    # made inert here, so outside text cannot forge lines in the mail.
    lines += [f"{inert(key)}: {inert(value)}" for key, value in notification.fields.items()]
    lines += ["", f"-- tradekernel · {notification.kind} · {notification.severity}"]
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailNotifier:
    """Sends each notification with bounded retry; never raises."""

    def __init__(
        self,
        config: EmailConfig,
        policy: RetryPolicy,
        *,
        username: str | None = None,
        password: str | None = None,
        redact: Any = lambda s: s,
    ) -> None:
        self.config = config
        self._port = config.port or DEFAULT_PORTS[config.security]
        self._username = username
        self._password = password
        self._policy = policy
        self._redact = redact

    @classmethod
    def from_config(cls, config: EmailConfig, ctx: Any) -> EmailNotifier:
        """The factory: reads the credentials from the variables the config names."""
        if (config.username_env is None) != (config.password_env is None):
            raise config_error(
                ctx, "email", "username_env", "set both username_env and password_env, or neither"
            )
        username = password = None
        if config.username_env and config.password_env:
            if config.security == "none":
                raise config_error(
                    ctx,
                    "email",
                    "security",
                    "credentials are never sent over plain SMTP: use starttls or ssl",
                )
            username = require_secret(
                ctx, "email", "username_env", config.username_env, partial=False
            )
            password = require_secret(ctx, "email", "password_env", config.password_env)
        return cls(
            config,
            RetryPolicy.from_settings(ctx.settings),
            username=username,
            password=password,
            redact=ctx.settings.redact,
        )

    def __repr__(self) -> str:
        return f"EmailNotifier(host={self.config.host!r}, port={self._port})"

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            message = build_message(
                notification,
                sender=self.config.sender,
                to=self.config.to,
                subject_prefix=self.config.subject_prefix,
            )
        except Exception as exc:
            return DeliveryResult(
                ok=False, status="failed", attempts=0, error=f"bad message: {type(exc).__name__}"
            )
        return deliver(lambda remaining: self._attempt(message, remaining), self._policy)

    def _attempt(self, message: EmailMessage, remaining: float) -> Attempt:
        import smtplib
        import ssl

        cfg = self.config
        try:
            if cfg.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, self._port, timeout=remaining, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(cfg.host, self._port, timeout=remaining)
            with smtp:
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self._username and self._password:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            return Attempt(
                ok=False,
                transient=all(400 <= c < 500 for c in codes),
                error=f"recipients refused (smtp {', '.join(map(str, codes))})",
            )
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            return Attempt(
                ok=False,
                transient=400 <= exc.smtp_code < 500,
                error=self._redact(f"smtp {exc.smtp_code}: {' '.join(text.split())[:200]}"),
            )
        except smtplib.SMTPNotSupportedError as exc:
            return Attempt(ok=False, error=f"not supported by the server: {exc}")
        except ssl.SSLError as exc:
            return Attempt(ok=False, error=f"tls error ({type(exc).__name__})")
        except TimeoutError:
            return Attempt(ok=False, transient=True, error="timeout")
        except (smtplib.SMTPException, OSError) as exc:
            return Attempt(
                ok=False, transient=True, error=f"connection error ({type(exc).__name__})"
            )
        return Attempt(ok=True)
