"""Self-healing never loosens a trading state it did not set itself: leaving degrade
mode undoes only the ``reducing`` that entering it set (as journaled), never an
operator's, never one an unacknowledged critical incident holds; and with several
strategists a cycle is healthy only when every strategist's breaker is closed, and a
strategist's own degrade stays while its breaker is open."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tradekernel import hookimpl
from tradekernel.models import Decision
from tradekernel.runtime import Runtime

from .conftest import BASE, Scripted

HEAL = '[heal]\nhealthy_cycles = 2\ndegrade_min = "0s"\n'
REDUCING = {"TRADEKERNEL_RUNTIME__DEGRADE_REDUCING": "true"}
FAIL = Decision.hold("provider failed", error_type="provider_timeout")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _rows(runtime) -> list[tuple[str, str, str]]:
    return [
        (r.actor, json.loads(r.to_state), r.reason)
        for r in runtime.store.journal_rows("control:trading_state")
    ]


def _scripted(make_kernel, extra: str = HEAL):
    return make_kernel(
        strategist="scripted",
        guards="[]",
        extra=extra,
        plugins=((Scripted(), "s"),),
        environ=REDUCING,
    )


def test_degrade_exit_undoes_only_its_own_reducing(make_kernel):
    kernel, _rec = _scripted(make_kernel)
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.control.enter_degrade(reason="breaker")
        assert runtime.control.trading_state == "reducing"
        assert runtime.control.degrade["reducing_seq"] > 0
        for _ in range(2):
            runtime.run_cycle()
        assert runtime.control.degrade is None
        assert runtime.control.trading_state == "active"
        assert _rows(runtime)[-1][:2] == ("auto", "active")
        assert runtime.store.verify_journal().ok


def test_an_operators_reducing_is_never_undone(make_kernel):
    kernel, _rec = _scripted(make_kernel)
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.control.set_trading_state("reducing", actor="alice", reason="investigating")
        runtime.control.enter_degrade(reason="breaker")  # trading is reducing already
        for _ in range(3):
            runtime.run_cycle()
        assert runtime.control.degrade is None  # degrade mode was left ...
        assert runtime.control.trading_state == "reducing"  # ... alice's reducing stays
        assert [a for a, _s, _r in _rows(runtime)] == ["alice"]


def test_an_operator_who_changed_trading_while_degraded_keeps_it(make_kernel):
    kernel, _rec = _scripted(make_kernel)
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.control.enter_degrade(reason="breaker")  # degrade sets reducing
        runtime.control.set_trading_state("active", actor="alice", reason="checked")
        runtime.control.set_trading_state("reducing", actor="alice", reason="not sure")
        for _ in range(3):
            runtime.run_cycle()
        assert runtime.control.degrade is None
        assert runtime.control.trading_state == "reducing"
        assert _rows(runtime)[-1][0] == "alice"


def test_a_critical_unacknowledged_incident_holds_reducing(make_kernel):
    from tradekernel.api import Event
    from tradekernel_ops.incidents.observer import build

    kernel, _rec = _scripted(
        make_kernel, HEAL + '[incidents]\nenabled = true\nreduce_after = "1m"\n'
    )
    clock = Clock()
    incidents = build(kernel, clock=clock, emit=lambda *a, **k: None)
    try:
        with Runtime(kernel, clock=clock) as runtime:
            runtime.control.enter_degrade(reason="breaker")  # degrade sets reducing first
            incident = incidents.observe(
                Event(stage="alerts", kind="fired", severity="critical", fields={"rule": "loss"})
            )
            clock.now += timedelta(minutes=2)
            assert {"incident": incident, "trading_state": "reducing already"} in incidents.tick()
            for _ in range(3):
                runtime.run_cycle()
            assert runtime.control.degrade is None
            assert runtime.control.trading_state == "reducing"  # the incident holds it
            incidents.acknowledge(incident, "alice")
            runtime.control.enter_degrade(reason="breaker again")
            for _ in range(3):
                runtime.run_cycle()
            assert runtime.control.trading_state == "reducing"  # not degrade's: left alone
    finally:
        incidents.close()


def test_the_incidents_own_move_is_never_undone(make_kernel):
    from tradekernel.api import Event
    from tradekernel_ops.incidents.observer import build

    kernel, _rec = _scripted(
        make_kernel, HEAL + '[incidents]\nenabled = true\nreduce_after = "1m"\n'
    )
    clock = Clock()
    incidents = build(kernel, clock=clock, emit=lambda *a, **k: None)
    try:
        with Runtime(kernel, clock=clock) as runtime:
            incident = incidents.observe(
                Event(stage="alerts", kind="fired", severity="critical", fields={"rule": "loss"})
            )
            clock.now += timedelta(minutes=2)
            assert {"incident": incident, "trading_state": "reducing"} in incidents.tick()
            runtime.control.refresh()
            runtime.control.enter_degrade(reason="breaker")
            for _ in range(3):
                runtime.run_cycle()
            assert runtime.control.degrade is None
            assert runtime.control.trading_state == "reducing"
            assert [a for a, _s, _r in _rows(runtime)] == ["ops"]
    finally:
        incidents.close()


class Named:
    def __init__(self, name: str, *script: Decision) -> None:
        self.name, self.script = name, list(script)

    def decide(self, inputs):
        return self.script.pop(0) if self.script else Decision.hold("script_empty")

    @hookimpl
    def register_strategists(self, register: Callable) -> None:
        register(self.name, lambda config, ctx: self)


def test_a_strategists_open_breaker_keeps_its_degrade_and_the_cycle_unhealthy(
    kernel_factory,
):
    oracle, rule = Named("oracle", FAIL, FAIL), Named("rule")
    config = BASE.format(approval="auto", strategist="unused", guards="[]").replace(
        'strategist = "unused"', 'strategists = ["oracle", "rule"]'
    )
    kernel, _rec = kernel_factory.build(
        config + HEAL, plugins=((oracle, "oracle"), (rule, "rule")), environ=REDUCING
    )
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()  # breaker:oracle opens, degrade:oracle is set
        assert runtime.breaker_for("oracle").state == "open"
        runtime.control.enter_degrade(reason="incidents: node failed")
        for _ in range(3):
            runtime.run_cycle()
        # oracle's breaker is open: no cycle is healthy, the agent's degrade stays
        assert runtime.control.degrade is not None
        assert runtime.control.get("degrade:oracle") is not None
        runtime.control.exit_degrade(actor="auto", reason="test", keep_open_breakers=True)
        assert runtime.control.get("degrade:oracle") is not None  # its breaker is open
        runtime.control.exit_degrade(actor="alice", reason="resume")
        assert runtime.control.get("degrade:oracle") is None  # an operator decides
