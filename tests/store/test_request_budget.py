"""Broker request budgets: the sliding minute, the order reserve, the process-wide
sharing, and the executor holding an order (never splitting or repeating it) when the
budget is spent. Every clock is injected."""

from __future__ import annotations

import threading

import pytest
from tradekernel.errors import RefusedError
from tradekernel.execution import Executor
from tradekernel.request_budget import (
    BudgetedBroker,
    RequestBudget,
    RequestBudgetExhausted,
    broker_budget,
    broker_budgets,
)
from tradekernel.store import IntentState


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_reads_stop_at_the_reserve_and_orders_use_it():
    clock = Clock()
    budget = RequestBudget("b", 10, reserve=0.2, clock=clock)
    assert budget.reserve == 2
    assert all(budget.take("orders") for _ in range(8))
    assert not budget.take("orders")  # the last two are kept for orders
    assert budget.admit_order()
    assert budget.take("cancel", order=True) and budget.take("cancel", order=True)
    assert not budget.admit_order() and not budget.take("cancel", order=True)
    usage = budget.usage()
    assert (usage["used"], usage["remaining"], usage["refused"]) == (10, 0, 3)
    assert usage["calls"] == {"cancel": 2, "orders": 8}


def test_the_window_slides_second_by_second():
    clock = Clock()
    budget = RequestBudget("b", 3, clock=clock)
    for step in range(3):
        clock.now = 1000.0 + step * 20
        assert budget.take("account")
    assert not budget.take("account")
    clock.now = 1059.9  # the first call (t=1000) is still inside the minute
    assert not budget.take("account")
    clock.now = 1060.0
    assert budget.take("account") and budget.used() == 3
    clock.now = 1000.0  # a clock stepping back never resurrects spent calls
    assert not budget.take("account")
    clock.now = 5000.0  # a long pause empties the window
    assert budget.used() == 0


def test_concurrent_callers_never_exceed_the_budget():
    budget = RequestBudget("b", 500, clock=Clock())
    taken: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [budget.take("fills") for _ in range(200)]
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(taken) == 500 and budget.used() == 500 and budget.refused == 1100


def test_one_budget_per_agent_and_broker_in_the_process_and_the_smallest_wins():
    first = broker_budget("shared", 100, reserve=0.1, agent="/agents/a")
    again = broker_budget("shared", 500, agent="/agents/a")
    lower = broker_budget("shared", 40, agent="/agents/a")
    assert first is again is lower and (first.per_minute, first.reserve) == (40, 4)
    other = broker_budget("shared", 100, agent="/agents/b")
    assert other is not first and other.per_minute == 100
    assert broker_budgets("/agents/a") == [first] and other in broker_budgets()


def _budgeted(broker, per_minute, clock, events):
    budget = RequestBudget("rec", per_minute, reserve=0.5, clock=clock)
    emit = lambda stage, kind, **f: events.append((stage, kind, f))  # noqa: E731
    return BudgetedBroker(broker, budget, emit)


def test_a_spent_budget_holds_the_order_before_the_claim(store, settings, broker_factory, helpers):
    clock, events = Clock(), []
    broker = _budgeted(broker_factory(), 4, clock, events)
    executor = Executor(store, broker, broker_name="rec", settings=settings)
    first, second = helpers.add_approved(store, 2)
    assert executor.execute(first).outcome == "submitted"  # counted: 1 of 4
    for _ in range(3):
        broker.request_budget.count("submit")  # other callers spend the rest
    with pytest.raises(RefusedError, match=r"request_budget_exhausted.*nothing was sent"):
        executor.execute(second)
    record = store.get(second)
    assert record.state is IntentState.APPROVED  # untouched: retried next cycle
    assert broker.wrapped.count(record.client_order_id) == 0
    assert [(s, k) for s, k, _ in events] == [("budget", "broker_refused")]
    assert events[0][2]["method"] == "submit"
    clock.now += 60  # the minute has passed
    assert executor.execute(second).outcome == "submitted"
    assert broker.wrapped.count(record.client_order_id) == 1
    assert store.verify_journal().ok


def test_an_admitted_submit_is_never_refused_or_split(store, settings, broker_factory, helpers):
    """A read taking the last call between the admission and the submit does not stop
    the submit: the window may go over by the concurrent submits, never lose one."""
    clock, events = Clock(), []
    broker = _budgeted(broker_factory(), 2, clock, events)
    (iid,) = helpers.add_approved(store, 1)
    executor = Executor(store, broker, broker_name="rec", settings=settings)
    assert broker.request_budget.take("positions")  # 1 of 2 (the reserve is 1)
    executor._point = lambda point, _id: (  # a read races in after the claim
        point == "claimed" and broker.request_budget.take("fills", order=True)
    )
    result = executor.execute(iid)
    assert result.outcome == "submitted"
    assert broker.wrapped.count(store.get(iid).client_order_id) == 1
    assert broker.request_budget.used() == 3


def test_reads_over_the_budget_are_refused_with_one_event_a_minute(broker_factory):
    clock, events = Clock(), []
    broker = _budgeted(broker_factory(), 4, clock, events)
    assert broker.get_order("x") is None and broker.get_order("y") is None  # 2 = 4 - reserve
    for _ in range(3):
        with pytest.raises(RequestBudgetExhausted, match="get_order was not sent"):
            broker.get_order("z")
    assert len(events) == 1 and events[0][2]["refused"] == 1
    clock.now += 61
    broker.get_order("a")
    broker.get_order("b")
    with pytest.raises(RequestBudgetExhausted) as refused:
        broker.get_order("c")
    assert refused.value.exit_code == 3
    assert [f["refused"] for _, _, f in events] == [1, 3]  # the two unreported, and this one
    assert broker.live_capable is broker.wrapped.live_capable  # the rest is the broker's


def _stuck(store, helpers):
    """An intent claimed and never sent (a crash between the claim and the submit)."""
    (iid,) = helpers.add_approved(store, 1)
    store.transition(iid, IntentState.EXECUTING, expected_from=IntentState.APPROVED, actor="x")
    return iid


def test_reconcile_resubmits_only_within_the_budget(store, settings, broker_factory, helpers):
    clock, events = Clock(), []
    broker = BudgetedBroker(
        broker_factory(), RequestBudget("rec", 3, clock=clock), lambda *a, **k: None
    )
    iid = _stuck(store, helpers)
    executor = Executor(store, broker, broker_name="rec", settings=settings)
    broker.request_budget.count("orders")
    broker.request_budget.count("orders")
    # the lookup takes the last call: confirmed absent, but no call is left to resubmit
    (result,) = executor.resolve_pending()
    assert (result.action, result.reason) == ("still_unknown", "request_budget_exhausted")
    assert store.get(iid).state is IntentState.EXECUTING
    assert broker.wrapped.count() == 0
    (result,) = executor.resolve_pending()  # the lookup itself is refused now
    assert result.action == "still_unknown" and "lookup_refused" in result.reason and result.refused
    clock.now += 60
    (result,) = executor.resolve_pending()
    assert result.action == "resubmitted"
    assert broker.wrapped.count(store.get(iid).client_order_id) == 1
    assert events == [] and store.verify_journal().ok


@pytest.mark.parametrize(
    ("per_minute", "share", "reserve"),
    [
        (9, 0.1, 1),
        (2, 0.1, 1),
        (19, 0.05, 1),
        (10, 0.1, 1),
        (10, 0.3, 3),
        (11, 0.1, 2),
        (5, 0.0, 0),
        (1, 0.0, 0),
        (3, 0.99, 2),
    ],
)
def test_the_reserve_is_rounded_up_to_a_whole_call(per_minute, share, reserve):
    budget = RequestBudget("b", per_minute, reserve=share, clock=Clock())
    assert budget.reserve == reserve
    while budget.take("get_order"):
        pass  # reads take every call they may
    assert budget.admit_order() is (reserve > 0)  # an order still has its call
    assert budget.usage()["used"] == per_minute - reserve


def test_refusals_during_a_slow_event_are_all_reported():
    """Refusals counted while another thread writes the event are in the next event."""
    clock = Clock()
    events: list[dict] = []
    inside, release = threading.Event(), threading.Event()

    def emit(stage, kind, **fields):
        events.append(fields)
        if len(events) == 1:
            inside.set()
            release.wait(5)  # a slow sink

    class Venue:
        def account(self):
            return "account"

    broker = BudgetedBroker(Venue(), RequestBudget("b", 1, clock=clock), emit)
    broker.account()

    def refused() -> None:
        with pytest.raises(RequestBudgetExhausted):
            broker.account()

    first = threading.Thread(target=refused)
    first.start()
    assert inside.wait(5)
    for _ in range(5):
        with pytest.raises(RequestBudgetExhausted):
            broker.account()
    release.set()
    first.join()
    clock.now += 61  # the next minute's first refusal reports what was not reported yet
    broker.account()
    with pytest.raises(RequestBudgetExhausted):
        broker.account()
    assert sum(e["refused"] for e in events) == broker.request_budget.refused == 7


def test_a_failed_event_keeps_its_refusals_for_the_next_one():
    clock = Clock()
    fail = [True]
    events: list[dict] = []

    def emit(stage, kind, **fields):
        if fail.pop():
            raise OSError("sink down")
        events.append(fields)

    class Venue:
        def account(self):
            return "account"

    broker = BudgetedBroker(Venue(), RequestBudget("b", 1, clock=clock), emit)
    broker.account()
    with pytest.raises(OSError):
        broker.account()
    clock.now += 61
    fail.append(False)
    broker.account()
    with pytest.raises(RequestBudgetExhausted):
        broker.account()
    assert [e["refused"] for e in events] == [2]


def test_order_constraints_are_counted_and_never_refused():
    class Venue:
        live_capable = False

        def __init__(self):
            self.requests = 0

        def order_constraints(self, symbol):
            self.requests += 1
            return None

    venue = Venue()
    budget = RequestBudget("alpaca", 3, clock=Clock())
    broker = BudgetedBroker(venue, budget, lambda *a, **k: None)
    for symbol in ("AAA", "BBB", "CCC", "DDD"):  # the last one over the budget: still sent
        broker.order_constraints(symbol)
    assert budget.used() == venue.requests == 4
    assert budget.usage()["calls"] == {"order_constraints": 4} and budget.refused == 0


def test_a_refusal_names_its_broker_and_call():
    broker = BudgetedBroker(
        object(), RequestBudget("b", 2, reserve=0.5, clock=Clock()), lambda *a, **k: None
    )
    broker.request_budget.take("orders")
    with pytest.raises(RequestBudgetExhausted) as info:
        broker.positions()
    assert (info.value.broker, info.value.method) == ("b", "positions")
