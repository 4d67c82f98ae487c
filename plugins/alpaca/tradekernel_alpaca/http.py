"""The HTTP layer every Alpaca call goes through (trading and market data).

* Authentication: the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers, whose
  values the factory obtained with ``ctx.secret`` (so the kernel's redactor knows them);
  any venue text shown anywhere is redacted here as well and made inert.
* One process-wide token bucket (:func:`shared_limiter`) paces every request of every
  client in the process under Alpaca's per-account budget (200 a minute), and one SSL
  context (:func:`shared_ssl_context`) serves every client: loading the CA bundle costs
  about 16 ms, and ``run`` builds four clients (the configuration check, then the run).
* Reads (:meth:`AlpacaHTTP.read`) are retried with tenacity a bounded number of times on
  429, 5xx and transport errors, waiting what ``Retry-After`` or ``X-Ratelimit-Reset``
  asks (capped; a hint that is not a finite number of zero or more is ignored), else an
  exponential backoff, all within ``max_read_time`` seconds: a wait that would pass it
  fails the read at once. Each retry is a ``broker.request_retried`` event. The sleep is
  injectable: tests record the waits instead of sleeping.
* Bodies are streamed and decompressed here (gzip/deflate) under :data:`wire.MAX_BODY`,
  compressed and decompressed: no more than the cap is ever held.
* A submit (:meth:`AlpacaHTTP.send_once`) is NEVER retried: a timeout, a dropped
  connection, a 429 or a 5xx raise :class:`SubmitOutcomeUnknown`, which the executor
  resolves by looking the order up by client order id.
"""

from __future__ import annotations

import hashlib
import math
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import tenacity
from tradekernel.api import SubmitOutcomeUnknown, inert, parse_retry_after

from .config import AlpacaConfig
from .wire import MAX_BODY, BadResponse, parse_json

RETRYABLE = frozenset({429, 500, 502, 503, 504})
"""Statuses a read retries (any other 5xx too)."""
MASK = "********"


class AlpacaError(Exception):
    """A failed Alpaca call: ``status`` is the HTTP status (``None`` without an answer),
    ``code`` Alpaca's error code when the body had one. The message is redacted and inert."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class AlpacaUnavailable(AlpacaError):
    """A read that still failed after its retries (429, 5xx, timeouts, connection errors),
    or whose wait hint was too long: the caller cannot tell the venue's state now."""


class _Transient(Exception):
    def __init__(self, status: int | None, hint: float | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.hint = hint


class RateLimiter:
    """A token bucket: ``per_minute`` requests a minute, bursts up to that many.

    :meth:`acquire` reserves one token and sleeps until it is due (no busy loop, so an
    injected sleep that does not really sleep still paces the reservations)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._tokens = float(per_minute)
        self._stamp = clock()
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.per_minute / 60.0

    def lower_to(self, per_minute: int) -> None:
        """Never allow more than ``per_minute`` from now on (the smallest budget wins)."""
        with self._lock:
            if per_minute < self.per_minute:
                self.per_minute = per_minute
                self._tokens = min(self._tokens, float(per_minute))

    def acquire(self, sleep: Callable[[float], None]) -> float:
        """Take one token, sleeping (with ``sleep``) until it is due; the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(
                float(self.per_minute), self._tokens + (now - self._stamp) * self.rate
            )
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            sleep(wait)
        return wait


_shared: RateLimiter | None = None
_shared_lock = threading.Lock()


def shared_limiter(per_minute: int) -> RateLimiter:
    """The process-wide limiter every Alpaca client uses (created on first use; a client
    configured with a lower budget lowers it for all)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RateLimiter(per_minute)
        else:
            _shared.lower_to(per_minute)
        return _shared


_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """The process-wide verifying SSL context of every Alpaca client (created on first
    use, as ``httpx`` creates its default: certifi's CA bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``). A context is safe to share between clients and threads."""
    global _ssl_context
    with _shared_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def _header_float(value: str | None) -> float | None:
    if value is None or len(value) > 32:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and abs(number) < 1e12 else None


def header_safe(value: str) -> bool:
    """Whether a credential can be sent as an HTTP header value: printable ASCII, no
    spaces (an API key or secret never has others)."""
    return all(0x20 < ord(c) < 0x7F for c in value)


class _Oversize(Exception):
    """A body over :data:`wire.MAX_BODY` (compressed or decompressed)."""


def _decoder(encoding: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise httpx.DecodingError(f"unsupported content encoding {encoding[:20]!r}")


def read_capped(response: httpx.Response, limit: int = MAX_BODY) -> bytes:
    """The decoded body of a streamed ``response``, reading and inflating at most
    ``limit`` bytes each: :class:`_Oversize` past it, :class:`httpx.DecodingError`
    for a corrupt or unsupported encoding. Closes the response."""
    try:
        if response.is_stream_consumed:  # an in-process transport answered, already read
            if len(response.content) > limit:
                raise _Oversize(f"response body over {limit} bytes")
            return response.content
        decoder = _decoder(response.headers.get("Content-Encoding", ""))
        out = bytearray()
        raw = 0
        for chunk in response.iter_raw(64 * 1024):
            raw += len(chunk)
            if raw > limit:
                raise _Oversize(f"response body over {limit} bytes")
            if decoder is None:
                out += chunk
            else:
                out += decoder.decompress(chunk, limit + 1 - len(out))
                if decoder.unconsumed_tail:
                    raise _Oversize(f"response body inflates over {limit} bytes")
            if len(out) > limit:
                raise _Oversize(f"response body over {limit} bytes")
        if decoder is not None:
            out += decoder.flush()
            if len(out) > limit:
                raise _Oversize(f"response body inflates over {limit} bytes")
        return bytes(out)
    except zlib.error:
        raise httpx.DecodingError("corrupt compressed body") from None
    finally:
        response.close()


def key_fingerprint(key_id: str) -> str:
    """16 hex digits of a salted SHA-256 of ``key_id``: the same key gives the same
    fingerprint, and the key cannot be read back from it."""
    return hashlib.sha256(b"tradekernel account key\0" + key_id.encode()).hexdigest()[:16]


class AlpacaHTTP:
    """An authenticated client of one Alpaca account (trading and data APIs)."""

    def __init__(
        self,
        config: AlpacaConfig,
        *,
        key_id: str,
        secret_key: str,
        emit: Callable[..., Any] | None = None,
        redact: Callable[[str], str] | None = None,
        broker: str = "alpaca",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not (header_safe(key_id) and header_safe(secret_key)):
            raise ValueError("alpaca: a credential holds characters not allowed in a header")
        self.config = config
        self.broker = broker
        self.sleep = sleep
        self.limiter = limiter or shared_limiter(config.rate_limit_per_minute)
        self._emit = emit
        self._redact = redact
        self._secrets = tuple(s for s in (key_id, secret_key) if s)
        self.key_fingerprint = key_fingerprint(key_id) if key_id else None
        """A one-way digest of the key id: names the account without the key."""
        self._wall_clock = wall_clock
        self._last_rate_event = -1e18
        self.requests = 0
        """Requests sent by this client (every attempt)."""
        self.rate_limit: tuple[int, int] | None = None
        """``(remaining, limit)`` as the venue last reported them."""
        timeout = httpx.Timeout(
            connect=float(config.connect_timeout),
            read=float(config.read_timeout),
            write=float(config.read_timeout),
            pool=float(config.connect_timeout),
        )
        self._urls = {
            "trading": config.base_url.rstrip("/"),
            "data": config.data_url.rstrip("/"),
        }
        self._http = httpx.Client(
            headers={
                "APCA-API-KEY-ID": key_id,
                "APCA-API-SECRET-KEY": secret_key,
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",  # what read_capped decodes
            },
            timeout=timeout,
            # a given transport (tests, the double) needs no context: do not load one
            verify=True if transport is not None else shared_ssl_context(),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:  # never the headers
        return f"AlpacaHTTP(broker={self.broker!r}, url={self._urls['trading']!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- text hygiene ------------------------------------------------------------------

    def clean(self, text: str) -> str:
        """``text`` (venue text: an error message) with the credentials masked (whole or
        any 8+ character piece is the kernel redactor's job; the whole values are masked
        here too) and made one inert line."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if self._redact is not None:
            text = self._redact(text)
        return inert(text)

    def emit(self, kind: str, *, severity: str = "info", **fields: Any) -> None:
        """A ``broker.<kind>`` event, when the client was given an emitter."""
        if self._emit is not None:
            self._emit("broker", kind, severity=severity, broker=self.broker, **fields)

    # -- requests ----------------------------------------------------------------------

    def url(self, path: str, api: str = "trading") -> str:
        """The absolute URL of ``path`` on the trading or data API."""
        return self._urls[api] + path

    def read(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        api: str = "trading",
    ) -> httpx.Response:
        """Send an idempotent request, retrying 429, 5xx and transport errors; return the
        final answer (any other status, for the caller to interpret). Raises
        :class:`AlpacaUnavailable` when every attempt failed."""
        started = time.monotonic()
        waited = [0.0]  # the injected sleep may not pass time: count the waits too

        def past_deadline(state: tenacity.RetryCallState) -> bool:
            spent = max(time.monotonic() - started, waited[0])
            if spent + (state.upcoming_sleep or 0.0) > self.config.max_read_time:
                return True
            waited[0] += state.upcoming_sleep or 0.0
            return False

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.config.max_read_attempts) | past_deadline,
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Transient),
            sleep=self.sleep,
            before_sleep=lambda state: self._note_retry(method, path, state),
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, path, params, api)
        except _Transient as exc:
            status = f"HTTP {exc.status}" if exc.status else str(exc)
            attempts = retrying.statistics.get("attempt_number", 1)
            raise AlpacaUnavailable(
                f"alpaca: {method} {path} failed after {attempts} attempt(s) "
                f"(max_read_time {self.config.max_read_time:g}s): {status}",
                status=exc.status,
            ) from None

    def send_once(self, method: str, path: str, *, json: dict[str, Any]) -> httpx.Response:
        """Send a request that must never be repeated (an order). Returns any answer but
        429/5xx; raises :class:`SubmitOutcomeUnknown` when the venue may have acted but
        its answer is lost or unusable (timeout, dropped connection, 429, 5xx)."""
        self.limiter.acquire(self.sleep)
        self.requests += 1
        try:
            response = self._send(method, self.url(path), json=json)
        except (httpx.HTTPError, _Oversize) as exc:
            # the venue may have acted: a lost, corrupt or oversized answer is unknown
            raise SubmitOutcomeUnknown(
                f"alpaca: {method} {path}: no usable answer ({type(exc).__name__})"
            ) from None
        self._note_budget(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise SubmitOutcomeUnknown(f"alpaca: {method} {path}: HTTP {response.status_code}")
        return response

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, its body streamed under the cap (:func:`read_capped`); the
        answer as a plain response holding the decoded body."""
        request = self._http.build_request(method, url, **kwargs)
        streamed = self._http.send(request, stream=True)
        content = read_capped(streamed)
        headers = [
            (k, v)
            for k, v in streamed.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code, headers=headers, content=content, request=request
        )

    def body(self, response: httpx.Response) -> Any:
        """The parsed JSON of ``response`` (hostile: see :func:`wire.parse_json`)."""
        return parse_json(response.content)

    def _attempt(
        self, method: str, path: str, params: dict[str, Any] | None, api: str
    ) -> httpx.Response:
        self.limiter.acquire(self.sleep)
        self.requests += 1
        try:
            response = self._send(method, self.url(path, api), params=params)
        except _Oversize as exc:
            raise AlpacaError(f"alpaca: {method} {path}: bad response: {exc}") from None
        except httpx.HTTPError as exc:  # transport, corrupt encoding: may pass if tried again
            raise _Transient(None, None, f"no answer ({type(exc).__name__})") from None
        self._note_budget(response)
        status = response.status_code
        if status in RETRYABLE or status >= 500:
            raise _Transient(status, self._hint(response), f"HTTP {status}")
        return response

    def _hint(self, response: httpx.Response) -> float | None:
        """Seconds the venue asks to wait: ``Retry-After``, else ``X-Ratelimit-Reset``
        (a Unix time) on a 429."""
        hint = parse_retry_after(response.headers.get("Retry-After"))
        if hint is None and response.status_code == 429:
            reset = _header_float(response.headers.get("X-Ratelimit-Reset"))
            if reset is not None:
                hint = max(0.0, reset - self._wall_clock())
        return hint

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "hint", None)
        if hint is not None and math.isfinite(hint) and hint >= 0:
            if hint > self.config.max_retry_wait:
                raise _Transient(
                    getattr(exc, "status", None),
                    None,
                    f"asked to wait {hint:.0f}s, over max_retry_wait",
                )
            return float(hint)
        backoff = self.config.backoff_base * 2 ** (state.attempt_number - 1)
        return float(min(self.config.backoff_max, backoff))

    def _note_retry(self, method: str, path: str, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.emit(
            "request_retried",
            severity="warning",
            method=method,
            path=path,
            status=getattr(exc, "status", None),
            error=None if getattr(exc, "status", None) else str(exc),
            attempt=state.attempt_number,
            wait_s=round(float(wait), 3),
        )

    def _note_budget(self, response: httpx.Response) -> None:
        remaining = _header_float(response.headers.get("X-Ratelimit-Remaining"))
        limit = _header_float(response.headers.get("X-Ratelimit-Limit"))
        if remaining is None or limit is None or limit <= 0:
            if response.status_code != 429:
                return
        else:
            self.rate_limit = (int(remaining), int(limit))
        limited = response.status_code == 429
        low = (
            self.rate_limit is not None
            and self.rate_limit[0] < self.config.rate_limit_warn_below * self.rate_limit[1]
        )
        now = time.monotonic()
        if not limited and not (low and now - self._last_rate_event >= 60.0):
            return
        self._last_rate_event = now
        reset = _header_float(response.headers.get("X-Ratelimit-Reset"))
        self.emit(
            "rate_limit",
            severity="warning",
            remaining=self.rate_limit[0] if self.rate_limit else None,
            limit=self.rate_limit[1] if self.rate_limit else None,
            reset_s=None if reset is None else round(max(0.0, reset - self._wall_clock()), 3),
            status=response.status_code,
        )


def bad_response(client: AlpacaHTTP, what: str, exc: BadResponse) -> AlpacaError:
    """An :class:`AlpacaError` saying the venue's answer to ``what`` was malformed."""
    return AlpacaError(f"alpaca: {what}: bad response: {client.clean(str(exc))}")
