"""An agent that loses its lease sends nothing more: checked at the cycle's start, before
each claim and right before each order; the new holder reconciles what it left."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tradekernel import hookimpl
from tradekernel.api import Decision, Intent, LeaseLost, Runtime, hold_lease
from tradekernel.testing import config_text, kernel_factory  # noqa: F401 - a fixture
from tradekernel_postgres.lease import PostgresLease

from .conftest import Clock


class Buyer:
    """A strategist that buys AAA every cycle, running ``before`` first."""

    def __init__(self) -> None:
        self.before: Callable[[], None] = lambda: None

    def decide(self, inputs: Any) -> Decision:
        self.before()
        intent = Intent.create(
            symbol="AAA", side="buy", quantity=1, strategist="buyer", as_of=inputs.as_of
        )
        return Decision(intents=[intent])

    @hookimpl
    def register_strategists(self, register: Callable) -> None:
        register("buyer", lambda config, ctx: self)


class SharedStore:
    """The part of a shared store the kernel's lease holding asks for."""

    def __init__(self, url: str, clock: Clock, host: str) -> None:
        self.url, self.clock, self.host = url, clock, host

    def lease(self, namespace: str, holder: str) -> PostgresLease:
        return PostgresLease(
            self.url, namespace, holder, ttl=30, clock=self.clock, heartbeat=False, host=self.host
        )


@pytest.fixture
def agent(kernel_factory):  # noqa: F811 - the fixture imported above
    def build(state: str) -> tuple[Any, Any, Buyer]:
        buyer = Buyer()
        text = config_text(
            {"broker": "paper", "strategist": "buyer", "notifiers": [], "metrics_sinks": []},
            '[runtime]\nwatchlist = ["AAA"]\n\n[market_data.synthetic]\nsymbols = ["AAA"]\n'
            '\n[broker.paper]\ndb = "../paper.db"\n',
        ).replace('state_dir = "{state_dir}"', 'state_dir = "{state_dir}"\napproval_mode = "auto"')
        kernel, recorder = kernel_factory.build(text, plugins=[(buyer, "buyer")], state=state)
        return kernel, recorder, buyer

    return build


def submitted(recorder: Any) -> list[str]:
    return [e.fields["intent_id"] for e in recorder.of("executor", "submitted")]


def test_a_lease_taken_over_between_cycles_stops_the_agent_before_its_next_order(
    agent, postgres_url
):
    clock = Clock()
    kernel, recorder, _ = agent("state-a")
    store = SharedStore(postgres_url, clock, "host-a")
    with (
        hold_lease(store, "ns", "run", kernel.emit) as fence,
        Runtime(kernel, fence=fence) as runtime,
    ):
        runtime.start()
        runtime.run_cycle()
        assert len(submitted(recorder)) == 1
        clock.advance(31)  # no heartbeat: expired; another host takes it over
        with PostgresLease(postgres_url, "ns", "run", clock=clock, heartbeat=False):
            state = runtime.run_cycle()
        assert len(submitted(recorder)) == 1 and not state.intents
        assert runtime.stop_requested and isinstance(runtime.lease_lost, LeaseLost)
    [lost] = recorder.of("lease", "lost")
    assert lost.severity == "critical" and "not renewed within 24s" in lost.fields["reason"]
    assert [e.kind for e in recorder.of("lease")] == ["acquired", "lost"]  # no release


def test_a_lease_lost_after_the_claim_leaves_the_intent_for_the_new_holder(agent, postgres_url):
    clock = Clock()
    kernel, recorder, _ = agent("state-a")
    store = SharedStore(postgres_url, clock, "host-a")
    with (
        hold_lease(store, "ns", "run", kernel.emit) as fence,
        Runtime(kernel, fence=fence) as runtime,
    ):
        runtime.start()
        executor = runtime.executor_for("paper")
        executor.checkpoint = lambda point, _id: point == "claimed" and clock.advance(25)
        state = runtime.run_cycle()
        [intent_id] = [i.id for i in state.intents]
        assert submitted(recorder) == [] and runtime.lease_lost is not None
        assert runtime.store.get(intent_id).state.value == "executing"
        broker = kernel.component("broker")
        assert broker.get_order(runtime.store.get(intent_id).client_order_id) is None
    # the agent on the other host takes over and reconciles before trading: sent once
    clock.advance(10)
    kernel_b, recorder_b, _ = agent("state-a")  # the shared store: the same state
    store_b = SharedStore(postgres_url, clock, "host-b")
    with (
        hold_lease(store_b, "ns", "run", kernel_b.emit) as fence_b,
        Runtime(kernel_b, fence=fence_b) as runtime_b,
    ):
        # the stopped agent released its lapsed lease (nobody had taken it): no takeover
        assert [e.kind for e in recorder_b.of("lease")] == ["acquired"]
        [result] = runtime_b.start()
        # found absent and sent once more under the new lease; a paper account has no
        # price before its first bar, so it answers with a rejection: settled either way
        assert (result.intent_id, result.action) == (intent_id, "failed")
        assert result.reason.startswith("broker_rejected: no_price")
        assert runtime_b.store.get(intent_id).state.value == "failed"
