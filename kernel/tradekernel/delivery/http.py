"""HTTP delivery for notifier plugins: one POST with bounded retry, never raising.

Transient failures (connection errors, timeouts, 408, 429, 5xx) are retried with
exponential backoff, honouring ``Retry-After`` up to the policy's cap; any other 4xx is
final. The URL (webhook URLs carry tokens) never appears in a result: errors name the
exception type or the HTTP status and a short, redacted excerpt of the response body.
A receiver that echoes the request path gets its tokens masked too: the URL's sensitive
parts (:func:`tradekernel.redaction.sensitive_parts`) are secrets as well.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..components import DeliveryResult
from ..redaction import Redactor
from .retry import Attempt, RetryPolicy, deliver, parse_retry_after

if TYPE_CHECKING:
    import httpx

TRANSIENT_STATUS = frozenset({408, 429})
BODY_EXCERPT = 200


_SECRET_URLS: set[str] = set()


class _DropSecretUrls(logging.Filter):
    """httpx logs each request's full URL at INFO; webhook URLs are secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(url in message for url in _SECRET_URLS)


_FILTER = _DropSecretUrls()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_FILTER)


def is_transient_status(status: int) -> bool:
    """Worth retrying: request timeout, too many requests, or a server error."""
    return status in TRANSIENT_STATUS or 500 <= status <= 599


@functools.lru_cache(maxsize=64)
def _url_redactor(url: str) -> Redactor:
    """Masks ``url`` and its sensitive parts (built once per URL)."""
    return Redactor([url])


def _default_success(response: httpx.Response) -> bool:
    return 200 <= response.status_code < 300


def post(
    url: str,
    content: bytes,
    *,
    policy: RetryPolicy,
    headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
    client: httpx.Client | None = None,
    success: Callable[[httpx.Response], bool] = _default_success,
    redact: Callable[[str], str] = lambda s: s,
) -> DeliveryResult:
    """POST ``content`` to ``url`` until it succeeds or the policy gives up.

    ``headers`` may be a callable, evaluated once per attempt (fresh signatures).
    ``success`` decides whether a response counts as delivered (Slack answers ``ok``).
    ``redact`` scrubs secrets from error text; the URL is always scrubbed.
    """
    import httpx  # imported on the first delivery, not with the notifier plugins

    # httpx logs and reports the URL normalised (lower-case host, default port dropped,
    # percent-encoding), so both spellings are secrets.
    spellings = {url, str(httpx.URL(url))}
    _SECRET_URLS.update(spellings)
    own_client = client is None
    http = client or httpx.Client(follow_redirects=False)
    url_parts = _url_redactor(url)

    def scrub(text: str) -> str:
        for spelling in spellings:
            text = text.replace(spelling, "<url>")
        return redact(url_parts.redact(text))

    def attempt(remaining: float) -> Attempt:
        hdrs = dict(headers() if callable(headers) else (headers or {}))
        hdrs.setdefault("Content-Type", "application/json")
        try:
            response = http.post(url, content=content, headers=hdrs, timeout=remaining)
        except httpx.TimeoutException:
            return Attempt(ok=False, transient=True, error="timeout")
        except httpx.TransportError as exc:
            return Attempt(
                ok=False, transient=True, error=f"connection error ({type(exc).__name__})"
            )
        except httpx.HTTPError as exc:
            return Attempt(ok=False, error=scrub(f"{type(exc).__name__}: {exc}"))
        status = response.status_code
        if 200 <= status < 300 and success(response):
            return Attempt(ok=True, http_status=status)
        # scrub more than is kept, so that no secret is cut in two before it is masked
        excerpt = scrub(" ".join(response.text[: BODY_EXCERPT * 4].split()))[:BODY_EXCERPT]
        return Attempt(
            ok=False,
            transient=is_transient_status(status),
            http_status=status,
            error=f"http {status}: {excerpt}" if excerpt else f"http {status}",
            retry_after=parse_retry_after(response.headers.get("Retry-After"))
            if status in (429, 503)
            else None,
        )

    try:
        return deliver(attempt, policy)
    finally:
        if own_client:
            http.close()
