"""Self-healing playbooks (docs/operations.md, "Self-healing"), on an injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.errors import ConfigError
from tradekernel.models import Decision
from tradekernel.runtime import Runtime
from tradekernel.sections import PLAYBOOKS, HealSettings
from tradekernel.settings import Settings
from tradekernel.testing import invoke

from .conftest import Scripted, buy
from .test_fills_of_done_orders import InstantBroker

FAIL = Decision.hold("provider failed", error_type="provider_timeout")


class Clock:
    """Starts at the wall clock (the store stamps rows with it), moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _actors(runtime, entity: str) -> list[str]:
    return [r.actor for r in runtime.store.journal_rows(entity)]


def lost_order_kernel(make_kernel, stuck_after: str):
    """A kernel that buys once on a broker which loses the order (the intent stays
    executing), with the stuck check at ``stuck_after``; returns (kernel, recorder)."""
    broker, scripted = InstantBroker(), Scripted()
    scripted.script = [buy("AAA", 4)]
    broker.lose = True
    return make_kernel(
        strategist="scripted",
        guards="[]",
        extra=f'[heal]\nstuck_after = "{stuck_after}"\n',
        plugins=((scripted, "scripted"), (broker, "instant")),
        environ={"TRADEKERNEL_COMPONENTS__BROKER": "instant"},
    )


def test_degrade_is_left_after_n_healthy_cycles_with_hysteresis(make_kernel, tmp_path):
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        extra='[heal]\nhealthy_cycles = 3\ndegrade_min = "10m"\n',
        plugins=((Scripted(), "s"),),
    )
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.control.enter_degrade(reason="test")
        for _ in range(4):  # enough healthy cycles, but not long enough in degrade
            runtime.run_cycle()
        assert runtime.control.degrade is not None
        clock.now += timedelta(minutes=11)
        runtime.run_cycle()
        assert runtime.control.degrade is None
        assert _actors(runtime, "control:degrade")[-1] == "auto"
        last = runtime.control.status()["heal"]["degrade_exit"]
        assert last["action"] == "exit_degrade" and last["outcome"] == "ok"
    (event,) = rec.of("heal", "acted")
    assert event.fields["playbook"] == "degrade_exit" and event.fields["actor"] == "auto"
    shown = invoke(["--config", str(tmp_path / "plugins.toml"), "control", "status", "--json"])
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["heal"]["degrade_exit"]["action"] == "exit_degrade"


def test_an_unhealthy_cycle_restarts_the_count(make_kernel):
    scripted = Scripted()
    scripted.script = [Decision.hold("x")] * 2 + [FAIL] + [Decision.hold("x")] * 2
    kernel, _ = make_kernel(
        strategist="scripted",
        guards="[]",
        extra='[heal]\nhealthy_cycles = 3\ndegrade_min = "0s"\n',
        plugins=((scripted, "s"),),
        environ={"TRADEKERNEL_RUNTIME__BREAKER_FAILURES": "5"},
    )
    with Runtime(kernel) as runtime:
        runtime.control.enter_degrade(reason="test")
        for _ in range(3):  # the third fails
            runtime.run_cycle()
        runtime.run_cycle()
        runtime.run_cycle()
        assert runtime.control.degrade is not None  # 2 healthy cycles since the failure
        runtime.run_cycle()
        assert runtime.control.degrade is None


def test_a_playbook_switched_off_never_acts(make_kernel):
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        extra='[heal]\nhealthy_cycles = 1\ndegrade_min = "0s"\n'
        "playbooks = { degrade_exit = false }\n",
        plugins=((Scripted(), "s"),),
    )
    with Runtime(kernel) as runtime:
        runtime.control.enter_degrade(reason="test")
        for _ in range(3):
            runtime.run_cycle()
        assert runtime.control.degrade is not None
    assert not rec.of("heal")


def test_degrade_exit_is_off_by_default_in_live_mode():
    heal = HealSettings()
    assert heal.enabled("degrade_exit", "paper") and not heal.enabled("degrade_exit", "live")
    assert HealSettings(playbooks={"degrade_exit": True}).enabled("degrade_exit", "live")
    assert heal.enabled("stuck_executing", "live")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("playbooks = { degrade_exitt = false }", "unknown playbook 'degrade_exitt'"),
        ('playbooks = { outage = "no" }', "expected bool"),
        ("healthy_cycles = 0", "healthy_cycles"),
        ("bogus = 1", "bogus"),
    ],
)
def test_heal_section_is_validated(tmp_path, body, message):
    path = tmp_path / "plugins.toml"
    path.write_text(f"[heal]\n{body}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        Settings.load(path, environ={})
    assert "heal" in str(info.value)


def test_a_flapping_breaker_is_latched_open_and_escalated(make_kernel):
    scripted = Scripted()
    scripted.script = [FAIL] * 4 + [Decision.hold("fine")]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        extra='[heal]\nflap_opens = 2\nflap_window = "1h"\n',
        plugins=((scripted, "s"),),
    )
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()  # breaker_failures = 2: open (1st)
        clock.now += timedelta(minutes=6)
        runtime.run_cycle()  # half-open, fails: open again (2nd) -> latched
        assert runtime.breaker.snapshot().get("latched")
        calls = scripted.calls
        clock.now += timedelta(minutes=30)
        runtime.run_cycle()
        assert scripted.calls == calls, "a latched breaker never half-opens"
        assert _actors(runtime, "control:breaker")[-1] == "auto"
        runtime.control.resume(actor="op", reason="checked the provider")
        assert runtime.breaker.state == "closed"
        runtime.run_cycle()
        assert scripted.calls == calls + 1
    (event,) = rec.of("heal", "escalated")
    assert event.severity == "critical" and event.fields["opens"] == 2


def test_an_intent_stuck_executing_is_reconciled_after_the_threshold(make_kernel):
    kernel, rec = lost_order_kernel(make_kernel, stuck_after="5m")
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        runtime.run_cycle()
        (record,) = runtime.store.list_intents(state="executing")
        runtime.run_cycle()
        assert runtime.store.get(record.id).state.value == "executing"  # not stuck yet
        clock.now += timedelta(minutes=6)
        runtime.run_cycle()
        assert runtime.store.get(record.id).state.value == "submitted"
        last = runtime.store.journal_rows(record.id)[-1]
        assert last.actor == "auto" and "submitted" in str(last)
    (event,) = rec.of("heal", "acted")
    assert event.fields["playbook"] == "stuck_executing"
    assert event.fields["intent_id"] == record.id


def test_an_outage_is_reconciled_on_recovery_with_bounded_backoff(make_kernel):
    class Flaky(InstantBroker):
        down = False

        def account(self):
            if self.down:
                raise ConnectionError("the venue does not answer")
            return super().account()

    broker = Flaky()
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        plugins=((Scripted(), "scripted"), (broker, "instant")),
        environ={
            "TRADEKERNEL_COMPONENTS__BROKER": "instant",
            "TRADEKERNEL_RUNTIME__NODE_ATTEMPTS": "1",
        },
    )
    with Runtime(kernel) as runtime:
        runtime.start()
        broker.down = True
        runtime.run_cycle()
        assert runtime.healer.failed_cycles == 1
        broker.down = False
        runtime.run_cycle()
        assert runtime.healer.failed_cycles == 0
    (event,) = rec.of("heal", "acted")
    assert event.fields["playbook"] == "outage" and event.fields["outcome"] == "ok"
    assert "1 failed cycle" in event.fields["reason"]


def test_a_failing_playbook_backs_off_and_gives_up(make_kernel):
    kernel, rec = make_kernel(
        strategist="scripted",
        guards="[]",
        extra='[heal]\nmax_attempts = 3\nbackoff = "30s"\n',
        plugins=((Scripted(), "s"),),
    )
    clock = Clock()
    calls = []

    def down(records):
        calls.append(clock.now)
        raise ConnectionError("still down")

    with Runtime(kernel, clock=clock) as runtime:
        healer = runtime.healer
        healer._reconcile = down
        healer.after_cycle(healthy=False, executing=list)
        for step in (0, 10, 25, 30, 89, 90, 600, 6000):  # seconds after the first attempt
            clock.now = calls[0] + timedelta(seconds=step) if calls else clock.now
            healer.after_cycle(healthy=True, executing=list)
        assert [(c - calls[0]).total_seconds() for c in calls] == [0, 30, 90]
        assert runtime.control.status()["heal"]["outage"]["outcome"] == "failed"
    kinds = [e.kind for e in rec.of("heal")]
    assert kinds == ["acted", "acted", "gave_up"]
    assert rec.of("heal", "gave_up")[0].severity == "error"


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.one_of(st.booleans(), st.integers(), st.text(max_size=5)),
        max_size=4,
    )
)
def test_any_playbooks_table_loads_or_is_a_config_error(table):
    import tempfile
    from pathlib import Path

    def toml(value) -> str:  # a JSON string is a TOML basic string, but for DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")

    body = "".join(f"{toml(k)} = {toml(v)}\n" for k, v in table.items())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plugins.toml"
        path.write_text(f"[heal.playbooks]\n{body}", encoding="utf-8")
        try:
            heal = Settings.load(path, environ={}).heal
        except ConfigError as exc:
            assert "\x1b" not in str(exc) and "heal" in str(exc)
            return
    assert set(heal.playbooks) <= set(PLAYBOOKS)
    assert all(isinstance(v, bool) for v in heal.playbooks.values())


def test_a_restart_does_not_count_the_same_opening_twice(make_kernel):
    scripted = Scripted()
    scripted.script = [FAIL] * 2
    kernel, rec = make_kernel(
        strategist="scripted", guards="[]", extra="[heal]\nflap_opens = 2\n",
        plugins=((scripted, "s"),),
    )  # fmt: skip
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.run_cycle()
        runtime.run_cycle()  # opened once
    for _ in range(2):  # two restarts while it stays open
        with Runtime(kernel, clock=clock) as runtime:
            runtime.run_cycle()
            assert len(runtime.control.get("heal")["opens"]["breaker"]) == 1
            assert not runtime.breaker.snapshot().get("latched")
    assert not rec.of("heal", "escalated")
