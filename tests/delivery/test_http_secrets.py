"""Webhook URLs carry tokens: no spelling of them reaches httpx's log or a result."""

from __future__ import annotations

import logging

from tradekernel.delivery.http import post
from tradekernel.delivery.retry import RetryPolicy
from tradekernel.testing_http import HTTPReceiver


def test_a_url_written_in_another_spelling_is_still_withheld(caplog):
    caplog.set_level(logging.DEBUG)
    receiver = HTTPReceiver(responses=[(500, "boom")]).start()
    try:
        # upper-case host and an explicit port: httpx logs it normalised
        url = receiver.url.replace("127.0.0.1", "LOCALHOST") + "/services/T0/B0/SECRETTOKEN"
        result = post(url, b"{}", policy=RetryPolicy(max_attempts=1, budget=5))
    finally:
        receiver.stop()
    assert not result.ok
    assert receiver.requests  # it really went out
    assert "SECRETTOKEN" not in caplog.text
    assert "SECRETTOKEN" not in repr(result)
