"""The secrets in a store's server address, found and masked in one place.

A libpq address is a URL (``postgresql://user:PASSWORD@host/db?sslpassword=...``) or a
``key=value`` connection string (``host=db password='...'``). Its secrets are the
userinfo password and the value of every key in :data:`LIBPQ_SECRET_KEYS`, wherever
they appear, percent-encoded or not. Settings registers them with the redactor; the
postgres store masks them in every message it writes (``mask_store_url``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus, urlsplit

MASK = "********"
LIBPQ_SECRET_KEYS = ("options", "password", "sslpassword")
"""libpq parameters whose value is a secret: the password, the client key's passphrase
and ``options`` (server settings passed at connect, which may carry anything)."""

_CONNINFO = re.compile(r"""(\w+)\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s']*)""")


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text))


def _decoded(raw: str) -> list[str]:
    return [v for v in {raw, unquote(raw), unquote_plus(raw)} if v]


def store_url_secrets(url: str | None, keys: tuple[str, ...] = LIBPQ_SECRET_KEYS) -> list[str]:
    """Every secret written in ``url`` (raw, percent-decoded and ``+``-decoded forms),
    longest first; ``[]`` for ``None`` or an address without one. ``keys``: only those
    parameters' values (the userinfo password counts as ``password``)."""
    if not url:
        return []
    found: set[str] = set()
    if _is_url(url) and "password" in keys:
        scheme_rest = url.split("://", 1)[1]
        netloc = re.split(r"[/?#]", scheme_rest, maxsplit=1)[0]
        if "@" in netloc:
            userinfo = netloc.rsplit("@", 1)[0]
            if ":" in userinfo:
                user, password = userinfo.split(":", 1)
                found.update(_decoded(password))
                found.update(f"{u}:{p}" for u in _decoded(user) for p in _decoded(password))
    if _is_url(url):
        query = url.split("?", 1)[1].split("#", 1)[0] if "?" in url else ""
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if unquote_plus(key).strip().lower() in keys:
                found.update(_decoded(value))
    else:
        for key, value in _CONNINFO.findall(url):
            if key.lower() in keys:
                inner = value[1:-1] if value.startswith("'") and value.endswith("'") else value
                inner = inner.lstrip("'")
                found.update(v for v in {value, inner, re.sub(r"\\(.)", r"\1", inner)} if v)
    return sorted(found, key=len, reverse=True)


def mask_store_url(url: str) -> str:
    """``url`` with every secret masked (for messages: what errors name the server by)."""
    if _is_url(url):
        try:
            urlsplit(url)
        except ValueError:
            return "the [store] url"
        scheme, rest = url.split("://", 1)
        cut = re.search(r"[/?#]", rest)
        netloc, tail = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
        if "?" in tail:
            path, query = tail.split("?", 1)
            query, hash_, fragment = query.partition("#")
            pairs = []
            for pair in query.split("&"):
                key, eq, _ = pair.partition("=")
                secret = unquote_plus(key).strip().lower() in LIBPQ_SECRET_KEYS
                pairs.append(f"{key}={MASK}" if secret and eq else pair)
            tail = f"{path}?{'&'.join(pairs)}{hash_}{fragment}"
        masked = f"{scheme}://{netloc}{tail}"
    else:
        masked = _CONNINFO.sub(
            lambda m: f"{m.group(1)}={MASK}" if m.group(1).lower() in LIBPQ_SECRET_KEYS else m[0],
            url,
        )
    return scrub(masked, store_url_secrets(url))


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` (longest first) replaced by the mask."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
