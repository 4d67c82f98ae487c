""":class:`AlpacaVenue`: the double seen through the broker contract kit's ``Venue``
protocol (``tradekernel.testing``), plus :meth:`AlpacaVenue.broker`, an
:class:`~tradekernel_alpaca.broker.AlpacaBroker` wired to it without a socket."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tradekernel.api import ConfigError

from ..config import LIVE_URL, PAPER_URL, AlpacaConfig
from .core import AlpacaDouble
from .trading import FINAL, OPEN

START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
"""The venue clock's start: a Monday, 10:00 in New York."""


class AlpacaVenue:
    """An :class:`AlpacaDouble` with a manual clock, for tests (the contract kit's
    ``Venue``). The broker's sleep records into :attr:`slept` and its clock is the
    venue's, so the waits a ``X-Ratelimit-Reset`` asks for are exact."""

    symbol = "AAPL"
    quantity = Decimal(3)

    def __init__(self, **double: Any) -> None:
        self.now = START
        self.double = AlpacaDouble(clock=lambda: self.now, **double)
        self.secrets: tuple[str, ...] = (self.double.key_id, self.double.secret_key)
        # the double's own table of Alpaca's statuses, not the plugin's mapping: the
        # contract's check 5 then compares the plugin with an independent source
        self.statuses = {status: status in FINAL for status in sorted(FINAL | OPEN)}
        self.slept: list[float] = []
        from ..http import RateLimiter

        # the venue's brokers share one limiter (as a process does), apart from other tests'
        self.limiter = RateLimiter(200, clock=lambda: self.now.timestamp())

    def advance(self, seconds: float) -> None:
        """Move the venue's clock on."""
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        """Record a wait and let the venue's time pass by it (nothing really sleeps)."""
        self.slept.append(seconds)
        self.advance(seconds)

    # -- the Venue protocol ------------------------------------------------------------

    def orders_with(self, client_order_id: str) -> int:
        """Orders the account holds with this client order id."""
        orders = self.double.trading.orders.values()
        return sum(1 for o in orders if o["client_order_id"] == client_order_id)

    def submit_requests(self) -> int:
        """``POST /v2/orders`` requests that reached the venue, whatever their answer."""
        return self.double.trading.submits

    def read_requests(self) -> int:
        """Requests other than ``POST /v2/orders`` that reached the venue."""
        return len(self.double.requests) - self.double.trading.submits

    def fill(self, client_order_id: str, quantity: Decimal | None = None) -> None:
        """Execute (part of) a working order."""
        self.double.trading.fill(client_order_id, quantity)

    def set_status(self, client_order_id: str, status: str) -> None:
        """Force Alpaca's status of an order."""
        self.double.trading.set_status(client_order_id, status)

    def lose_next_response(self, *, submit: bool = True) -> None:
        """See :meth:`AlpacaDouble.lose_next_response`."""
        self.double.lose_next_response(submit=submit)

    def fail_next(self, status: int, *, count: int = 1, reset_after: float | None = None) -> None:
        """See :meth:`AlpacaDouble.fail_next`."""
        self.double.fail_next(status, count=count, reset_after=reset_after)

    def reject_next(self, reason: str) -> None:
        """The next submit answers 422 (code 42210000) with ``reason``."""
        self.double.reject_next(reason)

    def echo_secrets(self) -> None:
        """Error answers quote the credentials from now on."""
        self.double.echo_secrets()

    # -- a broker on it ----------------------------------------------------------------

    def config(self, *, live: bool = False, **overrides: Any) -> AlpacaConfig:
        """A configuration for this venue (the live URL when ``live``; the transport
        ignores the host)."""
        return AlpacaConfig(base_url=LIVE_URL if live else PAPER_URL, **overrides)

    def broker(
        self,
        *,
        live: bool = False,
        acknowledged: bool = False,
        emit: Callable[..., Any] | None = None,
        **overrides: Any,
    ) -> Any:
        """A NEW :class:`AlpacaBroker` on this venue (calling it again is a restart).
        ``live``: on the live URL, refused (:class:`ConfigError`) unless
        ``acknowledged`` (then ``live_capable``)."""
        from ..broker import AlpacaBroker
        from ..factory import live_capable
        from ..http import AlpacaHTTP

        config = self.config(live=live, **overrides)
        try:
            capable = live_capable(config, "live" if acknowledged else "paper", acknowledged)
        except ValueError as exc:
            raise ConfigError(f"[broker.alpaca] base_url: {exc}") from None
        http = AlpacaHTTP(
            config,
            key_id=self.double.key_id,
            secret_key=self.double.secret_key,
            emit=emit,
            transport=self.double.transport(),
            sleep=self.sleep,
            limiter=self.limiter,
            wall_clock=lambda: self.now.timestamp(),
        )
        return AlpacaBroker(http, live_capable=capable)

    def env(self) -> dict[str, str]:
        """The environment variables a broker configured by default reads."""
        return {
            "APCA_API_KEY_ID": self.double.key_id,
            "APCA_API_SECRET_KEY": self.double.secret_key,
        }
