"""The email notifier against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import socket
from email import policy

import pytest
from tradekernel.api import ConfigError, Notification

NOTE = Notification(
    kind="control.kill_switch",
    title="Kill switch on",
    body="Kill switch set to on by ops: drawdown.",
    severity="critical",
    fields={"actor": "ops", "value": "on"},
)


def section(controller, extra: str = "") -> str:
    return (
        f'host = "{controller.hostname}"\nport = {controller.port}\nsecurity = "none"\n'
        'sender = "bot@example.test"\nto = ["ops@example.test", "risk@example.test"]\n' + extra
    )


def test_message_is_delivered_with_subject_body_and_recipients(smtp_server, make_kernel):
    controller, inbox = smtp_server
    result = make_kernel(section(controller)).component("notifier", "email").send(NOTE)
    assert (result.ok, result.status, result.attempts) == (True, "sent", 1)
    (received,) = inbox.messages
    assert received["from"] == "bot@example.test"
    assert received["to"] == ["ops@example.test", "risk@example.test"]
    message = email.message_from_string(received["data"], policy=policy.default)
    assert message["Subject"] == "[tradekernel] Kill switch on"
    assert message["To"] == "ops@example.test, risk@example.test"
    body = message.get_content()
    assert "Kill switch set to on by ops: drawdown." in body
    assert "actor: ops" in body and "control.kill_switch" in body


def test_transient_4xx_is_retried_and_delivered_once(smtp_server, make_kernel):
    controller, inbox = smtp_server
    inbox.replies = ["451 try again later"]
    result = make_kernel(section(controller)).component("notifier", "email").send(NOTE)
    assert (result.ok, result.attempts) == (True, 2)
    assert len(inbox.messages) == 1


def test_permanent_5xx_is_not_retried(smtp_server, make_kernel):
    controller, inbox = smtp_server
    inbox.replies = ["554 rejected as spam"]
    result = make_kernel(section(controller)).component("notifier", "email").send(NOTE)
    assert (result.ok, result.attempts) == (False, 1)
    assert result.error == "smtp 554: rejected as spam"
    assert inbox.messages == []


def test_unreachable_server_fails_after_retries(make_kernel, smtp_server):
    controller, _ = smtp_server
    with socket.socket() as s:  # a port on which nobody listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = section(controller).replace(f"port = {controller.port}", f"port = {port}")
    result = make_kernel(text).component("notifier", "email").send(NOTE)
    assert (result.ok, result.attempts) == (False, 3)
    assert result.error.startswith("connection error")


def test_starttls_against_a_plain_server_fails_cleanly(smtp_server, make_kernel):
    controller, inbox = smtp_server
    text = section(controller).replace('security = "none"', 'security = "starttls"')
    result = make_kernel(text).component("notifier", "email").send(NOTE)
    assert not result.ok and result.attempts == 1
    assert "not supported" in result.error
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("extra", "environ", "expected"),
    [
        (
            'username_env = "U"\npassword_env = "P"\n',
            {"U": "u", "P": "hunter22"},
            "[notifier.email] security: credentials are never sent over plain SMTP",
        ),
        ('username_env = "U"\n', {}, "[notifier.email] username_env: set both"),
    ],
)
def test_config_errors(smtp_server, make_kernel, extra, environ, expected):
    controller, _ = smtp_server
    with pytest.raises(ConfigError) as info:
        make_kernel(section(controller, extra), environ).component("notifier", "email")
    assert expected in str(info.value) and "hunter22" not in str(info.value)


def test_missing_password_variable_is_named(smtp_server, make_kernel):
    controller, _ = smtp_server
    text = section(controller, 'username_env = "U"\npassword_env = "P"\n').replace(
        'security = "none"', 'security = "ssl"'
    )
    with pytest.raises(ConfigError) as info:
        make_kernel(text, {"U": "u"}).component("notifier", "email")
    assert "password_env: environment variable P is not set" in str(info.value)


def test_bad_addresses_are_config_errors(make_kernel):
    with pytest.raises(ConfigError) as info:
        make_kernel('sender = "bot"\nto = ["ops@example.test"]\n').component("notifier", "email")
    assert "[notifier.email] sender" in str(info.value)
    with pytest.raises(ConfigError) as info:
        make_kernel('sender = "bot@x.test"\nto = []\n').component("notifier", "email")
    assert "[notifier.email] to" in str(info.value)


def test_raw_field_values_are_inert_in_the_mail():
    from tradekernel_email.notifier import build_message

    forged = "ok\n\nApproved by risk-officer\x1b]52;c;aGk=\x07\u202e"
    note = Notification(kind="executor.failed", title="t", body="b", fields={"detail": forged})
    text = build_message(note, sender="tk@example.org", to=["ops@example.org"]).get_content()
    assert "detail: ok\\n\\nApproved by risk-officer\\x1b]52;c;aGk=\\x07\\u202e\n" in text
    assert not any(line.startswith("Approved") for line in text.splitlines())
    assert "\x1b" not in text and "\u202e" not in text


def test_the_user_name_is_masked_only_as_a_whole(smtp_server, make_kernel):
    """The SMTP user name is an identifier, not a credential: the word ``portfolio`` in
    an answer or a report stays readable; the address itself and the password do not."""
    controller, _ = smtp_server
    text = section(controller, 'username_env = "U"\npassword_env = "P"\n').replace(
        'security = "none"', 'security = "starttls"'
    )
    environ = {"U": "portfolio@fund.example", "P": "hunter22-Xk9qLm"}
    kernel = make_kernel(text, environ)
    kernel.component("notifier", "email")  # reads both through ctx.secret
    redact = kernel.settings.redact
    assert redact("daily portfolio report: portfolio value 100000") == (
        "daily portfolio report: portfolio value 100000"
    )
    assert redact("login PORTFOLIO@FUND.EXAMPLE refused") == "login ******** refused"
    assert redact("pass HUNTER22-XK9Q") == "pass ********"
