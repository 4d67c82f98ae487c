"""The ccxt exchange object and the error policy around it.

``import ccxt`` happens here, in :func:`new_exchange`, when a component is built: never
when the plugin is imported (``--help`` and ``plugins list`` do not pay its ~0.4 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from attrs import field, frozen

from .config import CcxtConfig

REJECTION_CODES: tuple[tuple[str, str], ...] = (
    ("DuplicateOrderId", "duplicate_client_order_id"),
    ("InvalidOrder", "invalid_order"),
    ("InsufficientFunds", "insufficient_funds"),
    ("BadSymbol", "bad_symbol"),
    ("AccountSuspended", "account_suspended"),
    ("PermissionDenied", "permission_denied"),
    ("AuthenticationError", "authentication_failed"),
    ("BadRequest", "bad_request"),
    ("ArgumentsRequired", "bad_request"),
    ("NotSupported", "not_supported"),
)
"""ccxt errors that refuse an order for good, most specific first, with the stable
``BrokerRejected.code`` each becomes. Anything else on ``create_order`` (a network
error, an unreadable answer, an exchange error ccxt could not classify) means the
order may have been placed: the outcome is unknown and the order is looked up."""


@frozen
class Credentials:
    """What ``ctx.secret`` returned for the configured variables (never in its repr)."""

    api_key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def values(self) -> tuple[str, ...]:
        """The credential values that are set."""
        return tuple(v for v in (self.api_key, self.secret, self.password) if v)


SESSION: Callable[[], Any] | None = None
"""Makes the HTTP session ccxt sends through (``None``: ccxt's own ``requests`` session).
The offline tests set it to the exchange double's transport."""


def quiet_logger() -> logging.Logger:
    """The logger ccxt is given: ccxt logs every request's headers (the API key) and
    body at DEBUG, so this one drops everything below WARNING, whatever the root level."""
    log = logging.getLogger("tradekernel_ccxt.exchange")
    log.setLevel(logging.WARNING)
    return log


def ccxt_module() -> Any:
    """``import ccxt``: only ever called while building a component."""
    import ccxt

    return ccxt


def exchange_ids() -> list[str]:
    """Every exchange id this ccxt knows."""
    return list(ccxt_module().exchanges)


def new_exchange(config: CcxtConfig, credentials: Credentials) -> Any:
    """The ccxt exchange for ``config``: ccxt's own retries off (a retried POST could
    place an order twice), its request pacing as configured, sandbox when asked."""
    ccxt = ccxt_module()
    options: dict[str, Any] = {
        "enableRateLimit": config.rate_limit,
        "timeout": int(float(config.timeout) * 1000),
        "options": {"maxRetriesOnFailure": 0, "maxRetriesOnFailureDelay": 0},
        "logger": quiet_logger(),
    }
    if credentials.api_key:
        options["apiKey"] = credentials.api_key
    if credentials.secret:
        options["secret"] = credentials.secret
    if credentials.password:
        options["password"] = credentials.password
    if SESSION is not None:
        options["session"] = SESSION()
    exchange = getattr(ccxt, config.exchange)(options)
    if config.sandbox:
        if not exchange.urls.get("test"):
            raise ValueError(f"{config.exchange} has no sandbox in ccxt")
        exchange.set_sandbox_mode(True)
    return exchange


def live_capable(config: CcxtConfig, mode: str, acknowledged: bool) -> bool:
    """Whether a broker on ``config`` places real-money orders: ``sandbox = false`` is
    the exchange's real endpoint, allowed only in ``live`` mode, acknowledged; any other
    mode is refused (:class:`ValueError`, the message for ``sandbox``)."""
    if config.sandbox:
        return False
    if mode != "live" or not acknowledged:
        raise ValueError(
            f"false is {config.exchange}'s real-money API: it needs [kernel] mode = "
            '"live" and live_acknowledged = true (to try it out: sandbox = true)'
        )
    return True


class ExchangeFailure(Exception):
    """A ccxt error, retold without its chain: the message scrubbed of secrets (an
    exchange may quote the request's credentials back), the ccxt class names kept."""

    def __init__(self, message: str, names: frozenset[str]) -> None:
        super().__init__(message)
        self.names = names
        """The ccxt error's class and its bases (``OrderNotFound``, ``InvalidOrder``, ...)."""


def names_of(error: BaseException) -> frozenset[str]:
    """The ccxt class names of ``error`` (its own or those an ExchangeFailure kept)."""
    kept = getattr(error, "names", None)
    if isinstance(kept, frozenset):
        return kept
    return frozenset(cls.__name__ for cls in type(error).__mro__)


def retold(error: BaseException, scrub: Callable[[str], str]) -> ExchangeFailure:
    """``error`` as an :class:`ExchangeFailure`: raise it outside the ``except`` block,
    so that the original (and its message) is not chained to it."""
    if isinstance(error, ExchangeFailure):
        return error
    return ExchangeFailure(scrub(f"{type(error).__name__}: {error}"), names_of(error))


def rejection_code(error: BaseException) -> str | None:
    """The ``BrokerRejected`` code of a ccxt error that refuses an order for good, or
    ``None`` when the order may have been placed."""
    names = names_of(error)
    if "BaseError" not in names:
        return None
    for name, code in REJECTION_CODES:
        if name in names:
            return code
    return None


def transient(error: BaseException) -> bool:
    """A network-level failure (``NetworkError`` and its subclasses: timeouts, 429/418,
    DDoS protection, maintenance, 5xx, a bad nonce): worth retrying a READ."""
    return "NetworkError" in names_of(error)


def not_found(error: BaseException) -> bool:
    """``OrderNotFound``: the exchange says it has no such order."""
    return "OrderNotFound" in names_of(error)


def rate_limited(error: BaseException) -> bool:
    """``RateLimitExceeded`` or ``DDoSProtection`` (HTTP 429/418 and the like)."""
    return bool(names_of(error) & {"RateLimitExceeded", "DDoSProtection"})
