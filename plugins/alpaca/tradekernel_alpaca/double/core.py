"""The double's request dispatch: routes, authentication, rate-limit headers and faults.

A route is registered with :func:`route` by the module that implements it
(:mod:`.trading` for the trading API, :mod:`.data` for market data when present); every
route answers through :meth:`AlpacaDouble.handle`, which both front ends (the
``httpx.MockTransport`` and the 127.0.0.1 server) call. Handlers return a :class:`Reply`
holding JSON-ready Python data (numbers as the strings Alpaca sends)."""

from __future__ import annotations

import importlib
import json
import math
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from attrs import define, field

ROUTE_MODULES = ("tradekernel_alpaca.double.trading", "tradekernel_alpaca.double.data")
"""Modules whose import registers routes (a missing one is skipped)."""
RATE_LIMIT = 200
"""Requests per minute the double allows, as Alpaca does per account."""


@define
class Request:
    """One request as the double sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON (``None`` when empty or invalid)."""
        try:
            return json.loads(self.body or b"null", parse_float=Decimal)
        except ValueError:
            return None


@define
class Reply:
    """One answer: status, JSON-ready body (``None``: empty), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(factory=dict)


Handler = Callable[..., Reply]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
"""(method, path pattern, handler(double, request, **groups))."""


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` on paths matching ``pattern`` (full match)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern), handler))
        return handler

    return register


def error(status: int, code: int, message: str) -> Reply:
    """An Alpaca error answer: ``{"code": ..., "message": ...}``."""
    return Reply(status, {"code": code, "message": message})


_loaded = False


def _load_routes() -> None:
    global _loaded
    if _loaded:
        return
    for name in ROUTE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    _loaded = True


class LostResponse(Exception):
    """The double processed the request but its answer is lost (the front end times out
    the client or drops the connection)."""


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class AlpacaDouble:
    """A stateful stand-in for one Alpaca account (trading API, and market data when
    :mod:`.data` is installed), with fault injection.

    ``key_id``/``secret_key``: the credentials it accepts (401 otherwise). ``clock``:
    its notion of now (UTC). Use it through :meth:`transport` (an
    ``httpx.MockTransport``) or :func:`~tradekernel_alpaca.double.server.serve`."""

    def __init__(
        self,
        *,
        key_id: str = "PKTESTDOUBLEKEYID0001",
        secret_key: str = "double-secret-key-0123456789abcdefghijkl",
        clock: Callable[[], datetime] | None = None,
        cash: Decimal | int | str = 100000,
        prices: Mapping[str, Decimal | int | str] | None = None,
        auto_fill: bool = False,
    ) -> None:
        _load_routes()
        self.key_id = key_id
        self.secret_key = secret_key
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        """Every request received: (method, path)."""
        self.extensions: dict[str, Any] = {}
        """State of route modules other than the trading API (by module)."""
        self._failures: list[tuple[int, float | None]] = []
        self._lose: dict[str, int] = {"submit": 0, "read": 0}
        self._rejects: list[tuple[int, int, str]] = []
        self._echo = False
        self._window: tuple[int, int] = (0, 0)
        from .trading import TradingState

        self.trading = TradingState(self, cash=Decimal(str(cash)), prices=prices or {})
        self.trading.auto_fill = auto_fill

    # -- faults ------------------------------------------------------------------------

    def fail_next(self, status: int, *, count: int = 1, reset_after: float | None = None) -> None:
        """The next ``count`` requests answer ``status`` (429: with ``X-Ratelimit-Reset``
        ``reset_after`` seconds ahead; 5xx: with ``Retry-After`` when given)."""
        with self.lock:
            self._failures.extend([(status, reset_after)] * count)

    def lose_next_response(self, *, submit: bool = True) -> None:
        """The next submit (``submit=False``: the next other request) is processed, but
        its answer never reaches the client."""
        with self.lock:
            self._lose["submit" if submit else "read"] += 1

    def reject_next(self, reason: str, *, status: int = 422, code: int = 42210000) -> None:
        """The next submit is refused with ``status`` and Alpaca error ``code``."""
        with self.lock:
            self._rejects.append((status, code, reason))

    def echo_secrets(self) -> None:
        """From now on error answers quote the request's credential headers."""
        self._echo = True

    def take_reject(self) -> tuple[int, int, str] | None:
        """The pending rejection for a submit, if any (used by the order route)."""
        with self.lock:
            return self._rejects.pop(0) if self._rejects else None

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """Answer ``request``; raises :class:`LostResponse` when its answer is to be lost
        (after the state changed)."""
        with self.lock:
            self.requests.append((request.method, request.path))
            submit = request.method == "POST" and request.path == "/v2/orders"
            if submit:
                self.trading.submits += 1
            reply = self._answer(request)
            for name, value in self._rate_headers().items():
                reply.headers.setdefault(name, value)  # a 429's own reset wins
            if reply.status >= 400 and self._echo:
                reply.body = {
                    **(reply.body if isinstance(reply.body, dict) else {}),
                    "message": f"{(reply.body or {}).get('message', 'error')} (key "
                    f"{request.headers.get('apca-api-key-id', '')} secret "
                    f"{request.headers.get('apca-api-secret-key', '')})",
                }
            kind = "submit" if submit else "read"
            if self._lose[kind]:
                self._lose[kind] -= 1
                raise LostResponse(f"{request.method} {request.path}")
            return reply

    def _answer(self, request: Request) -> Reply:
        if self._failures:
            status, reset_after = self._failures.pop(0)
            return self._failure(status, reset_after)
        if (
            request.headers.get("apca-api-key-id") != self.key_id
            or request.headers.get("apca-api-secret-key") != self.secret_key
        ):
            return error(401, 40110000, "request is not authorized")
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return handler(self, request, **match.groupdict())
        return error(404, 40410000, "endpoint not found")

    def _failure(self, status: int, reset_after: float | None) -> Reply:
        if status == 429:
            reply = Reply(429, {"code": 42910000, "message": "rate limit exceeded"})
            if reset_after is not None:
                reset = math.ceil(self.clock().timestamp() + reset_after)
                reply.headers["X-Ratelimit-Reset"] = str(reset)
            return reply
        reply = Reply(status, {"code": status * 100000, "message": "internal server error"})
        if reset_after is not None:
            reply.headers["Retry-After"] = str(math.ceil(reset_after))
        return reply

    def _rate_headers(self) -> dict[str, str]:
        now = self.clock().timestamp()
        minute = int(now // 60)
        start, used = self._window
        used = used + 1 if start == minute else 1
        self._window = (minute, used)
        return {
            "X-Ratelimit-Limit": str(RATE_LIMIT),
            "X-Ratelimit-Remaining": str(max(0, RATE_LIMIT - used)),
            "X-Ratelimit-Reset": str((minute + 1) * 60),
        }

    # -- front ends --------------------------------------------------------------------

    @staticmethod
    def encode(reply: Reply) -> bytes:
        """The body bytes of ``reply`` (Decimals as JSON strings)."""
        if reply.body is None:
            return b""
        return json.dumps(reply.body, default=_encode).encode()

    def transport(self) -> Any:
        """An ``httpx.MockTransport`` answering from this double (no socket). A lost
        answer raises ``httpx.ReadTimeout``."""
        import httpx

        def respond(request: httpx.Request) -> httpx.Response:
            ours = Request(
                method=request.method,
                path=request.url.path,
                query=dict(parse_qsl(request.url.query.decode())),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.read(),
            )
            try:
                reply = self.handle(ours)
            except LostResponse:
                raise httpx.ReadTimeout("the double lost the answer", request=request) from None
            headers = dict(reply.headers)
            if reply.body is not None:
                headers["Content-Type"] = "application/json; charset=UTF-8"
            return httpx.Response(reply.status, headers=headers, content=self.encode(reply))

        return httpx.MockTransport(respond)
