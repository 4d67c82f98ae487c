"""The HTTP layer against hostile answers: oversized and inflating bodies refused while
streaming, corrupt encodings, wait hints that are not numbers, a total time per read."""

from __future__ import annotations

import gzip
import json
import math

import httpx
import pytest
from tradekernel.api import SubmitOutcomeUnknown
from tradekernel_alpaca.broker import AlpacaBroker
from tradekernel_alpaca.config import AlpacaConfig
from tradekernel_alpaca.http import AlpacaError, AlpacaHTTP, AlpacaUnavailable, RateLimiter
from tradekernel_alpaca.wire import MAX_BODY

ACCOUNT = {"id": "acc-1", "cash": "1000", "equity": "1000", "buying_power": "1000"}


def client(handler, events=None, sleeps=None, **config):
    def emit(stage, kind, **fields):
        if events is not None:
            events.append((stage, kind, fields))

    return AlpacaHTTP(
        AlpacaConfig(**config),
        key_id="PKHOSTILEKEY0000001",
        secret_key="hostile-secret-0123456789abcdef",
        emit=emit,
        transport=httpx.MockTransport(handler),
        sleep=(sleeps if sleeps is not None else []).append,
        limiter=RateLimiter(10_000),
    )


class Chunks(httpx.SyncByteStream):
    """A chunked body of ``count`` chunks, counting how many were pulled."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.count, self.pulled = chunk, count, 0

    def __iter__(self):
        for _ in range(self.count):
            self.pulled += 1
            yield self.chunk


def test_a_chunked_body_over_the_cap_is_refused_while_reading() -> None:
    stream = Chunks(b" " * 65536, 1024)  # 64 MiB

    def handler(request):
        return httpx.Response(200, stream=stream)

    with pytest.raises(AlpacaError, match="over"):
        client(handler).read("GET", "/v2/account")
    assert stream.pulled * 65536 <= MAX_BODY + 65536


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < MAX_BODY

    def handler(request):
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(AlpacaError, match=f"over {MAX_BODY} bytes"):
        client(handler).read("GET", "/v2/account")


def test_a_gzip_body_under_the_cap_is_decoded() -> None:
    body = gzip.compress(json.dumps(ACCOUNT).encode())

    def handler(request):
        return httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})

    http = client(handler)
    assert http.body(http.read("GET", "/v2/account"))["id"] == "acc-1"


def test_a_corrupt_gzip_read_is_an_alpaca_error_after_retries() -> None:
    def handler(request):
        return httpx.Response(
            200, content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}
        )

    sleeps: list[float] = []
    with pytest.raises(AlpacaUnavailable, match="DecodingError"):
        client(handler, sleeps=sleeps, max_read_attempts=3).read("GET", "/v2/account")
    assert len(sleeps) == 2


def test_a_corrupt_gzip_submit_answer_is_an_unknown_outcome_with_its_event(order) -> None:
    def handler(request):
        return httpx.Response(
            200, content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}
        )

    events: list = []
    with pytest.raises(SubmitOutcomeUnknown):
        client(handler, events).send_once("POST", "/v2/orders", json={})
    broker = AlpacaBroker(client(handler, events))
    with pytest.raises(SubmitOutcomeUnknown):
        broker.submit(order())
    assert any(kind == "outcome_unknown" for _, kind, _ in events)


@pytest.mark.parametrize("hint", ["nan", "inf", "-3", "NaN"])
def test_retry_after_that_is_not_a_finite_wait_is_ignored(hint) -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": hint})] * 2)

    def handler(request):
        return next(answers, httpx.Response(200, json=ACCOUNT))

    events: list = []
    sleeps: list[float] = []
    http = client(handler, events, sleeps, backoff_base=0.5)
    assert http.read("GET", "/v2/account").status_code == 200
    assert sleeps == [0.5, 1.0]  # the backoff, not the hint
    waits = [f["wait_s"] for _, kind, f in events if kind == "request_retried"]
    assert waits and all(math.isfinite(w) for w in waits)


def test_a_nan_rate_limit_reset_is_ignored() -> None:
    answers = iter([httpx.Response(429, headers={"X-Ratelimit-Reset": "nan"})])

    def handler(request):
        return next(answers, httpx.Response(200, json=ACCOUNT))

    sleeps: list[float] = []
    assert client(handler, sleeps=sleeps).read("GET", "/v2/account").status_code == 200
    assert sleeps == [0.5]


def test_a_read_never_waits_past_max_read_time() -> None:
    """503 + Retry-After: 20 (under max_retry_wait) on every try: the second wait would pass
    the 30 s deadline, so the read fails after one wait instead of blocking 60 s."""

    def handler(request):
        return httpx.Response(503, headers={"Retry-After": "20"})

    sleeps: list[float] = []
    with pytest.raises(AlpacaUnavailable, match="max_read_time"):
        client(handler, sleeps=sleeps, max_read_attempts=4).read("GET", "/v2/account")
    assert sum(sleeps) <= 30.0 and sleeps == [20.0]


def test_max_read_time_is_configurable() -> None:
    def handler(request):
        return httpx.Response(503, headers={"Retry-After": "5"})

    sleeps: list[float] = []
    with pytest.raises(AlpacaUnavailable):
        client(handler, sleeps=sleeps, max_read_time=1.0).read("GET", "/v2/account")
    assert sleeps == []
