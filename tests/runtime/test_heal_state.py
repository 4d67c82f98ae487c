"""Self-healing state that survives a restart (the ``heal`` control record), each
strategist's own degrade left like the agent's, and the throttled stuck check
(docs/operations.md, "Self-healing"), on an injected clock."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from tradekernel.models import Decision
from tradekernel.runtime import Runtime
from tradekernel.testing import invoke

from . import test_strategies
from .conftest import Scripted
from .test_heal import Clock, lost_order_kernel
from .test_strategies import FAIL, Named

two = test_strategies.two  # the fixture: two named strategists in one agent

HEAL = '[heal]\nhealthy_cycles = 3\ndegrade_min = "0s"\n'


def _kernel(make_kernel, extra=HEAL, scripted=None):
    return make_kernel(
        strategist="scripted", guards="[]", extra=extra, plugins=((scripted or Scripted(), "s"),)
    )


def test_healthy_cycles_towards_leaving_degrade_survive_a_restart(make_kernel):
    kernel, rec = _kernel(make_kernel)
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.control.enter_degrade(reason="test")
        runtime.run_cycle()
        runtime.run_cycle()  # 2 of 3
        assert runtime.control.get("heal")["healthy"]["degrade"]["count"] == 2
    with Runtime(kernel, clock=clock) as runtime:
        assert runtime.healer.healthy == 2
        runtime.run_cycle()
        assert runtime.control.degrade is None, "the third healthy cycle, after a restart"
        assert runtime.control.get("heal")["healthy"] == {}
    assert [e.fields["playbook"] for e in rec.of("heal", "acted")] == ["degrade_exit"]


def test_an_unhealthy_cycle_before_the_restart_is_not_forgotten(make_kernel):
    scripted = Scripted()
    scripted.script = [Decision.hold("x"), Decision.hold("x"), FAIL]
    kernel, _ = _kernel(make_kernel, scripted=scripted)
    with Runtime(kernel) as runtime:
        runtime.control.enter_degrade(reason="test")
        for _ in range(3):  # two healthy, then one that failed: the count is 0 again
            runtime.run_cycle()
        assert runtime.control.get("heal")["healthy"]["degrade"]["count"] == 0
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()
        assert runtime.control.degrade is not None  # 2 healthy cycles since the failure
        runtime.run_cycle()
        assert runtime.control.degrade is None


def test_a_count_of_an_earlier_degrade_is_not_carried_to_a_new_one(make_kernel):
    kernel, _ = _kernel(make_kernel)
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.control.enter_degrade(reason="first")
        runtime.run_cycle()
        runtime.run_cycle()
    with Runtime(kernel, clock=clock) as runtime:  # an operator leaves and enters again
        runtime.control.exit_degrade(actor="op")
        clock.now += timedelta(seconds=1)
        runtime.control.enter_degrade(reason="second", actor="op")
    with Runtime(kernel, clock=clock) as runtime:
        assert runtime.healer.healthy == 0
        runtime.run_cycle()
        assert runtime.control.degrade is not None


def test_given_up_attempts_survive_a_restart_until_control_resume(make_kernel, tmp_path):
    kernel, rec = _kernel(make_kernel, extra='[heal]\nmax_attempts = 1\nbackoff = "30s"\n')
    clock = Clock()
    calls = []

    def down(records):
        calls.append(clock.now)
        raise ConnectionError("still down")

    with Runtime(kernel, clock=clock) as runtime:
        runtime.healer._reconcile = down
        runtime.healer.after_cycle(healthy=False, executing=list)
        runtime.healer.after_cycle(healthy=True, executing=list)  # attempt 1 of 1: gave up
    assert len(calls) == 1 and [e.kind for e in rec.of("heal")] == ["gave_up"]
    clock.now += timedelta(hours=1)
    with Runtime(kernel, clock=clock) as runtime:  # restarted: still given up
        assert runtime.healer.attempts()["outage"][0] == 1
        runtime.healer._reconcile = down
        runtime.healer.after_cycle(healthy=False, executing=list)
        runtime.healer.after_cycle(healthy=True, executing=list)
        assert len(calls) == 1
    resumed = invoke(
        ["--config", str(tmp_path / "plugins.toml"), "control", "resume", "--by", "alice"]
    )
    assert resumed.exit_code == 0, resumed.stderr
    with Runtime(kernel, clock=clock) as runtime:
        assert runtime.healer.attempts() == {}
        runtime.healer._reconcile = down
        runtime.healer.after_cycle(healthy=False, executing=list)
        runtime.healer.after_cycle(healthy=True, executing=list)
        assert len(calls) == 2, "control resume lets the playbook try again"


@pytest.mark.parametrize(
    "record",
    [
        {"attempts": {"outage": {"made": "x"}, "stuck:1": 3}, "healthy": {"degrade": 7}},
        {"attempts": [1, 2], "healthy": "many", "opens": {}},
        {"healthy": {"degrade": {"since": None, "count": True}}},
    ],
)
def test_a_damaged_heal_record_starts_afresh(make_kernel, record):
    kernel, _ = _kernel(make_kernel)
    with Runtime(kernel) as runtime:
        runtime.control.enter_degrade(reason="test")
        runtime.control.set("heal", record, actor="test")
    with Runtime(kernel) as runtime:
        assert runtime.healer.attempts() == {} and runtime.healer.healthy == 0
        for _ in range(3):
            runtime.run_cycle()
        assert runtime.control.degrade is None


def _release(runtime, name):
    """Let ``name``'s open breaker half-open at the next cycle (its cooldown is over)."""
    breaker = runtime.breaker_for(name)
    snap = breaker.snapshot()
    snap["opened_at"] = "2000-01-01T00:00:00+00:00"
    runtime.control.set(breaker.key, snap, actor="test")


def test_a_strategists_own_degrade_is_left_after_its_healthy_cycles(two):
    oracle = Named("oracle", FAIL, FAIL)
    rule = Named("rule")
    kernel, rec = two(oracle, rule, HEAL)
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()  # the oracle's breaker opens: its own degrade
        assert runtime.control.get("degrade:oracle") is not None
        _release(runtime, "oracle")
        runtime.run_cycle()  # half-open, answers: closed; 1 healthy cycle of its own
        runtime.run_cycle()
        assert runtime.control.get("degrade:oracle") is not None
        assert runtime.control.get("heal")["healthy"]["degrade:oracle"]["count"] == 2
    with Runtime(kernel) as runtime:  # the count survives a restart too
        runtime.run_cycle()
        assert runtime.control.get("degrade:oracle") is None
        assert runtime.store.journal_rows("control:degrade:oracle")[-1].actor == "auto"
    (acted,) = [e for e in rec.of("heal", "acted") if e.fields["playbook"] == "degrade_exit"]
    assert acted.fields["strategist"] == "oracle"
    exited = rec.of("resilience", "degrade_exited")
    assert [e.fields.get("strategist") for e in exited] == ["oracle"]


def test_a_strategists_own_degrade_follows_the_switch_and_hysteresis(two):
    for extra, left in (
        (HEAL + "playbooks = { degrade_exit = false }\n", False),
        ('[heal]\nhealthy_cycles = 3\ndegrade_min = "1h"\n', False),
    ):
        oracle = Named("oracle", FAIL, FAIL)
        kernel, rec = two(oracle, Named("rule"), extra)
        with Runtime(kernel) as runtime:
            runtime.run_cycle()
            runtime.run_cycle()
            _release(runtime, "oracle")
            for _ in range(5):
                runtime.run_cycle()
            assert (runtime.control.get("degrade:oracle") is None) is left, extra
        assert not [e for e in rec.of("heal") if e.fields["playbook"] == "degrade_exit"]


def test_a_strategist_that_fails_again_restarts_its_own_count(two):
    ok = Decision.hold("ok")
    oracle = Named("oracle", ok, ok, FAIL, ok, ok, ok)  # one failure: the breaker stays closed
    kernel, _ = two(oracle, Named("rule"), HEAL)
    with Runtime(kernel) as runtime:
        runtime.control.set(
            "degrade:oracle", {"since": "2000-01-01T00:00:00+00:00", "reason": "t"}, actor="t"
        )
        for _ in range(5):  # ok, ok, fail, ok, ok: never 3 in a row
            runtime.run_cycle()
        assert runtime.breaker_for("oracle").state == "closed"
        assert runtime.control.get("degrade:oracle") is not None
        runtime.run_cycle()
        assert runtime.control.get("degrade:oracle") is None


def test_stuck_intents_are_checked_at_most_every_quarter_threshold(make_kernel):
    kernel, rec = lost_order_kernel(make_kernel, stuck_after="4m")
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        runtime.run_cycle()
        (record,) = runtime.store.list_intents(state="executing")
        start = clock.now
        queries = []
        listed = runtime._listed

        def counting(what, query):
            if what == "executing":
                queries.append(clock.now)
            return listed(what, query)

        runtime._listed = counting
        while runtime.store.get(record.id).state.value == "executing":
            clock.now += timedelta(seconds=10)
            runtime.run_cycle()
            assert clock.now - start <= timedelta(minutes=5), "threshold + a quarter of it"
        assert clock.now - start >= timedelta(minutes=4)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(queries)]
    assert gaps and min(gaps) >= 60, "at most once per stuck_after / 4"
    assert len(queries) <= 6
    (event,) = rec.of("heal", "acted")
    assert event.fields["intent_id"] == record.id
