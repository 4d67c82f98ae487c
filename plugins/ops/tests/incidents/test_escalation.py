"""Escalation over the local Slack, SMTP and webhook servers, on an injected clock:
each step at its time, once (across restarts and processes), stopped by an
acknowledgement; a critical incident left unacknowledged moves trading to reducing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tradekernel.api import ConfigError, Event, Kernel, RefusedError, Settings, Store
from tradekernel_ops.incidents.observer import build
from tradekernel_ops.incidents.service import incident_key
from tradekernel_ops.slo.engine import Tracker


def alert(severity: str = "error", rule: str = "breaker_open") -> Event:
    return Event(stage="alerts", kind="fired", severity=severity, fields={"rule": rule})


def burn(objective: str, indicator: str, start: datetime | None = None) -> list:
    """The ``slo.burn_rate`` transitions the SLO engine itself produces for an hour in
    which every sample of ``objective`` is bad (the fast alert)."""
    t0 = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    tracker = Tracker(name=objective, indicator=indicator, target=0.99, window=30 * 86400)
    out = []
    for minute in range(60):
        ts = t0 + timedelta(minutes=minute)
        tracker.add(ts, False)
        out += tracker.evaluate(ts.timestamp(), force=True)
    return out


def burn_event(objective: str, indicator: str) -> Event:
    ((kind, severity, fields),) = burn(objective, indicator)
    return Event(stage="slo", kind=kind, severity=severity, fields=fields)


@pytest.fixture
def events():
    return []


def service(kernel: Kernel, clock, events: list):
    return build(kernel, clock=clock, emit=lambda stage, kind, **f: events.append((kind, f)))


def test_steps_happen_at_their_times_and_stop_on_acknowledgement(
    make_kernel, servers, clock, events
):
    incidents = service(make_kernel(), clock, events)
    incident = incidents.observe(alert())
    assert servers.counts() == (1, 0, 0)  # step 1 (slack, after 0m) at once
    clock.advance(minutes=9, seconds=59)
    assert incidents.tick() == []
    clock.advance(seconds=1)
    (done,) = incidents.tick()
    assert (done["step"], done["notifier"], done["status"]) == (2, "email", "sent")
    assert servers.counts() == (1, 1, 0)
    assert incidents.tick() == []  # sent once
    assert "incidents ack 1" in servers.inbox.messages[0]
    incidents.acknowledge(incident, "Alice")
    clock.advance(hours=2)
    assert incidents.tick() == []
    assert servers.counts() == (1, 1, 0)  # no webhook page after the acknowledgement
    item = incidents.get(incident)
    assert (item.state, item.acknowledged_by) == ("acknowledged", "alice")
    assert [s["notifier"] for s in item.steps] == ["slack", "email"]
    kinds = [kind for kind, _ in events]
    assert kinds == ["opened", "escalated", "escalated", "acknowledged"]


def test_the_same_alert_updates_the_open_incident_and_a_new_one_follows_resolution(
    make_kernel, servers, clock, events
):
    incidents = service(make_kernel(), clock, events)
    first = incidents.observe(alert())
    assert incidents.observe(alert()) == first
    assert incidents.observe(alert(rule="other")) != first
    assert incidents.get(first).events == 2
    incidents.resolve(first, "bob")
    with pytest.raises(RefusedError, match="resolved already"):
        incidents.acknowledge(first, "bob")
    assert incidents.observe(alert()) not in (first, None)
    assert incidents.observe(alert("warning", rule="quiet")) is None


def test_escalation_survives_a_restart_and_a_second_process(make_kernel, servers, clock, events):
    agent = service(make_kernel(), clock, events)
    incident = agent.observe(alert())
    agent.close()
    clock.advance(minutes=10)
    # The agent restarted, and an ops batch runs at the same time on the same state.
    restarted = service(make_kernel(), clock, events)
    batch = service(make_kernel(), clock, events)
    assert [d["step"] for d in restarted.tick()] == [2]
    assert batch.tick() == []
    clock.advance(minutes=10)
    assert [d["step"] for d in batch.tick()] == [3]
    assert restarted.tick() == []
    assert servers.counts() == (1, 1, 1)
    assert [s["step"] for s in batch.get(incident).steps] == [1, 2, 3]


def test_the_agent_opens_incidents_from_events_and_escalates_at_cycle_boundaries(
    make_kernel, servers, clock
):
    kernel = make_kernel()
    kernel.events.clock = clock
    ((kind, severity, fields),) = burn("cycles", "cycle_success")
    kernel.emit("slo", kind, severity=severity, **fields)
    kernel.emit("alerts", "fired", severity="warning", rule="minor")  # below error
    assert servers.counts() == (1, 0, 0)
    clock.advance(minutes=10)
    assert servers.counts() == (1, 0, 0)  # nothing between cycles
    kernel.emit("commander", "end", node="monitor")
    assert servers.counts() == (1, 1, 0)
    listed = build(kernel, clock=clock).list()
    assert [(i.key, i.severity) for i in listed] == [("slo.burn_rate:cycles", "critical")]


def test_a_critical_incident_unacknowledged_moves_trading_to_reducing(
    make_kernel, clock, events, tmp_path
):
    kernel = make_kernel()
    incidents = service(kernel, clock, events)
    incidents.observe(alert("critical"))
    clock.advance(minutes=14)
    assert all("trading_state" not in d for d in incidents.tick())
    clock.advance(minutes=1)
    actions = incidents.tick()
    assert {"incident": 1, "trading_state": "reducing"} in actions
    assert not any("trading_state" in d for d in incidents.tick())
    with Store.open(tmp_path / "state") as store:
        assert store.get_control("trading_state") == "reducing"
        (row,) = [r for r in store.journal_rows("control:trading_state")]
        assert row.actor == "ops" and "incident 1" in row.reason
        assert store.verify_journal().ok


def test_an_acknowledged_or_error_incident_never_moves_trading(make_kernel, clock, tmp_path):
    incidents = build(make_kernel(), clock=clock)
    critical = incidents.observe(alert("critical"))
    incidents.acknowledge(critical, "alice")
    incidents.observe(alert("error", rule="other"))
    clock.advance(hours=1)
    incidents.tick()
    with Store.open(tmp_path / "state") as store:
        assert store.get_control("trading_state", "active") == "active"


def test_a_halted_trading_state_is_never_loosened(make_kernel, clock, tmp_path):
    kernel = make_kernel()
    with Store.open(tmp_path / "state") as store:
        store.set_control("trading_state", "halted", actor="alice", reason="manual")
    incidents = build(kernel, clock=clock)
    incidents.observe(alert("critical"))
    clock.advance(minutes=15)
    assert {"incident": 1, "trading_state": "halted already"} in incidents.tick()
    with Store.open(tmp_path / "state") as store:
        assert store.get_control("trading_state") == "halted"


def test_a_failed_step_is_recorded_and_not_retried(make_kernel, servers, clock):
    servers.slack.script([(500, "down")] * 5)
    incidents = build(make_kernel(), clock=clock)
    incident = incidents.observe(alert())
    (step,) = incidents.get(incident).steps
    assert step["status"] == "failed"
    assert incidents.tick() == []


def test_a_step_naming_an_unselected_notifier_fails_at_load(config):
    path, environ = config('[incidents]\nescalation = [{notify = "pager", after = "0m"}]\n')
    with pytest.raises(ConfigError, match=r"escalation\[0\]\.notify: unknown notifier 'pager'"):
        Settings.load(path, environ=environ)


def test_disabled_incidents_open_nothing(make_kernel, clock, tmp_path):
    kernel = make_kernel("[incidents]\nenabled = false\n")
    kernel.emit("alerts", "fired", severity="critical", rule="x")
    assert not (tmp_path / "state" / "incidents.db").exists()


def test_events_from_other_threads_reach_the_same_incident(make_kernel, servers, clock):
    import threading

    kernel = make_kernel()
    kernel.events.clock = clock
    threads = [
        threading.Thread(
            target=kernel.emit, args=("alerts", "fired"), kwargs={"severity": "error", "rule": "r"}
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (item,) = build(kernel, clock=clock).list()
    assert item.events == 4
    assert servers.counts() == (1, 0, 0)


def test_each_slo_objective_has_its_own_incident(make_kernel, servers, clock):
    """Real ``slo.burn_rate`` events name their objective: acknowledging one objective's
    burn never silences another objective's page."""
    decisions = burn_event("decisions", "decision_latency")
    cycles = burn_event("cycles", "cycle_success")
    assert (incident_key(decisions), incident_key(cycles)) == (
        "slo.burn_rate:decisions",
        "slo.burn_rate:cycles",
    )
    incidents = build(make_kernel(), clock=clock, emit=lambda *a, **k: None)
    first = incidents.observe(decisions)
    incidents.acknowledge(first, "alice")
    second = incidents.observe(cycles)
    assert second != first
    assert servers.counts() == (2, 0, 0)  # the second objective's page went out


@pytest.mark.parametrize(
    ("stage", "kind", "field"),
    [
        ("resilience", "breaker_opened", "strategist"),
        ("heal", "escalated", "strategist"),
        ("commander", "route", "node"),
    ],
)
def test_unrelated_events_of_one_kind_open_their_own_incidents(
    make_kernel, clock, stage, kind, field
):
    incidents = build(make_kernel(), clock=clock, emit=lambda *a, **k: None)
    extra = {"playbook": "breaker_flapping"} if stage == "heal" else {}

    def event(name: str) -> Event:
        return Event(stage=stage, kind=kind, severity="error", fields={field: name, **extra})

    first = incidents.observe(event("oracle"))
    assert incidents.observe(event("momentum")) != first
    assert incidents.observe(event("oracle")) == first


def test_a_critical_burn_after_an_acknowledged_slow_burn_pages_again(
    make_kernel, servers, clock, tmp_path
):
    """The slow burn (error) of an objective was acknowledged as a ticket; the fast burn
    (critical) of the same objective is a page: its escalation starts over."""
    tracker = Tracker(name="cycles", indicator="cycle_success", target=0.99, window=30 * 86400)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    transitions = []
    for minute in range(60):  # 10 % failed: a slow burn, then all failed: a fast one
        ts = t0 + timedelta(minutes=minute)
        for i in range(10):
            tracker.add(ts, i != 0 or minute >= 50)
        if minute >= 50:
            tracker.add(ts, False)
            for _ in range(20):
                tracker.add(ts, False)
        transitions += tracker.evaluate(ts.timestamp(), force=True)
    slow, fast = [Event(stage="slo", kind=k, severity=s, fields=f) for k, s, f in transitions]
    assert (slow.severity.value, fast.severity.value) == ("error", "critical")
    incidents = build(make_kernel(), clock=clock, emit=lambda *a, **k: None)
    ticket = incidents.observe(slow)
    incidents.acknowledge(ticket, "alice")
    assert incidents.observe(fast) == ticket  # the same objective: the same incident
    item = incidents.get(ticket)
    assert (item.state, item.severity) == ("open", "critical")
    assert servers.counts() == (2, 0, 0)  # paged again at once
    clock.advance(minutes=15)
    assert {"incident": ticket, "trading_state": "reducing"} in incidents.tick()
    assert "reopened" in [e["what"] for e in incidents.get(ticket).timeline]


def test_progress_between_writes_counts_and_changes_by_another_process_are_seen(
    make_kernel, servers, clock, events
):
    """Escalation progress under PERSIST_AFTER is counted without a write, and the rows
    parsed last tick are reused only while unchanged: an acknowledgement (or a damaged
    row) written by another process in between counts at once."""
    agent = service(make_kernel(), clock, events)
    first = agent.observe(alert())
    second = agent.observe(alert(rule="other"))
    third = agent.observe(alert(rule="third"))
    clock.advance(minutes=19, seconds=58)
    assert sorted(d["incident"] for d in agent.tick()) == [first, second, third]  # step 2
    console = service(make_kernel(), clock, events)
    console.acknowledge(first, "alice")
    with agent.store._write() as db:  # a row made unreadable behind the agent's back
        db.execute("UPDATE incidents SET opened = 'garbage' WHERE id = ?", (second,))
    clock.advance(seconds=2)  # step 3 due (20m), 2 s after the last write: not written
    assert [(d["incident"], d["step"]) for d in agent.tick()] == [(third, 3)]
    assert agent.store.damaged.keys() == {second}
    assert servers.counts() == (3, 3, 1)
    agent.close()
    restarted = service(make_kernel(), clock, events)  # nothing of the progress was lost
    assert restarted.get(third).elapsed == pytest.approx(19 * 60 + 58)
    clock.advance(seconds=1)
    assert restarted.tick() == []
    assert restarted.store.advance(clock())[0].elapsed == pytest.approx(20 * 60 + 1)
