"""The shared HTTP layer: the process-wide rate limiter, bounded read retries honouring
the venue's wait hints, the budget event, a submit sent once."""

from __future__ import annotations

import pytest
from tradekernel.api import SubmitOutcomeUnknown
from tradekernel_alpaca.config import AlpacaConfig
from tradekernel_alpaca.http import AlpacaHTTP, AlpacaUnavailable, RateLimiter, shared_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_limiter_keeps_the_rate_after_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock)
    waits = [limiter.acquire(clock.sleep) for _ in range(65)]
    assert waits[:60] == [0.0] * 60  # the burst
    assert all(w == pytest.approx(1.0) for w in waits[60:])  # then one a second
    assert clock.now - 1000.0 == pytest.approx(5.0)


def test_limiter_never_waits_with_a_fake_sleep_that_does_not_pass_time() -> None:
    """Reservations, not a loop: 10 over the budget wait 1, 2, ... 10 seconds."""
    limiter = RateLimiter(60, clock=lambda: 0.0)
    for _ in range(60):
        limiter.acquire(lambda s: None)
    waits = [limiter.acquire(lambda s: None) for _ in range(10)]
    assert waits == pytest.approx([float(n) for n in range(1, 11)])


def test_one_limiter_for_the_process_and_the_lowest_budget_wins() -> None:
    first = shared_limiter(200)
    assert shared_limiter(500) is first and first.per_minute <= 200
    AlpacaHTTP(AlpacaConfig(rate_limit_per_minute=150), key_id="k", secret_key="s").close()
    assert first.per_minute <= 150
    http = AlpacaHTTP(AlpacaConfig(), key_id="k", secret_key="s")
    assert http.limiter is first
    http.close()


def test_every_request_of_every_client_takes_from_the_same_bucket(venue) -> None:
    """A trading read, a submit and a data-API read all draw on the venue's limiter."""
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock)
    broker = venue.broker()
    broker.http.limiter = limiter
    broker.http.sleep = clock.sleep
    broker.account()
    broker.positions()
    broker.http.read("GET", "/v2/account", api="data")
    assert clock.slept == []
    broker.account()  # the fourth request within the minute waits for a token
    assert clock.slept == [pytest.approx(20.0)]


def test_reads_retry_503_then_succeed(broker, venue, events) -> None:
    venue.fail_next(503, count=2)
    assert broker.account().equity > 0
    assert len(venue.slept) == 2
    retried = events.of("request_retried")
    assert [e["attempt"] for e in retried] == [1, 2]
    assert all(e["status"] == 503 and e["path"] == "/v2/account" for e in retried)
    assert [e["wait_s"] for e in retried] == [0.5, 1.0]  # exponential backoff


def test_429_waits_for_the_reset_header(broker, venue, events) -> None:
    venue.fail_next(429, reset_after=7.0)
    broker.account()
    assert venue.slept == [7.0]
    limited = events.of("rate_limit")
    assert limited and limited[0]["status"] == 429


def test_retry_after_is_honoured_on_5xx(broker, venue) -> None:
    venue.fail_next(503, reset_after=3.0)
    broker.account()
    assert venue.slept == [3.0]


def test_reads_give_up_after_max_attempts(broker, venue) -> None:
    venue.fail_next(500, count=50)
    with pytest.raises(AlpacaUnavailable, match="4 attempt"):
        broker.account()
    assert len(venue.slept) == 3
    assert venue.double.requests.count(("GET", "/v2/account")) == 4


def test_a_reset_too_far_away_fails_at_once(venue) -> None:
    broker = venue.broker(max_retry_wait=5.0)
    venue.fail_next(429, reset_after=600.0)
    with pytest.raises(AlpacaUnavailable):
        broker.account()
    assert venue.slept == []


def test_transport_errors_are_retried(venue) -> None:
    broker = venue.broker()
    venue.lose_next_response(submit=False)
    assert broker.account().cash > 0
    assert len(venue.slept) == 1


def test_low_budget_is_an_event(venue, events) -> None:
    broker = venue.broker(emit=events, rate_limit_warn_below=1.0)
    broker.account()
    budget = events.of("rate_limit")
    assert budget == [
        {
            "severity": "warning",
            "broker": "alpaca",
            "remaining": 199,
            "limit": 200,
            "reset_s": 60.0,
            "status": 200,
        }
    ]
    broker.account()  # at most one a minute while merely low
    assert len(events.of("rate_limit")) == 1
    assert broker.http.rate_limit == (198, 200)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_submit_is_never_retried(venue, status) -> None:
    http = venue.broker().http
    venue.fail_next(status, count=5, reset_after=1.0)
    with pytest.raises(SubmitOutcomeUnknown, match=str(status)):
        http.send_once("POST", "/v2/orders", json={})
    assert venue.submit_requests() == 1
    assert venue.slept == []


def test_the_credentials_are_sent_as_alpaca_headers_and_never_shown(venue) -> None:
    http = venue.broker().http
    assert http.read("GET", "/v2/account").status_code == 200
    assert venue.double.key_id not in repr(http)
    assert http.clean(f"x {venue.double.secret_key} y") == "x ******** y"
    assert http.clean("a\x1b[31mred\nline") == "a\\x1b[31mred\\nline"
