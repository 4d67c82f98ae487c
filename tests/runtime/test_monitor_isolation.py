"""One order the broker cannot answer about does not stop the monitor for the others.

An error reading one order (its lookup or its fills) is that order's alone: a
``monitor.order_failed`` event, the order asked again next cycle, every other order
monitored as usual. With one broker, a cycle with such errors counts one incident (as a
failed node would), so a broker that keeps failing still leads to the cooldown and degrade
mode; the cycle itself is not cancelled."""

from __future__ import annotations

from decimal import Decimal

from tradekernel import hookimpl
from tradekernel.models import Account, Decision, Fill, Intent, Order, OrderStatus
from tradekernel.runtime import Runtime

from .conftest import Scripted


class TwoOrders:
    """AAA is answered filled; BBB is answered working and filled by the time it is
    looked up. ``broken`` maps a symbol to the call that raises for its order
    (``fills`` or ``get_order``), until the test clears it."""

    live_capable = False

    def __init__(self) -> None:
        self.book: dict[str, Order] = {}
        self.requests: dict[str, object] = {}
        self.broken: dict[str, str] = {}
        self.asked: dict[str, int] = {}

    @hookimpl
    def register_brokers(self, register) -> None:
        register("two", lambda config, ctx: self)

    def _order(self, request, status: OrderStatus) -> Order:
        filled = request.quantity if status is OrderStatus.FILLED else Decimal(0)
        return Order(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            status=status,
            broker_order_id="b-" + request.symbol,
            filled_quantity=filled,
            avg_fill_price=Decimal(100) if filled else None,
        )

    def _call(self, what: str, coid: str):
        request = self.requests[coid]
        self.asked[f"{request.symbol}.{what}"] = self.asked.get(f"{request.symbol}.{what}", 0) + 1
        if self.broken.get(request.symbol) == what:
            raise RuntimeError(f"{what} of {request.symbol}: the venue's answer is inconsistent")
        return request

    def submit(self, request) -> Order:
        self.requests[request.client_order_id] = request
        status = OrderStatus.FILLED if request.symbol == "AAA" else OrderStatus.WORKING
        self.book[request.client_order_id] = self._order(request, status)
        return self.book[request.client_order_id]

    def get_order(self, coid: str) -> Order | None:
        request = self._call("get_order", coid)
        self.book[coid] = self._order(request, OrderStatus.FILLED)
        return self.book[coid]

    def fills(self, coid: str | None = None) -> list[Fill]:
        request = self._call("fills", coid)
        return [
            Fill("f-" + request.symbol, coid, request.symbol, request.side, request.quantity, 100)
        ]

    def cancel(self, coid: str) -> Order | None:
        return self.book.get(coid)

    def orders(self, *, open_only: bool = False) -> list[Order]:
        return [o for o in self.book.values() if not (open_only and o.terminal)]

    def positions(self) -> list:
        return []

    def account(self) -> Account:
        return Account(cash=Decimal(100000), equity=Decimal(100000))


def _both(inputs) -> Decision:
    return Decision(
        intents=[
            Intent.create(
                symbol=s, side="buy", quantity=2, strategist="scripted", as_of=inputs.as_of
            )
            for s in ("AAA", "BBB")
        ]
    )


def _run(make_kernel, broken: dict[str, str], cycles: int = 4):
    broker, scripted = TwoOrders(), Scripted()
    broker.broken = dict(broken)
    scripted.script = [_both]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        plugins=((scripted, "scripted"), (broker, "two")),
        environ={"TRADEKERNEL_COMPONENTS__BROKER": "two"},
    )
    runtime = Runtime(kernel)
    runtime.start()
    states = [runtime.run_cycle() for _ in range(cycles)]
    return runtime, broker, rec, states


def _record(runtime: Runtime, symbol: str):
    (record,) = [
        r for r in runtime.store.latest_intents("submitted", 10) if r.intent.symbol == symbol
    ]
    return record


def test_one_orders_failing_fills_do_not_stop_the_monitor_for_the_others(make_kernel):
    runtime, broker, rec, states = _run(make_kernel, {"AAA": "fills"})
    with runtime:
        bbb = _record(runtime, "BBB")
        assert bbb.order_status == "filled"
        assert [f.fill_id for f in runtime.store.fills(bbb.client_order_id)] == ["f-BBB"]
        aaa = _record(runtime, "AAA")
        assert runtime.store.fills(aaa.client_order_id) == []
        failed = rec.of("monitor", "order_failed")
        assert len(failed) == 4 == broker.asked["AAA.fills"]  # asked again every cycle
        assert {e.fields["client_order_id"] for e in failed} == {aaa.client_order_id}
        assert {e.fields["call"] for e in failed} == {"fills"}
        assert all("inconsistent" in e.fields["error"] for e in failed)
        # one broker: each cycle with a failed read is an incident; no cycle is cancelled
        assert len(rec.of("resilience", "incident")) == 4
        assert not [e for e in rec.of("commander", "route") if e.fields["action"] == "cancel"]
        assert all(rec_end.fields["action"] == "end" for rec_end in rec.of("commander", "end"))

        broker.broken.clear()  # the venue answers again: AAA's fills are recorded
        runtime.run_cycle()
        assert [f.fill_id for f in runtime.store.fills(aaa.client_order_id)] == ["f-AAA"]
    assert len(states) == 4


def test_one_orders_failing_lookup_does_not_stop_the_monitor_for_the_others(make_kernel):
    runtime, broker, rec, _ = _run(make_kernel, {"BBB": "get_order"}, cycles=3)
    with runtime:
        assert [f.fill_id for f in runtime.store.fills(_record(runtime, "AAA").client_order_id)]
        bbb = _record(runtime, "BBB")
        assert bbb.order_status == "working"  # not known to be filled: still monitored
        assert broker.asked["BBB.get_order"] == 3
        assert {e.fields["call"] for e in rec.of("monitor", "order_failed")} == {"lookup"}

        broker.broken.clear()
        runtime.run_cycle()
        bbb = _record(runtime, "BBB")
        assert bbb.order_status == "filled"
        assert [f.fill_id for f in runtime.store.fills(bbb.client_order_id)] == ["f-BBB"]


class SixWorking(TwoOrders):
    """Orders that stay working (three of each watched symbol); once ``down``, every read
    of any order raises."""

    SYMBOLS = ("AAA", "BBB")
    down = False

    def submit(self, request) -> Order:
        self.requests[request.client_order_id] = request
        self.book[request.client_order_id] = self._order(request, OrderStatus.WORKING)
        return self.book[request.client_order_id]

    def _call(self, what: str, coid: str):
        self.asked[what] = self.asked.get(what, 0) + 1
        if self.down:
            raise TimeoutError("the venue does not answer")
        return self.requests[coid]

    def get_order(self, coid: str) -> Order | None:
        self._call("get_order", coid)
        return self.book[coid]

    def fills(self, coid: str | None = None) -> list[Fill]:
        self._call("fills", coid)
        return []


def test_a_broker_that_stops_answering_is_asked_a_few_times_a_cycle_not_once_per_order(
    make_kernel,
):
    broker, scripted = SixWorking(), Scripted()
    scripted.script = [
        lambda inputs: Decision(
            intents=[
                Intent.create(
                    symbol=s, side="buy", quantity=q, strategist="scripted", as_of=inputs.as_of
                )
                for s in SixWorking.SYMBOLS
                for q in (1, 2, 3)
            ]
        )
    ]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        plugins=((scripted, "scripted"), (broker, "two")),
        environ={"TRADEKERNEL_COMPONENTS__BROKER": "two"},
    )
    runtime = Runtime(kernel)
    with runtime:
        runtime.start()
        runtime.run_cycle()
        assert len(runtime.store.list_intents(state="submitted", open_orders=True)) == 6
        broker.down, broker.asked = True, {}
        runtime.run_cycle()
        # every read would time out: three are tried, the other orders wait for the next cycle
        assert sum(broker.asked.values()) == 3
        assert len(rec.of("monitor", "order_failed")) == 3


def test_reads_refused_by_the_brokers_own_budget_are_skipped_not_failed(make_kernel):
    """The broker's request budget spent: the monitor skips its reads this cycle (one
    ``budget.read_skipped``), neither ``monitor.order_failed`` nor an incident; the report
    keeps the cycle's account."""
    broker, scripted = SixWorking(), Scripted()
    scripted.script = [_both]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        plugins=((scripted, "scripted"), (broker, "two")),
        environ={
            "TRADEKERNEL_COMPONENTS__BROKER": "two",
            "TRADEKERNEL_BUDGETS__BROKERS__TWO": "1000",
        },
    )
    with Runtime(kernel) as runtime:
        runtime.start()
        runtime.run_cycle()  # two orders sent, both working
        budget = runtime.kernel.component("broker").request_budget
        while budget.take("orders"):
            pass  # the readers' share is spent by other callers in the process
        asked = dict(broker.asked)
        state = runtime.run_cycle()
        assert broker.asked == asked  # nothing was asked
        skipped = [e.fields for e in rec.of("budget", "read_skipped")]
        assert [s["node"] for s in skipped if s["node"] in ("monitor", "report")] == [
            "monitor",
            "report",
        ]
        assert not rec.of("monitor", "order_failed")
        assert not rec.of("resilience", "incident")
        assert rec.of("commander", "end")[-1].fields["action"] == "end"
        assert state.account is not None
