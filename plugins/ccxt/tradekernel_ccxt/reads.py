"""Reads retried on network errors (bounded, with backoff); writes never are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from .client import rate_limited, retold, transient

T = TypeVar("T")

MAX_RETRY_AFTER = 60.0
"""The longest a read waits for a rate limit to reset before trying again."""


class Reader:
    """Runs exchange reads: a ``NetworkError`` (timeout, 429, 5xx, maintenance, a bad
    nonce) is retried up to ``retries`` times, waiting through ``sleep`` (injectable),
    each retry an event ``broker.request_retried``; anything else raises at once."""

    def __init__(
        self,
        retries: int,
        *,
        sleep: Callable[[float], None],
        on_retry: Callable[[str, BaseException, int, float], None],
        retry_after: Callable[[], float | None] = lambda: None,
        scrub: Callable[[str], str] = str,
        base_wait: float = 0.5,
        max_wait: float = 8.0,
    ) -> None:
        """``retry_after()`` is the venue's own wait (a 429's ``Retry-After``), honoured
        up to :data:`MAX_RETRY_AFTER` seconds."""
        self.retries = retries
        self.sleep = sleep
        self.on_retry = on_retry
        self.retry_after = retry_after
        self.scrub = scrub
        self.backoff = wait_exponential(multiplier=base_wait, max=max_wait)

    def wait(self, state: Any) -> float:
        """Exponential backoff, or the venue's reset when a rate limit says longer."""
        wait = float(self.backoff(state))
        error = state.outcome.exception() if state.outcome else None
        if error is not None and rate_limited(error):
            wait = max(wait, min(self.retry_after() or 0.0, MAX_RETRY_AFTER))
        return wait

    def __call__(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, retried as described; ``what`` names the call in events. A final
        failure is an :class:`~.client.ExchangeFailure` (scrubbed, nothing chained)."""

        def before_sleep(state: Any) -> None:
            error = state.outcome.exception()
            wait = state.next_action.sleep if state.next_action else 0.0
            self.on_retry(what, error, state.attempt_number, float(wait))

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self.wait,
            retry=retry_if_exception(transient),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(call)
        except Exception as exc:
            error = exc
        raise retold(error, self.scrub)  # outside the handler: nothing chained


__all__ = ["MAX_RETRY_AFTER", "Reader"]
