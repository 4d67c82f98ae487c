"""An order first recorded already done still has its fills recorded, once.

The monitor polls the orders not yet known to be done. A venue that fills a market order
before answering (the answer says ``filled``), or an order a reconcile finds filled after
its answer was lost, is recorded terminal at once: its fills are read at the next
monitor, and only while the store holds less than the order's filled quantity."""

from __future__ import annotations

from decimal import Decimal

from tradekernel import hookimpl
from tradekernel.components import SubmitOutcomeUnknown
from tradekernel.models import Account, Fill, Order, OrderStatus
from tradekernel.runtime import Runtime

from .conftest import Scripted, buy


class InstantBroker:
    """A venue that executes a market order in full before it answers, in two fills.
    ``lose``: the answer of the next submit is lost and so is the lookup after it."""

    live_capable = False

    def __init__(self) -> None:
        self.book: dict[str, Order] = {}
        self.executions: dict[str, list[Fill]] = {}
        self.lose = False
        self.blind = 0
        self.fill_reads = 0

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
