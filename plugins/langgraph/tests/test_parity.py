"""Parity: the same seeded runs through the native commander and the LangGraph runtime
give the same intents, journal rows, orders, fills and events (see parity.py)."""

from __future__ import annotations

import os
import signal
import textwrap
from datetime import timedelta

import pytest
from tradekernel import hookimpl
from tradekernel.api import Decision, Intent, Runtime, SkillResult, run_cycles
from tradekernel_openai_compatible.scripted import ScriptedChatServer

from .conftest import BASE, RUNTIMES, Clock, Flaky, Scripted, buy, write_replay
from .parity import Outcome, assert_same, outcome

FAIL = Decision.hold("provider failed", error_type="provider_timeout")


def parity(run) -> dict[str, Outcome]:
    """``run(runtime)`` -> Outcome for each runtime; asserts they are the same."""
    results = {name: run(name) for name in RUNTIMES}
    assert_same(results["native"], results["langgraph"])
    return results


def test_synthetic_data_sma_cross_auto_approval(make_kernel):
    def run(name):
        kernel, rec = make_kernel(name, bars=160)
        with Runtime(kernel) as rt:
            states = run_cycles(rt, cycles=None, keep=True)
            assert rt.exhausted
            assert sum(len(s.submitted) for s in states) >= 2
            return outcome(rt.store, rec)

    results = parity(run)
    assert results["native"].fills and results["native"].orders


def test_replay_data(make_kernel, tmp_path):
    data = write_replay(tmp_path / "data")
    extra = f'\n[market_data.replay]\npaths = ["{data}"]\n'

    def run(name):
        kernel, rec = make_kernel(name, market_data="replay", extra=extra)
        with Runtime(kernel) as rt:
            run_cycles(rt, cycles=None)
            return outcome(rt.store, rec)

    assert parity(run)["native"].fills


def test_the_llm_strategist_against_a_local_server(make_kernel):
    def run(name):
        with ScriptedChatServer() as server:
            kernel, rec = make_kernel(
                name,
                strategist="llm",
                environ={
                    "TRADEKERNEL_COMPONENTS__LLM_PROVIDER": "openai-compatible",
                    "TRADEKERNEL_LLM_PROVIDER__OPENAI_COMPATIBLE__BASE_URL": server.base_url,
                    "TRADEKERNEL_LLM_PROVIDER__OPENAI_COMPATIBLE__MODEL": "scripted/demo",
                },
            )
            with Runtime(kernel) as rt:
                run_cycles(rt, cycles=12)
                return outcome(rt.store, rec)

    result = parity(run)["native"]
    assert any(e[:2] == ("strategist", "decision") for e in result.events)
    assert result.orders


def test_manual_approval_through_the_store(make_kernel):
    def run(name):
        scripted = Scripted([buy("AAA", 5), Decision.hold("wait")])
        kernel, rec = make_kernel(
            name, approval="manual", strategist="scripted", plugins=((scripted, "s"),)
        )
        with Runtime(kernel) as rt:
            rt.start()
            pending = rt.run_cycle().pending
            assert pending
            rt.approvals.approve(pending[0], actor="alice")
            assert rt.run_cycle().submitted == pending
            return outcome(rt.store, rec)

    parity(run)


def test_a_retry_then_success_and_a_node_failing_for_good(make_kernel):
    def run(name):
        flaky = Flaky(1)
        kernel, rec = make_kernel(
            name,
            strategist="hold",
            plugins=((flaky, "flaky"),),
            environ={"TRADEKERNEL_COMPONENTS__MARKET_DATA": "flaky"},
        )
        with Runtime(kernel) as rt:
            rt.start()
            rt.run_cycle()
            flaky.failures = 99
            rt.run_cycle()
            return outcome(rt.store, rec)

    events = parity(run)["native"].events
    actions = [e[2].get("action") for e in events if e[:2] == ("commander", "route")]
    assert actions.count("retry") == 3 and "cancel" in actions


def test_incidents_cool_down_the_strategist(make_kernel):
    def run(name):
        flaky = Flaky(6)  # two cycles fail for good: two incidents
        kernel, rec = make_kernel(
            name,
            plugins=((flaky, "flaky"),),
            environ={
                "TRADEKERNEL_COMPONENTS__MARKET_DATA": "flaky",
                "TRADEKERNEL_RUNTIME__INCIDENT_THRESHOLD": "2",
            },
        )
        with Runtime(kernel, clock=Clock()) as rt:
            run_cycles(rt, cycles=4)
            return outcome(rt.store, rec)

    events = parity(run)["native"].events
    assert any(e[2].get("action") == "cooldown_wait" for e in events)


def test_pause_and_resume(make_kernel):
    def run(name):
        scripted = Scripted([buy("AAA", 5)])
        kernel, rec = make_kernel(name, strategist="scripted", plugins=((scripted, "s"),))
        with Runtime(kernel) as rt:
            rt.start()
            rt.control.pause(actor="alice", reason="lunch")
            rt.run_cycle()
            rt.control.resume(actor="alice")
            assert rt.run_cycle().submitted
            return outcome(rt.store, rec)

    events = parity(run)["native"].events
    assert any(e[2].get("action") == "pause" for e in events if e[:2] == ("commander", "end"))


def test_the_breaker_opens_and_closes(make_kernel):
    def run(name):
        scripted = Scripted([FAIL, FAIL, buy("AAA", 5)])
        kernel, rec = make_kernel(name, strategist="scripted", plugins=((scripted, "s"),))
        clock = Clock()
        with Runtime(kernel, clock=clock) as rt:
            rt.start()
            for _ in range(3):
                rt.run_cycle()
            assert rt.breaker.state == "open"
            clock.now += timedelta(minutes=6)
            rt.run_cycle()
            assert rt.breaker.state == "closed"
            return outcome(rt.store, rec)

    kinds = {e[1] for e in parity(run)["native"].events if e[0] == "resilience"}
    assert {"breaker_opened", "breaker_half_open", "breaker_closed", "degrade_entered"} <= kinds


def test_degrade(make_kernel):
    def run(name):
        scripted = Scripted([buy("AAA", 10), buy("BBB", 10)])
        kernel, rec = make_kernel(
            name,
            strategist="scripted",
            guards='["allowlist", "max_order_notional"]',
            extra='\n[guard.allowlist]\nsymbols = ["AAA"]\n',
            plugins=((scripted, "s"),),
        )
        with Runtime(kernel, clock=Clock()) as rt:
            rt.start()
            rt.control.enter_degrade(reason="test")
            assert rt.run_cycle().pending
            assert rt.run_cycle().blocked
            return outcome(rt.store, rec)

    parity(run)


def test_shadow_mode(make_kernel):
    def run(name):
        kernel, rec = make_kernel(name, bars=160)
        with Runtime(kernel, mode="shadow") as rt:
            states = run_cycles(rt, cycles=None)
            assert any(s.proposed for s in states) and not any(s.submitted for s in states)
            return outcome(rt.store, rec)

    parity(run)


def test_a_sigterm_in_the_middle_of_a_cycle(make_kernel):
    def run(name):
        def decide(inputs):
            os.kill(os.getpid(), signal.SIGTERM)  # handled by run_cycles: stop after the node
            return buy("AAA", 5)(inputs)

        scripted = Scripted([decide])
        kernel, rec = make_kernel(name, strategist="scripted", plugins=((scripted, "s"),))
        with Runtime(kernel) as rt:
            states = run_cycles(rt, cycles=5)
            # stopped after strategize: nothing recorded, nothing sent
            assert len(states) == 1 and states[0].intents and not states[0].proposed
            return outcome(rt.store, rec)

    ends = [e for e in parity(run)["native"].events if e[:2] == ("commander", "end")]
    assert ends[-1][2]["reason"] == "stop requested"


class Analyst:
    """A plugin node before strategize."""

    before = "strategize"
    role = "Analyst"

    def run(self, state):
        up = sorted(s for s, bars in state.bars.items() if bars and bars[-1].close > bars[0].close)
        return {"analyst.trend": SkillResult(name="analyst.trend", ok=True, data={"up": up})}

    @hookimpl
    def register_nodes(self, register):
        register("trend-analyst", lambda config, ctx: self)


def test_a_plugin_node_runs_in_both(make_kernel):
    def run(name):
        seen = []

        def decide(inputs):
            seen.append(inputs.skill_results["analyst.trend"].data)
            return buy("AAA", 5)(inputs)

        scripted = Scripted([decide])
        kernel, rec = make_kernel(
            name,
            strategist="scripted",
            plugins=((Analyst(), "analyst"), (scripted, "s")),
            environ={"TRADEKERNEL_COMPONENTS__NODES": '["trend-analyst"]'},
        )
        with Runtime(kernel) as rt:
            run_cycles(rt, cycles=2)
            assert seen and "up" in seen[0]
            return outcome(rt.store, rec)

    events = parity(run)["native"].events
    assert ("commander", "transition") in {e[:2] for e in events}
    assert any(e[2].get("node") == "trend-analyst" for e in events)


class Crash(BaseException):
    """The process dies here (nothing below the runtime catches it)."""


class CrashingGuard:
    def check(self, intent, ctx):
        raise Crash

    @hookimpl
    def register_guards(self, register):
        register("crash", lambda config, ctx: self)


@pytest.mark.parametrize("restart", RUNTIMES)
def test_recovery_after_a_crash_gives_the_same_store(make_kernel, restart):
    def run(name):
        scripted = Scripted([buy("AAA", 5)])
        plugins = ((scripted, "s"), (CrashingGuard(), "crash"))
        kernel, rec = make_kernel(name, strategist="scripted", guards='["crash"]', plugins=plugins)
        with Runtime(kernel) as rt, pytest.raises(Crash):
            rt.start()
            rt.run_cycle()
        kernel.settings.components.runtime = restart
        kernel.settings.components.guards = []
        with Runtime(kernel) as rt:
            rt.start()  # the kernel's recovery: the leftover proposal is cancelled
            return outcome(rt.store, rec)

    journal = parity(run)["native"].journal
    assert [r["to"] for r in journal if r["entity"].startswith("int_")] == [
        "proposed",
        "cancelled",
    ]


def test_report_failing_for_good_after_a_submit(make_kernel):
    def run(name):
        kernel, rec = make_kernel(name, strategist="scripted", plugins=((Scripted([buy()]), "s"),))
        with Runtime(kernel) as rt:
            rt.start()

            def broken(state):
                raise OSError("disk gone")

            rt._node_report = broken
            failed = rt.run_cycle()
            del rt._node_report
            rt.run_cycle()
            assert failed.submitted
            return outcome(rt.store, rec)

    events = parity(run)["native"].events
    routes = [e[2].get("action") for e in events if e[:2] == ("commander", "route")]
    assert routes.count("retry") == 2 and "cancel" in routes


def test_approval_expiry(make_kernel):
    def run(name):
        clock = Clock()
        scripted = Scripted([buy("AAA", 5), buy("BBB", 5)])
        kernel, rec = make_kernel(
            name,
            approval="manual",
            strategist="scripted",
            plugins=((scripted, "s"),),
            environ={"TRADEKERNEL_KERNEL__APPROVAL_TTL": "10m"},
        )
        with Runtime(kernel, clock=clock) as rt:
            rt.start()
            rt.run_cycle()
            clock.now += timedelta(minutes=11)
            pending = rt.run_cycle().pending
            rt.approvals.approve(pending[0], actor="alice")
            clock.now += timedelta(minutes=11)
            rt.run_cycle()
            return outcome(rt.store, rec)

    journal = parity(run)["native"].journal
    assert "expired" in [r["to"] for r in journal if r["entity"].startswith("int_")]


class Named(Scripted):
    """A scripted strategist registered as ``name``."""

    def __init__(self, name, script):
        super().__init__(script)
        self.name = name

    @hookimpl
    def register_strategists(self, register):
        register(self.name, lambda config, ctx: self)


def order(side, symbol, quantity, who):
    def make(inputs):
        intent = Intent.create(
            symbol=symbol,
            side=side,
            quantity=quantity,
            strategist=who,
            as_of=inputs.as_of,
            rationale="test",
        )
        return Decision(intents=[intent])

    return make


def several(base: str) -> str:
    """The parity configuration with two strategists, netted."""
    return textwrap.dedent(base).replace(
        'strategist = "{strategist}"', 'strategists = ["alpha", "beta"]'
    ).format(
        approval="auto", market_data="synthetic", guards='["max_order_notional"]', bars=400
    ) + ('\n[portfolio]\nconflict = "net"\n')


def test_two_strategies_netted(kernel_factory):
    def run(name):
        alpha = Named("alpha", [order("buy", "AAA", 10, "alpha"), order("buy", "AAA", 4, "alpha")])
        beta = Named("beta", [order("sell", "AAA", 3, "beta"), order("buy", "AAA", 4, "beta")])
        kernel, rec = kernel_factory.build(
            several(BASE),
            plugins=((alpha, "a"), (beta, "b")),
            environ={"TRADEKERNEL_COMPONENTS__RUNTIME": name},
            state=f"state-{name}",
        )
        with Runtime(kernel) as rt:
            run_cycles(rt, cycles=3)
            return outcome(rt.store, rec)

    orders = parity(run)["native"].orders
    assert orders and str(orders[0]["quantity"]) == "7"  # +10 and -3 netted


def test_degrade_with_several_strategies_and_the_breaker_half_open(kernel_factory):
    def run(name):
        clock = Clock()
        alpha = Named(
            "alpha", [FAIL, FAIL, FAIL, *(order("buy", "AAA", q, "alpha") for q in (4, 4, 2))]
        )
        beta = Named(
            "beta",
            [
                order("buy", "AAA", 6, "beta"),
                order("sell", "AAA", 2, "beta"),
                order("buy", "BBB", 3, "beta"),
                order("buy", "AAA", 1, "beta"),
                order("sell", "AAA", 1, "beta"),
                order("buy", "AAA", 1, "beta"),
            ],
        )
        kernel, rec = kernel_factory.build(
            several(BASE),
            plugins=((alpha, "a"), (beta, "b")),
            environ={"TRADEKERNEL_COMPONENTS__RUNTIME": name},
            state=f"state-{name}",
        )
        with Runtime(kernel, clock=clock) as rt:
            rt.start()
            for _ in range(6):
                rt.run_cycle()
                clock.now += timedelta(minutes=3)
            return outcome(rt.store, rec)

    events = parity(run)["native"].events
    kinds = {e[1] for e in events if e[0] == "resilience"}
    assert {"breaker_opened", "breaker_half_open", "breaker_closed", "degrade_entered"} <= kinds


ROUTED = """
[routing]
routes = [
  { symbols = ["AAA"], broker = "pa", secondary = "pb" },
  { symbols = ["BBB"], broker = "pb" },
]
default = "pa"
"""


def test_routing_across_two_brokers(kernel_factory):
    def both(inputs):
        return Decision(
            intents=[
                order("buy", "AAA", 5, "scripted")(inputs).intents[0],
                order("buy", "BBB", 3, "scripted")(inputs).intents[0],
            ]
        )

    def run(name):
        scripted = Named(
            "scripted",
            [both, order("sell", "AAA", 2, "scripted"), order("buy", "BBB", 1, "scripted")],
        )
        config = (
            textwrap.dedent(BASE)
            .replace('broker = "paper"', 'brokers = ["pa", "pb"]')
            .replace(
                "[broker.paper]\ncash = 100000",
                '[broker.pa]\nuse = "paper"\ndb = "pa.db"\ncash = 100000\n'
                '[broker.pb]\nuse = "paper"\ndb = "pb.db"\ncash = 50000',
            )
            .format(
                approval="auto",
                market_data="synthetic",
                guards='["max_order_notional"]',
                bars=400,
                strategist="scripted",
            )
            + ROUTED
        )
        kernel, rec = kernel_factory.build(
            config,
            plugins=((scripted, "s"),),
            environ={"TRADEKERNEL_COMPONENTS__RUNTIME": name},
            state=f"state-{name}",
        )
        with Runtime(kernel) as rt:
            run_cycles(rt, cycles=4)
            return outcome(rt.store, rec)

    intents = parity(run)["native"].intents
    assert {r["broker"] for r in intents} == {"pa", "pb"}
