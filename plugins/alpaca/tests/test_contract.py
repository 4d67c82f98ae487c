"""The Alpaca broker against the broker contract kit (tradekernel.testing.BrokerContract),
on the stateful double through ``httpx.MockTransport`` (:class:`AlpacaVenue`); and the
kit's checks failing a broken Alpaca broker (a wrong status table, a retry storm)."""

from __future__ import annotations

from typing import Any

import pytest
from tradekernel.api import OrderStatus
from tradekernel.testing import BrokerContract, Venue
from tradekernel_alpaca import statuses
from tradekernel_alpaca.double import AlpacaVenue
from tradekernel_alpaca.double import venue as venue_module
from tradekernel_alpaca.statuses import StatusRule


class TestAlpacaBrokerContract(BrokerContract):
    @pytest.fixture
    def venue(self) -> AlpacaVenue:
        return AlpacaVenue()

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        return venue.broker(live=live, acknowledged=acknowledged, emit=self.emit)


def test_the_alpaca_venue_is_a_venue() -> None:
    assert isinstance(AlpacaVenue(), Venue)


def test_the_venues_status_table_is_alpacas_not_the_plugins() -> None:
    venue = AlpacaVenue()
    assert set(venue.statuses) == set(statuses.STATUSES)
    assert {s: r.final for s, r in statuses.STATUSES.items()} == venue.statuses


def _run(contract: BrokerContract, check: str, monkeypatch: pytest.MonkeyPatch) -> None:
    contract._begin(monkeypatch)
    try:
        getattr(contract, check)(venue=AlpacaVenue())
    finally:
        contract._end()


def test_check_5_fails_a_broker_with_a_wrong_status_table(monkeypatch) -> None:
    broken = dict(statuses.STATUSES)
    broken["expired"] = StatusRule(None, False, "wrong: expired treated as working")
    monkeypatch.setattr(statuses, "STATUSES", broken)
    # wherever the double might read the plugin's table, it reads the broken one
    monkeypatch.setattr(venue_module, "STATUSES", broken, raising=False)
    assert AlpacaVenue().statuses["expired"] is True  # the venue still says final
    with pytest.raises(AssertionError, match="'expired'"):
        _run(TestAlpacaBrokerContract(), "test_5_every_venue_status_maps_and_terminal_stays",
             monkeypatch)  # fmt: skip
    assert broken["expired"].status is not OrderStatus.CANCELLED


class _Storm(TestAlpacaBrokerContract):
    """A broker retrying a failing read 99 times, waiting only when the venue says."""

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        broker = venue.broker(live=live, acknowledged=acknowledged, emit=self.emit,
                              backoff_base=0.001, backoff_max=0.001)  # fmt: skip
        object.__setattr__(broker.http.config, "max_read_attempts", 99)
        broker.http.sleep = lambda s: venue.sleep(s) if s >= 1 else None
        return broker


def test_check_6a_fails_a_broker_that_hammers_a_failing_venue(monkeypatch) -> None:
    _run(TestAlpacaBrokerContract(), "test_6a_reads_retry_a_bounded_number_of_times", monkeypatch)
    with pytest.raises(AssertionError, match="reached the venue"):
        _run(_Storm(), "test_6a_reads_retry_a_bounded_number_of_times", monkeypatch)
