"""Credential-bearing URLs: a URL that carries a secret in itself (a password in its
userinfo, a ``?token=`` style query parameter, a chat webhook whose path is the key).

A release is stored on disk and printed by ``release diff``, so such a URL is refused
like an inline secret (it belongs in the environment, named by a ``*_env`` key), and
masked wherever a stored release is shown.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")

SECRET_PARAMETERS = frozenset(
    {
        "token",
        "accesstoken",
        "apitoken",
        "authtoken",
        "key",
        "apikey",
        "secret",
        "clientsecret",
        "sig",
        "signature",
        "password",
        "passwd",
        "pwd",
        "auth",
    }
)
"""Query parameter names (lower case, without ``-`` and ``_``) whose value is a secret."""

WEBHOOKS = (
    ("hooks.slack.com", "/services/"),
    ("hooks.slack.com", "/workflows/"),
    ("hooks.slack.com", "/triggers/"),
    ("discord.com", "/api/webhooks/"),
    ("discordapp.com", "/api/webhooks/"),
    ("outlook.office.com", "/webhook"),
    (".webhook.office.com", "/"),
    ("hooks.zapier.com", "/hooks/"),
    ("api.telegram.org", "/bot"),
    ("chat.googleapis.com", "/v1/spaces/"),
)
"""(host or ``.suffix``, path prefix) of webhooks whose URL is their key."""


def why_secret(url: str) -> str | None:
    """Why ``url`` carries a credential (``None``: it does not)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        password = parts.password
    except ValueError:
        return None
    if password:
        return "a password in its userinfo (user:password@)"
    for name, _ in parse_qsl(parts.query, keep_blank_values=False):
        if name.lower().replace("-", "").replace("_", "") in SECRET_PARAMETERS:
            return f"a query parameter {name[:20]!r}"
    for where, prefix in WEBHOOKS:
        matches = host.endswith(where) if where.startswith(".") else host == where
        if matches and parts.path.startswith(prefix):
            return f"a {host} webhook (its URL is its key)"
    return None


def credential_urls(text: str) -> list[tuple[int, str]]:
    """``(line number, why)`` of each credential-bearing URL in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in URL.finditer(line):
            why = why_secret(match.group(0))
            if why is not None:
                found.append((number, why))
    return found


def mask_credential_urls(text: str) -> str:
    """``text`` with each credential-bearing URL replaced by its scheme and host."""

    def mask(match: re.Match[str]) -> str:
        url = match.group(0)
        if why_secret(url) is None:
            return url
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        return f"{url.split(':', 1)[0]}://{host}/[credential URL masked]"

    return URL.sub(mask, text)
