"""``[broker.alpaca]`` (and ``[market_data.alpaca]``): the Alpaca plugin's configuration.

Validation errors are one line naming the key; the factory prefixes the section and the
file the value came from (``ctx.config_error``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from attrs import define, field

PAPER_URL = "https://paper-api.alpaca.markets"
"""The paper trading API (the default)."""
LIVE_URL = "https://api.alpaca.markets"
"""The live (real money) trading API: accepted only in ``[kernel] mode = "live"``."""
DATA_URL = "https://data.alpaca.markets"
"""The market data API (v2)."""

LIVE_HOSTS = frozenset({"api.alpaca.markets"})
"""Hosts whose orders move real money."""
PAPER_HOSTS = frozenset({"paper-api.alpaca.markets"})
"""The paper trading host."""
DATA_HOSTS = frozenset({"data.alpaca.markets", "data.sandbox.alpaca.markets"})
"""Alpaca's market data hosts."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
"""This machine: a local double."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def _env_name(_inst: object, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError(f"{attribute.name}: expected an environment variable name, got {value!r}")


def normal_host(url: str) -> str:
    """The host ``url`` really reaches, compared as a name: IDNA-encoded (Unicode full
    stops are dots), lower case, without a trailing dot; port and userinfo not part of it.
    :class:`ValueError` when there is no valid host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 -- a malformed port raises here
        ascii_host = host.encode("idna").decode("ascii") if host else ""
    except (UnicodeError, ValueError):
        raise ValueError(f"not a valid host name in {url!r}") from None
    ascii_host = ascii_host.lower().rstrip(".")
    if not ascii_host:
        raise ValueError(f"no host in {url!r}")
    return ascii_host


def _url_check(allowed: frozenset[str], what: str):
    """A validator: a bare http(s) URL (no path, credentials, query or #) whose
    normalised host is one of ``allowed`` or loopback."""

    def check(_inst: object, attribute: Any, value: str) -> None:
        name = attribute.name
        if not isinstance(value, str) or any(ord(c) < 33 or c == "\\" for c in value):
            raise ValueError(f"{name}: expected an http(s) URL, got {value!r}")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{name}: expected an http(s) URL, got {value!r}")
        if "@" in parts.netloc or parts.query or parts.fragment or "?" in value or "#" in value:
            raise ValueError(f"{name}: expected a bare URL (no credentials, query or #)")
        host = normal_host(value)
        if parts.path not in ("", "/"):
            bare = f"{parts.scheme}://{parts.netloc}"
            raise ValueError(
                f"{name}: write the URL without a path ({bare!r}, not {value!r}): "
                "the plugin adds /v2/... itself"
            )
        if host not in allowed and host not in LOOPBACK_HOSTS:
            hosts = ", ".join(sorted(allowed))
            raise ValueError(
                f"{name}: {host!r} is not {what} ({hosts}) nor a local double "
                "(127.0.0.1, ::1, localhost): the credentials are sent only there"
            )
        if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
            raise ValueError(f"{name}: plain http is only for a local double, got {value!r}")

    return check


def _positive_number(_inst: object, attribute: Any, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise ValueError(f"{attribute.name}: expected a positive number, got {value!r}")


def _positive_int(maximum: int):
    def check(_inst: object, attribute: Any, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            raise ValueError(f"{attribute.name}: expected a whole number 1..{maximum}: {value!r}")

    return check


def _fraction(_inst: object, attribute: Any, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{attribute.name}: expected a number from 0 to 1, got {value!r}")


@define(kw_only=True)
class AlpacaConfig:
    """``[broker.alpaca]``: credentials (by environment variable name), endpoints, timeouts,
    the client-side rate limit and the read-retry policy."""

    key_id_env: str = field(default="APCA_API_KEY_ID", validator=_env_name)
    """The environment variable holding the API key id (sent as ``APCA-API-KEY-ID``)."""
    secret_key_env: str = field(default="APCA_API_SECRET_KEY", validator=_env_name)
    """The environment variable holding the secret key (sent as ``APCA-API-SECRET-KEY``)."""
    base_url: str = field(
        default=PAPER_URL, validator=_url_check(PAPER_HOSTS | LIVE_HOSTS, "an Alpaca trading host")
    )
    """The trading API, without a path: the paper host, or in acknowledged live mode
    only the live host; a local double (``http://127.0.0.1:<port>``) in paper/shadow
    mode. Any other host is refused (the credentials are sent only to Alpaca)."""
    data_url: str = field(
        default=DATA_URL, validator=_url_check(DATA_HOSTS, "an Alpaca market data host")
    )
    """The market data API, without a path: Alpaca's data host or a local double."""
    connect_timeout: float = field(default=5.0, validator=_positive_number)
    """Seconds to establish a connection."""
    read_timeout: float = field(default=10.0, validator=_positive_number)
    """Seconds to wait for an answer. A submit that times out is an unknown outcome,
    resolved by a lookup, never resent."""
    rate_limit_per_minute: int = field(default=200, validator=_positive_int(10_000))
    """Requests per minute for the whole process (trading and data share it): Alpaca
    allows 200 per account."""
    max_read_attempts: int = field(default=4, validator=_positive_int(10))
    """Tries of a read (lookup, list, account, positions, bars) on 429, 5xx or a
    transport error, the first included. A submit is tried once."""
    max_read_time: float = field(default=30.0, validator=_positive_number)
    """The longest a read may take in seconds, its retries and waits included: a retry
    whose wait would pass it fails the read at once (:class:`AlpacaUnavailable`), so
    no read blocks a cycle for minutes."""
    backoff_base: float = field(default=0.5, validator=_positive_number)
    """First backoff between read attempts in seconds (doubling, with jitter) when the
    venue gives no ``Retry-After`` / ``X-Ratelimit-Reset``."""
    backoff_max: float = field(default=8.0, validator=_positive_number)
    """The longest backoff between read attempts without a venue hint."""
    max_retry_wait: float = field(default=60.0, validator=_positive_number)
    """The longest wait a venue's ``Retry-After`` / reset hint may impose; a longer one
    fails the read at once rather than stalling the cycle."""
    rate_limit_warn_below: float = field(default=0.2, validator=_fraction)
    """A ``broker.rate_limit`` event is emitted when the remaining budget the venue
    reports falls below this share of its limit (and on every 429)."""
    max_fill_pages: int = field(default=20, validator=_positive_int(1000))
    """Pages (100 activities each) read per ``fills`` call at most."""

    @property
    def live_url(self) -> bool:
        """Whether ``base_url`` is Alpaca's live (real money) trading API."""
        return normal_host(self.base_url) in LIVE_HOSTS


def is_local(url: str) -> bool:
    """Whether ``url`` points at this machine (a double), not at Alpaca."""
    try:
        return normal_host(url) in LOOPBACK_HOSTS
    except ValueError:
        return False
