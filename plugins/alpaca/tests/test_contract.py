"""The Alpaca broker against the broker contract kit (tradekernel.testing.BrokerContract),
on the stateful double through ``httpx.MockTransport`` (:class:`AlpacaVenue`)."""

from __future__ import annotations

from typing import Any

import pytest
from tradekernel.testing import BrokerContract, Venue
from tradekernel_alpaca.double import AlpacaVenue


class TestAlpacaBrokerContract(BrokerContract):
    @pytest.fixture
    def venue(self) -> AlpacaVenue:
        return AlpacaVenue()

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        return venue.broker(live=live, acknowledged=acknowledged, emit=self.emit)


def test_the_alpaca_venue_is_a_venue() -> None:
    assert isinstance(AlpacaVenue(), Venue)
