"""Reads retried on network errors (bounded, with backoff); writes never are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from .client import rate_limited, transient

T = TypeVar("T")


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
        base_wait: float = 0.5,
        max_wait: float = 8.0,
    ) -> None:
        self.retries = retries
        self.sleep = sleep
        self.on_retry = on_retry
        self.wait = wait_exponential(multiplier=base_wait, max=max_wait)

    def __call__(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, retried as described; ``what`` names the call in events."""

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
        return retrying(call)


__all__ = ["Reader", "rate_limited"]
