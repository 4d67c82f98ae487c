"""The paper broker against the broker contract kit (tradekernel.testing.BrokerContract).

The paper broker's "venue" is its account database and the market data feed its fills
price against: :class:`PaperVenue` fills orders by advancing the feed by one bar whose
volume lets exactly the wanted quantity trade, and forces statuses through the account
database. Paper has no transport, so the transport faults (lost answers, 429/5xx,
echoed credentials) are not supported and their checks are skipped with that reason;
it is never live-capable (``paper_only``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tradekernel.api import Bar, OrderStatus, Quote
from tradekernel.testing import BrokerContract, Venue
from tradekernel_paper import PaperBroker, PaperConfig
from tradekernel_paper.store import PaperStore

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
PRICE = Decimal("100")
SHARE = Decimal("0.5")
NO_TRANSPORT = "paper broker: no transport"


class VenueFeed:
    """A market data feed whose next bar the venue writes: flat at :data:`PRICE`, with
    the volume the venue asks for. ``hide_once`` hides the symbol from the next
    ``symbols()`` call (the next order meets an unknown symbol)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.history: list[Bar] = []
        self.hide_once = False
        for _ in range(3):
            self.push(Decimal(1_000_000))

    def push(self, volume: Decimal) -> None:
        ts = T0 + timedelta(minutes=len(self.history))
        self.history.append(
            Bar(symbol=self.symbol, ts=ts, open=PRICE, high=PRICE, low=PRICE, close=PRICE,
                volume=volume)
        )  # fmt: skip

    def symbols(self) -> list[str]:
        if self.hide_once:
            self.hide_once = False
            return []
        return [self.symbol]

    def now(self) -> datetime | None:
        return self.history[-1].ts

    def advance(self) -> datetime | None:
        return self.now()

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        if symbol != self.symbol or limit <= 0:
            return []
        return self.history[-limit:]

    def current_bar(self, symbol: str) -> Bar | None:
        return self.history[-1] if symbol == self.symbol else None

    def quote(self, symbol: str) -> Quote | None:
        if symbol != self.symbol:
            return None
        bar = self.history[-1]
        return Quote(symbol=symbol, ts=bar.ts, last=bar.close)


class PaperVenue:
    """The :class:`tradekernel.testing.Venue` of the paper broker: its account database
    and its market data feed."""

    symbol = "AAA"
    quantity = Decimal(10)
    secrets: tuple[str, ...] = ()
    statuses = {s.value: s.terminal for s in OrderStatus}
    paper_only = True

    def __init__(self, directory: Path) -> None:
        self.db = directory / "paper.db"
        self.config = PaperConfig(max_volume_share=float(SHARE))
        self.feed = VenueFeed(self.symbol)
        self.slept: list[float] = []
        self._admin = PaperBroker(self.config, lambda: self.feed, self.db)

    def close(self) -> None:
        self._admin.close()

    def _query(self, sql: str, *args: Any) -> int:
        return self._admin.store.conn.execute(sql, args).fetchone()[0]

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def orders_with(self, client_order_id: str) -> int:
        return self._query("SELECT COUNT(*) FROM orders WHERE client_order_id = ?", client_order_id)

    def submit_requests(self) -> int:
        # every submit that reached the account made its order row (a repeated client
        # order id is answered from the account, as the same order)
        return self._query("SELECT COUNT(*) FROM orders")

    def fill(self, client_order_id: str, quantity: Decimal | None = None) -> None:
        """One more bar, with just the volume for the working orders ahead of this one
        (they fill first, in submission order) and ``quantity`` of it."""
        working = self._admin.orders(open_only=True)
        ahead = Decimal(0)
        for order in working:
            if order.client_order_id == client_order_id:
                want = order.quantity - order.filled_quantity if quantity is None else quantity
                self.feed.push((ahead + want) / SHARE)
                self._admin.get_order(client_order_id)  # settles the new bar
                return
            ahead += order.quantity - order.filled_quantity
        raise ValueError(f"paper venue: {client_order_id} is not a working order")

    def set_status(self, client_order_id: str, status: str) -> None:
        target = OrderStatus(status)
        if target is OrderStatus.WORKING:
            return  # a new market order works until the next bar
        if target is OrderStatus.PARTIAL_FILL:
            self.fill(client_order_id, Decimal(1))
        elif target is OrderStatus.FILLED:
            self.fill(client_order_id)
        elif target is OrderStatus.CANCELLED:
            self._admin.cancel(client_order_id)
        else:  # refused after the fact: written into the account as the venue's decision
            store = PaperStore(self.db)
            try:
                with store.transaction():
                    order = store.order(client_order_id)
                    assert order is not None
                    order.status, order.code, order.reason = target, "venue_rejected", "test"
                    store.save_order(order)
            finally:
                store.close()

    def lose_next_response(self, *, submit: bool = True) -> None:
        raise NotImplementedError(NO_TRANSPORT)

    def fail_next(self, status: int, *, count: int = 1, reset_after: float | None = None) -> None:
        raise NotImplementedError(NO_TRANSPORT)

    def reject_next(self, reason: str) -> None:
        self.feed.hide_once = True  # the next new order's symbol is unknown: rejected

    def echo_secrets(self) -> None:
        raise NotImplementedError(NO_TRANSPORT)


class TestPaperBrokerContract(BrokerContract):
    @pytest.fixture
    def venue(self, tmp_path: Path):
        venue = PaperVenue(tmp_path)
        yield venue
        venue.close()

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        # the paper broker has no live endpoint: live and acknowledged change nothing
        return PaperBroker(venue.config, lambda: venue.feed, venue.db)


def test_the_paper_venue_satisfies_the_venue_protocol(tmp_path):
    venue = PaperVenue(tmp_path)
    try:
        assert isinstance(venue, Venue)
    finally:
        venue.close()
