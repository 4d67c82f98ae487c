"""A broker's own request budget refusing a read is the agent's back-pressure, never a
venue failure (docs/operations.md, "Broker request budgets"): a deferred broker's start
checks wait for the next cycle, a refused lookup of an unknown outcome leaves the
broker's health alone, and a refused node read is no incident."""

from __future__ import annotations

from datetime import timedelta

from tradekernel.runtime import Runtime

from .conftest import Scripted
from .test_multi_broker import CONFIG, ONE_ROUTE, Clock, Faults, buys


def _spend(budget) -> None:
    """Other callers in the process took every call of the minute."""
    while budget.take("orders", order=True):
        pass


def test_a_refused_start_check_of_a_deferred_broker_leaves_it_unchecked(kernel_factory):
    faults, scripted = Faults(), Scripted()
    scripted.script = [buys("AAA") for _ in range(3)]
    text = CONFIG.format(routing=ONE_ROUTE, third="") + (
        "\n[budgets]\norder_reserve = 0.0\n[budgets.brokers]\nalpha = 2\n"
    )
    kernel, rec = kernel_factory.build(text, plugins=((faults, "faults"), (scripted, "scripted")))
    faults.down.add("alpha")
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()  # alpha's first start check is counted (1 of 2), then it is down
        assert runtime.router.unchecked == {"alpha"}
        faults.down.clear()
        clock.now += timedelta(hours=2)  # its breaker's cool-down is over: checked again
        runtime.run_cycle()  # the 2nd call goes out, the next start check is refused
        assert runtime.router.unchecked == {"alpha"}
        assert not runtime.router.available["alpha"]
        (skipped,) = [e.fields for e in rec.of("budget", "read_skipped")]
        assert (skipped["node"], skipped["broker"]) == ("start", "alpha")
        assert not rec.of("resilience", "incident")
        assert rec.of("commander", "end")[-1].fields["action"] == "end"


def test_a_refused_lookup_of_an_unknown_outcome_keeps_the_broker_healthy(kernel_factory):
    faults, scripted = Faults(), Scripted()
    scripted.script = [buys("AAA") for _ in range(4)]
    text = CONFIG.format(routing=ONE_ROUTE, third="") + (
        "\n[budgets]\norder_reserve = 0.0\n[budgets.brokers]\nalpha = 50\n"
    )
    kernel, rec = kernel_factory.build(text, plugins=((faults, "faults"), (scripted, "scripted")))
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        faults.lose.add("alpha")  # the submit's answer is lost: an intent left executing
        runtime.run_cycle()
        (stuck,) = runtime.store.list_intents(state="executing")
        faults.down.clear()
        clock.now += timedelta(hours=2)
        budget = runtime.kernel.component("broker", "alpha").request_budget
        router = runtime.router
        router.health["alpha"].breaker.record_success()  # healthy again, budget spent
        router.available["alpha"] = True
        _spend(budget)
        before = len(rec.of("routing", "unhealthy"))
        runtime._resolve_unknown()
        assert budget.usage()["refused"] >= 1
        assert runtime.store.get(stuck.id).state.value == "executing"
        (reconciled,) = [
            e.fields
            for e in rec.of("executor", "reconciled")
            if e.fields.get("intent_id") == stuck.id
        ][-1:]
        assert reconciled["reason"] == "lookup_refused: request_budget_exhausted"
        assert rec.of("routing", "unhealthy")[before:] == []
        assert router.health["alpha"].state == "closed"
