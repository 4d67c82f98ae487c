"""An order first recorded already done still has its fills recorded, once.

The monitor polls the orders not yet known to be done. A venue that fills a market order
before answering (the answer says ``filled``), or an order a reconcile finds filled after
its answer was lost, is recorded terminal at once: its fills are read at the next
monitor, and only while the store holds less than the order's filled quantity. A venue
whose fill feed lags its order status (fills served by another endpoint than the order)
is asked again each cycle, up to ``FILLS_DUE_CYCLES`` times, then ``monitor.fills_missing``
names the order and what is missing."""

from __future__ import annotations

from decimal import Decimal

import attrs
from tradekernel import hookimpl
from tradekernel.components import SubmitOutcomeUnknown
from tradekernel.models import Account, Fill, Order, OrderStatus
from tradekernel.runtime import Runtime
from tradekernel.runtime.nodes import FILLS_DUE_CYCLES

from .conftest import Scripted, buy


class InstantBroker:
    """A venue that executes a market order in full before it answers, in two fills.
    ``lose``: the answer of the next submit is lost and so is the lookup after it.
    ``lag``: that many reads of the fills find none yet (a fill feed behind the order's
    status). ``working_first``: the submit answers ``working``; the order is filled by
    the time it is looked up."""

    live_capable = False

    def __init__(self) -> None:
        self.book: dict[str, Order] = {}
        self.executions: dict[str, list[Fill]] = {}
        self.lose = False
        self.blind = 0
        self.fill_reads = 0
        self.lag = 0
        self.working_first = False

    @hookimpl
    def register_brokers(self, register) -> None:
        register("instant", lambda config, ctx: self)

    def submit(self, request) -> Order:
        coid = request.client_order_id
        if coid not in self.book:
            half = request.quantity / 2
            self.executions[coid] = [
                Fill(f"{coid}-{n}", coid, request.symbol, request.side, half, Decimal(100))
                for n in (1, 2)
            ]
            self.book[coid] = Order(
                client_order_id=coid,
                symbol=request.symbol,
                side=request.side,
                quantity=request.quantity,
                status=OrderStatus.FILLED,
                broker_order_id=f"b-{coid}",
                filled_quantity=request.quantity,
                avg_fill_price=Decimal(100),
            )
        if self.lose:
            self.lose, self.blind = False, 1
            raise SubmitOutcomeUnknown("the answer was lost")
        if self.working_first:
            return attrs.evolve(
                self.book[coid], status=OrderStatus.WORKING, filled_quantity=Decimal(0)
            )
        return self.book[coid]

    def get_order(self, client_order_id: str) -> Order | None:
        if self.blind:
            self.blind -= 1
            raise ConnectionError("the venue does not answer")
        return self.book.get(client_order_id)

    def cancel(self, client_order_id: str) -> Order | None:
        return self.book.get(client_order_id)

    def orders(self, *, open_only: bool = False) -> list[Order]:
        return [o for o in self.book.values() if not (open_only and o.terminal)]

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        self.fill_reads += 1
        if self.fill_reads <= self.lag:
            return []
        if client_order_id is None:
            return [f for fills in self.executions.values() for f in fills]
        return list(self.executions.get(client_order_id, []))

    def positions(self) -> list:
        return []

    def account(self) -> Account:
        return Account(cash=Decimal(100000), equity=Decimal(100000))


def _build(make_kernel, broker: InstantBroker, scripted: Scripted):
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        plugins=((scripted, "scripted"), (broker, "instant")),
        environ={"TRADEKERNEL_COMPONENTS__BROKER": "instant"},
    )
    return kernel, rec


def _fill_events(rec) -> list[str]:
    return [e.fields["fill_id"] for e in rec.of("monitor", "fill")]


def test_an_order_answered_filled_has_its_fills_recorded_once(make_kernel):
    broker, scripted = InstantBroker(), Scripted()
    scripted.script = [buy("AAA", 4)]
    kernel, rec = _build(make_kernel, broker, scripted)
    with Runtime(kernel) as runtime:
        runtime.start()
        first = runtime.run_cycle()
        assert len(first.submitted) == 1
        (coid,) = broker.book
        for _ in range(3):
            runtime.run_cycle()
        recorded = runtime.store.fills(coid)
    assert sorted(f.fill_id for f in recorded) == [f"{coid}-1", f"{coid}-2"]
    assert sorted(_fill_events(rec)) == [f"{coid}-1", f"{coid}-2"]
    assert broker.fill_reads == 1  # asked once, not every cycle


def test_an_order_a_reconcile_finds_filled_has_its_fills_recorded(make_kernel):
    broker, scripted = InstantBroker(), Scripted()
    scripted.script = [buy("AAA", 4)]
    broker.lose = True
    kernel, _rec = _build(make_kernel, broker, scripted)
    with Runtime(kernel) as runtime:
        runtime.start()
        runtime.run_cycle()
        (coid,) = broker.book
        assert runtime.store.fills(coid) == []  # still executing: the lookup failed
    kernel.close()
    kernel, rec = _build(make_kernel, broker, Scripted())
    with Runtime(kernel) as runtime:
        (result,) = runtime.start()  # the restart reconciles: found, already filled
        assert result.action == "found"
        assert runtime.store.fills(coid) == []
        runtime.run_cycle()
        runtime.run_cycle()
        recorded = runtime.store.fills(coid)
    assert sorted(f.fill_id for f in recorded) == [f"{coid}-1", f"{coid}-2"]
    assert sorted(_fill_events(rec)) == [f"{coid}-1", f"{coid}-2"]


def _lagging(make_kernel, *, lag: int, working_first: bool, cycles: int):
    broker, scripted = InstantBroker(), Scripted()
    broker.lag, broker.working_first = lag, working_first
    scripted.script = [buy("AAA", 4)]
    kernel, rec = _build(make_kernel, broker, scripted)
    with Runtime(kernel) as runtime:
        runtime.start()
        runtime.run_cycle()
        (coid,) = broker.book
        for _ in range(cycles - 1):
            runtime.run_cycle()
        recorded = [f.fill_id for f in runtime.store.fills(coid)]
    return broker, rec, coid, recorded


def test_an_order_answered_filled_whose_fills_lag_has_them_recorded(make_kernel):
    broker, rec, coid, recorded = _lagging(make_kernel, lag=2, working_first=False, cycles=6)
    assert sorted(recorded) == [f"{coid}-1", f"{coid}-2"]
    assert sorted(_fill_events(rec)) == [f"{coid}-1", f"{coid}-2"]
    assert broker.fill_reads == 3  # asked until complete, then no more
    assert not rec.of("monitor", "fills_missing")


def test_an_order_seen_filled_whose_fills_lag_has_them_recorded(make_kernel):
    """The monitor reads an order's fills in the pass that sees it finish; a feed one read
    behind the status must not lose them once the order is no longer open."""
    broker, _rec, coid, recorded = _lagging(make_kernel, lag=1, working_first=True, cycles=4)
    assert sorted(recorded) == [f"{coid}-1", f"{coid}-2"]
    assert broker.fill_reads == 2


def test_fills_that_never_come_are_asked_a_bounded_number_of_times_then_reported(make_kernel):
    cycles = FILLS_DUE_CYCLES + 5
    broker, rec, coid, recorded = _lagging(
        make_kernel, lag=10**6, working_first=False, cycles=cycles
    )
    assert recorded == []
    assert broker.fill_reads == FILLS_DUE_CYCLES
    (event,) = rec.of("monitor", "fills_missing")
    assert event.severity == "warning"
    assert event.fields["client_order_id"] == coid
    assert Decimal(event.fields["missing"]) == 4
    assert event.fields["cycles"] == FILLS_DUE_CYCLES
