"""Bounded retry of one notification delivery, shared by every notifier plugin.

A delivery is a sequence of *attempts*; each returns an :class:`Attempt` saying whether
it succeeded and, if not, whether the failure is transient (worth another try) and how
long the receiver asked us to wait (``Retry-After``). :func:`deliver` retries transient
failures with exponential backoff (tenacity) until ``max_attempts`` or the delivery's
time budget is used up, and turns the last attempt into a
:class:`~tradekernel.components.DeliveryResult`. It never raises.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attrs import define

from ..components import DeliveryResult

if TYPE_CHECKING:
    from tenacity import RetryCallState

BUDGET_SHARE = 0.9
"""Share of ``[notify] timeout`` a notifier spends before giving up by itself, so that it
answers before the dispatcher abandons it."""


@define(frozen=True)
class RetryPolicy:
    """How a notifier retries: at most ``max_attempts`` attempts within ``budget`` seconds,
    waiting ``backoff_base * 2**n`` (at most ``backoff_max``) between them, or the
    receiver's ``Retry-After`` when it is at most ``retry_after_cap``."""

    max_attempts: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 5.0
    budget: float = 9.0

    @classmethod
    def from_settings(cls, settings: Any) -> RetryPolicy:
        """The policy of ``[notify] retry`` and ``[notify] timeout`` (defaults when the
        settings object has no ``notify`` section, e.g. a bare test double)."""
        notify = getattr(settings, "notify", None)
        if notify is None:
            return cls()
        retry = notify.retry
        return cls(
            max_attempts=retry.max_attempts,
            backoff_base=float(retry.backoff_base),
            backoff_max=float(retry.backoff_max),
            retry_after_cap=float(retry.retry_after_cap),
            budget=float(notify.timeout) * BUDGET_SHARE,
        )


@define
class Attempt:
    """The outcome of one attempt."""

    ok: bool
    transient: bool = False
    """A failure that may succeed if tried again (timeouts, 408, 429, 5xx)."""
    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    """Seconds the receiver asked us to wait before trying again."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (HTTP dates are ignored).
    A value that is not a finite number of zero or more (``nan``, ``inf``, ``-5``, an
    over-long text) counts as absent; the caller caps large ones."""
    if not value or len(value) > 32:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def deliver(
    attempt: Callable[[float], Attempt],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Run ``attempt(remaining_seconds)`` until it succeeds, fails permanently, or the
    policy is exhausted. A ``Retry-After`` above the cap, or beyond the remaining budget,
    ends the delivery at once: waiting would break the caller's time budget."""
    from tenacity import (  # imported on the first delivery, not with the notifier plugins
        Retrying,
        retry_if_result,
        stop_after_attempt,
        stop_before_delay,
        wait_exponential,
    )

    started = time.monotonic()
    count = 0

    def one() -> Attempt:
        nonlocal count
        count += 1
        remaining = max(policy.budget - (time.monotonic() - started), 0.05)
        try:
            return attempt(remaining)
        except Exception as exc:  # an attempt must not raise; treat it as permanent
            return Attempt(ok=False, error=f"unexpected {type(exc).__name__}")

    backoff = wait_exponential(multiplier=policy.backoff_base, max=policy.backoff_max)

    def wait(state: RetryCallState) -> float:
        last: Attempt = state.outcome.result()  # type: ignore[union-attr]
        if last.retry_after is not None:
            return last.retry_after
        return backoff(state)

    def should_retry(result: Attempt) -> bool:
        if result.ok or not result.transient:
            return False
        return result.retry_after is None or result.retry_after <= policy.retry_after_cap

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.budget),
        wait=wait,
        retry=retry_if_result(should_retry),
        retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        sleep=sleep,
    )
    last: Attempt = retrying(one)
    if last.ok:
        return DeliveryResult(ok=True, status="sent", http_status=last.http_status, attempts=count)
    error = last.error or "failed"
    if last.retry_after is not None and last.retry_after > policy.retry_after_cap:
        error += f" (retry after {last.retry_after:g}s exceeds the cap)"
    return DeliveryResult(
        ok=False, status="failed", http_status=last.http_status, attempts=count, error=error
    )
