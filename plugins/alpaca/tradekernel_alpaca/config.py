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

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(_inst: object, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError(f"{attribute.name}: expected an environment variable name, got {value!r}")


def _http_url(_inst: object, attribute: Any, value: str) -> None:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{attribute.name}: expected an http(s) URL, got {value!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{attribute.name}: expected a bare URL (no credentials, query or #)")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"{attribute.name}: plain http is only for a local double, got {value!r}")


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
    base_url: str = field(default=PAPER_URL, validator=_http_url)
    """The trading API. The live URL is refused unless ``[kernel] mode = "live"`` is
    acknowledged; a local double (``http://127.0.0.1:<port>``) is accepted for tests."""
    data_url: str = field(default=DATA_URL, validator=_http_url)
    """The market data API."""
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
        return (urlsplit(self.base_url).hostname or "").lower() in LIVE_HOSTS


def is_local(url: str) -> bool:
    """Whether ``url`` points at this machine (a double), not at Alpaca."""
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")
