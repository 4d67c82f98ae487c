"""Bounded retry: attempts, Retry-After, the time budget; the HTTP helper's classification."""

from __future__ import annotations

import pytest
from tradekernel.delivery.http import is_transient_status, post
from tradekernel.delivery.retry import Attempt, RetryPolicy, deliver, parse_retry_after
from tradekernel.testing_http import HTTPReceiver

FAST = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.002, retry_after_cap=1)


def scripted(*outcomes: Attempt):
    calls = []

    def attempt(remaining: float) -> Attempt:
        calls.append(remaining)
        return outcomes[min(len(calls), len(outcomes)) - 1]

    return attempt, calls


def test_transient_failures_are_retried_until_success():
    attempt, _ = scripted(Attempt(ok=False, transient=True), Attempt(ok=True, http_status=200))
    result = deliver(attempt, FAST)
    assert (result.ok, result.status, result.attempts, result.http_status) == (True, "sent", 2, 200)


def test_permanent_failure_stops_at_once():
    attempt, _ = scripted(Attempt(ok=False, http_status=404, error="http 404: no_service"))
    result = deliver(attempt, FAST)
    assert (result.ok, result.status, result.attempts, result.error) == (
        False,
        "failed",
        1,
        "http 404: no_service",
    )


def test_max_attempts_bounds_retries():
    attempt, _ = scripted(Attempt(ok=False, transient=True, error="timeout"))
    result = deliver(attempt, FAST)
    assert (result.attempts, result.error) == (4, "timeout")


def test_retry_after_is_honoured_up_to_the_cap():
    waits = []
    attempt, _ = scripted(Attempt(ok=False, transient=True, retry_after=0.5), Attempt(ok=True))
    assert deliver(attempt, FAST, sleep=waits.append).ok
    assert waits == [0.5]
    attempt, _ = scripted(Attempt(ok=False, transient=True, retry_after=30, http_status=429))
    result = deliver(attempt, FAST, sleep=waits.append)
    assert (result.ok, result.attempts) == (False, 1)
    assert "exceeds the cap" in result.error


def test_budget_stops_before_a_wait_that_would_overrun_it():
    policy = RetryPolicy(max_attempts=10, backoff_base=5, backoff_max=5, budget=1)
    attempt, calls = scripted(Attempt(ok=False, transient=True, error="timeout"))
    result = deliver(attempt, policy, sleep=lambda s: pytest.fail("must not sleep past budget"))
    assert result.attempts == 1
    assert calls[0] <= 1


def test_an_attempt_that_raises_is_a_failure_not_an_exception():
    def attempt(remaining):
        raise RuntimeError("secret-ish detail")

    result = deliver(attempt, FAST)
    assert (result.ok, result.error) == (False, "unexpected RuntimeError")


@pytest.mark.parametrize(
    ("status", "transient"),
    [(408, True), (429, True), (500, True), (503, True), (400, False), (404, False)],
)
def test_status_classification(status, transient):
    assert is_transient_status(status) is transient


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-5", "1e400", "9" * 40])
def test_parse_retry_after_treats_non_finite_or_negative_as_absent(value):
    # a hostile receiver's hint never becomes NaN/inf in a wait or an event
    assert parse_retry_after(value) is None


def test_parse_retry_after_keeps_large_finite_values_for_the_caller_to_cap():
    assert parse_retry_after("86400") == 86400.0


def test_post_scrubs_the_url_from_errors():
    with HTTPReceiver(default=(400, "bad request for http://127.0.0.1")) as rx:
        url = rx.url
        rx.default = (400, f"bad url {url}")
        result = post(url, b"{}", policy=FAST)
    assert result.error == "http 400: bad url <url>"
    assert result.attempts == 1
