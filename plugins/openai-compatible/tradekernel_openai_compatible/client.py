"""An OpenAI-style chat/completions client on httpx with tenacity retries.

Transient failures (timeouts, connection errors, 408, 429, 5xx, and a 200 whose body
carries an ``error`` object) are retried with exponential backoff and full jitter,
honouring ``Retry-After`` up to a cap. 400, 401, 402, 403 and other 4xx are final.
Every try is recorded as an :class:`~tradekernel.llm.Attempt`. The API key is sent in
the ``Authorization`` header only: it never appears in errors or logs.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import tenacity
from loguru import logger
from tenacity.wait import wait_random_exponential
from tradekernel.api import ChatAttempt as Attempt
from tradekernel.api import ChatRequest, ChatResponse, ProviderError

from .config import HTTPClientConfig
from .wire import build_payload, error_message, parse_completion

RETRYABLE_STATUS = frozenset({408, 429})


class _Retryable(ProviderError):
    """A transient failure; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, error_type=error_type, status=status, retryable=True)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def status_error_type(status: int) -> str:
    """The stable ``error_type`` of an HTTP status (``http_401``, ``http_5xx``, ...)."""
    return "http_5xx" if 500 <= status <= 599 else f"http_{status}"


class ChatClient:
    """Posts :class:`ChatRequest` s to ``{base_url}/chat/completions``.

    ``sleep`` is the function used between attempts (tests may replace it)."""

    def __init__(
        self,
        config: HTTPClientConfig,
        *,
        base_url: str,
        api_key: str | None,
        provider: str,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.provider = provider
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.sleep = sleep
        self._secret = api_key
        all_headers = {"Content-Type": "application/json", **config.headers, **(headers or {})}
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        timeout = httpx.Timeout(
            connect=float(config.connect_timeout),
            read=float(config.read_timeout),
            write=float(config.read_timeout),
            pool=float(config.connect_timeout),
        )
        self._http = httpx.Client(headers=all_headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # never show headers (the key)
        return f"ChatClient(provider={self.provider!r}, url={self.url!r})"

    def close(self) -> None:
        self._http.close()

    # -- public ------------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatResponse:
        """Send ``request``; retry transient failures; raise :class:`ProviderError` when
        every attempt failed or the failure is final."""
        model = request.model or self.config.model
        if not model:
            raise ProviderError(
                f"{self.provider}: no model: set it in the request or the provider's `model`",
                error_type="no_model",
            )
        payload = build_payload(request, model, structured_output=self.config.structured_output)
        attempts: list[Attempt] = []
        started = time.perf_counter()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.config.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retryable),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            fields = retrying(self._attempt, payload, attempts)
        except ProviderError as exc:
            raise ProviderError(
                self._clean(str(exc)),
                error_type=exc.error_type,
                status=exc.status,
                attempts=attempts,
                retryable=exc.retryable,
                model=model,
            ) from None
        return ChatResponse(
            **{**fields, "model": fields["model"] or model},
            attempts=attempts,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            provider=self.provider,
        )

    # -- internals ---------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            return min(float(hint), float(self.config.retry_after_cap))
        backoff = wait_random_exponential(
            multiplier=float(self.config.backoff_base), max=float(self.config.backoff_max)
        )
        return float(backoff(state))

    def _attempt(self, payload: dict[str, Any], attempts: list[Attempt]) -> dict[str, Any]:
        number = len(attempts) + 1
        t0 = time.perf_counter()

        def record(status: int | None = None, error_type: str | None = None) -> None:
            latency = round((time.perf_counter() - t0) * 1000, 3)
            attempts.append(Attempt(number, status, error_type, latency))
            logger.debug(
                "{} attempt {}: status={} error={} latency_ms={}",
                self.provider,
                number,
                status,
                error_type,
                latency,
            )

        try:
            response = self._http.post(self.url, json=payload)
        except httpx.TimeoutException as exc:
            record(error_type="timeout")
            raise _Retryable(
                f"{self.provider}: request timed out ({type(exc).__name__})", error_type="timeout"
            ) from None
        except httpx.TransportError as exc:
            record(error_type="connection_error")
            raise _Retryable(
                f"{self.provider}: connection failed ({type(exc).__name__})",
                error_type="connection_error",
            ) from None
        status = response.status_code
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if status != 200:
            error_type = status_error_type(status)
            record(status, error_type)
            detail = error_message(body)
            message = f"{self.provider}: HTTP {status}" + (f": {detail}" if detail else "")
            if status in RETRYABLE_STATUS or status >= 500:
                raise _Retryable(
                    message,
                    error_type=error_type,
                    status=status,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            raise ProviderError(message, error_type=error_type, status=status)
        if body is None:
            record(status, "bad_response")
            raise ProviderError(
                f"{self.provider}: response body is not valid JSON",
                error_type="bad_response",
                status=status,
            )
        try:
            fields = parse_completion(body)
        except ProviderError as exc:
            record(status, exc.error_type)
            if exc.retryable:
                raise _Retryable(
                    f"{self.provider}: {exc}", error_type=exc.error_type, status=status
                ) from None
            raise ProviderError(
                f"{self.provider}: {exc}", error_type=exc.error_type, status=status
            ) from None
        record(status)
        return fields

    def _clean(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "********")
        return text
