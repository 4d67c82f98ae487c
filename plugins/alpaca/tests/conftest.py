"""Fixtures of the Alpaca plugin's tests: a fresh double per test (through
``httpx.MockTransport``, no socket) and brokers on it whose events are kept."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from tradekernel.api import OrderRequest
from tradekernel_alpaca.double import AlpacaVenue


class Events(list):
    """A ``ctx.emit`` that keeps ``(stage, kind, fields)``."""

    def __call__(self, stage: str, kind: str, **fields: Any) -> dict[str, Any]:
        self.append((stage, kind, fields))
        return fields

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [fields for stage, k, fields in self if stage == "broker" and k == kind]


@pytest.fixture
def venue() -> AlpacaVenue:
    return AlpacaVenue()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def broker(venue: AlpacaVenue, events: Events):
    made = venue.broker(emit=events)
    yield made
    made.close()


@pytest.fixture
def no_socket(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any socket connection attempt is recorded and refused."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("tests must not open sockets")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def order() -> Any:
    """``order(**fields)``: a market buy of 3 AAPL under a fresh kernel-style client
    order id (``tk-`` + 24 hex, 27 characters), ``fields`` overriding."""
    counter = iter(range(1, 1_000_000))

    def make(**fields: Any) -> OrderRequest:
        base: dict[str, Any] = {
            "client_order_id": f"tk-{next(counter):024x}",
            "symbol": "AAPL",
            "side": "buy",
            "quantity": 3,
        }
        return OrderRequest(**{**base, **fields})

    return make
