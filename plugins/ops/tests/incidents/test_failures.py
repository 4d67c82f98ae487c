"""Escalation when things go wrong: a process dying between a claim and its delivery,
a move to ``reducing`` that fails, a damaged row or file, a wall clock stepped back;
and the postmortem telling what really happened."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import pytest
from tradekernel.api import Event, Kernel, Settings, Store
from tradekernel.testing import invoke
from tradekernel_ops.incidents.observer import build, kernel_control
from tradekernel_ops.incidents.postmortem import postmortem


def alert(severity: str = "error", rule: str = "breaker_open") -> Event:
    return Event(stage="alerts", kind="fired", severity=severity, fields={"rule": rule})


def quiet(kernel: Kernel, clock):
    return build(kernel, clock=clock, emit=lambda *a, **k: None)


def trading_state(tmp_path) -> str:
    with Store.open(tmp_path / "state") as store:
        return store.get_control("trading_state", "active")


def test_a_step_claimed_by_a_process_that_died_is_sent_after_the_lease(make_kernel, servers, clock):
    agent = quiet(make_kernel(), clock)
    incident = agent.observe(alert())
    assert servers.counts() == (1, 0, 0)
    clock.advance(minutes=10)

    def dying(notification, notifier):  # the process dies inside the delivery
        raise SystemExit(137)

    agent._publish = dying
    with pytest.raises(SystemExit):
        agent.tick()
    agent.close()
    restarted = quiet(make_kernel(), clock)
    clock.advance(seconds=restarted.claim_lease - 1)
    assert restarted.tick() == []  # the claim may still be delivering: wait
    clock.advance(seconds=2)
    (done,) = restarted.tick()
    assert (done["step"], done["notifier"], done["status"]) == (2, "email", "sent")
    assert servers.counts() == (1, 1, 0)
    assert restarted.tick() == []
    step = restarted.get(incident).steps[1]
    assert step["status"] == "sent"
    assert "first sender stopped" in restarted.get(incident).timeline[-1]["detail"]


def test_a_step_delivered_before_its_sender_died_is_not_sent_twice(
    make_kernel, servers, clock, tmp_path
):
    agent = quiet(make_kernel(), clock)
    incident = agent.observe(alert())
    clock.advance(minutes=10)
    # The step went out and was logged; the process died before recording it.
    with sqlite3.connect(tmp_path / "state" / "incidents.db") as db:
        db.execute("DELETE FROM steps WHERE step = 1")
        db.execute(
            "INSERT INTO steps (incident, step, notifier, ts) VALUES (?, 1, 'slack', ?)",
            (incident, clock().isoformat()),
        )
    clock.advance(seconds=agent.claim_lease + 1)
    (done,) = [d for d in agent.tick() if d["step"] == 1]
    assert done["status"] == "sent"
    assert servers.counts()[0] == 1  # the delivery log had it: no second Slack message
    assert "delivered before its sender stopped" in str(agent.get(incident).timeline)


def test_a_failed_move_to_reducing_is_retried(make_kernel, clock, tmp_path):
    kernel = make_kernel()
    incidents = quiet(kernel, clock)
    calls = {"n": 0}

    @contextmanager
    def flaky():
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("database is locked")
        with kernel_control(kernel, lambda *a, **k: None) as control:
            yield control

    incidents._control = flaky
    incidents.observe(alert("critical"))
    clock.advance(minutes=15)
    assert {"incident": 1, "trading_state": "failed"} in incidents.tick()
    assert "failed" in postmortem(incidents.get(1))
    assert "moved to reducing" not in postmortem(incidents.get(1))
    clock.advance(minutes=5)
    assert {"incident": 1, "trading_state": "reducing"} in incidents.tick()
    assert trading_state(tmp_path) == "reducing"
    clock.advance(minutes=5)
    assert not any("trading_state" in d for d in incidents.tick())
    assert "**Trading:** moved to reducing at" in postmortem(incidents.get(1))


def test_a_halted_state_is_reported_as_left_alone(make_kernel, clock, tmp_path):
    kernel = make_kernel()
    with Store.open(tmp_path / "state") as store:
        store.set_control("trading_state", "halted", actor="alice", reason="manual")
    incidents = quiet(kernel, clock)
    incidents.observe(alert("critical"))
    clock.advance(minutes=15)
    incidents.tick()
    text = postmortem(incidents.get(1))
    assert "**Trading:** halted, left as it was" in text
    assert "moved to reducing" not in text


def test_the_incident_holds_reducing_until_acknowledged(make_kernel, clock, tmp_path):
    incidents = quiet(make_kernel(), clock)
    incidents.observe(alert("critical"))
    clock.advance(minutes=15)
    incidents.tick()
    with Store.open(tmp_path / "state") as store:
        assert store.get_control("incident_reducing:1")["reason"].startswith("incident 1")
    incidents.acknowledge(1, "alice")
    with Store.open(tmp_path / "state") as store:
        assert store.get_control("incident_reducing:1") is None
        assert store.get_control("trading_state") == "reducing"  # an operator decides
        assert store.verify_journal().ok


def test_one_damaged_row_does_not_stop_the_others(make_kernel, servers, clock, tmp_path):
    events: list = []
    incidents = build(make_kernel(), clock=clock, emit=lambda s, k, **f: events.append((k, f)))
    first = incidents.observe(alert(rule="a"))
    incidents.observe(alert(rule="b"))
    with sqlite3.connect(tmp_path / "state" / "incidents.db") as db:
        db.execute("UPDATE incidents SET updated = 'garbage' WHERE id = ?", (first,))
    clock.advance(minutes=10)
    done = incidents.tick()
    assert [(d["incident"], d["step"]) for d in done] == [(2, 2)]
    clock.advance(minutes=1)
    incidents.tick()
    unreadable = [f for k, f in events if k == "unreadable"]
    assert len(unreadable) == 1 and unreadable[0]["incident"] == first
    assert [i.id for i in incidents.list()] == [2]


def test_the_clock_stepping_back_does_not_hold_escalation_back(make_kernel, servers, clock):
    incidents = quiet(make_kernel(), clock)
    incident = incidents.observe(alert("critical"))
    clock.advance(hours=-1)  # NTP steps the wall clock back one hour
    # Ticks every 5 minutes: the tick that sees the step back counts nothing (the time
    # before it is unknown), every later one counts its 5 minutes.
    for _ in range(3):
        clock.advance(minutes=5)
        incidents.tick()
    assert servers.counts() == (1, 1, 0)  # 10 minutes counted: the email went out
    clock.advance(minutes=5)
    assert {"incident": incident, "trading_state": "reducing"} in incidents.tick()
    clock.advance(minutes=5)
    incidents.tick()
    assert servers.counts() == (1, 1, 1)
    incidents.acknowledge(incident, "alice")
    text = postmortem(incidents.get(incident))
    assert "-1h" not in text and "clock skew" in text


def test_the_postmortem_counts_only_delivered_steps(config, servers, clock):
    servers.slack.script([(500, "down")] * 5)
    path, environ = config()
    kernel = Kernel(Settings.load(path, environ=environ))
    try:
        build(kernel, clock=clock).observe(alert())
    finally:
        kernel.close()
    result = invoke(["--config", str(path), "incidents", "postmortem", "1"], env=environ)
    assert result.exit_code == 0
    assert "**Escalation steps sent:** 0 of 1 attempted" in result.stdout
    assert "step 1 (slack): failed" in result.stdout


def test_cli_on_a_huge_id(config, servers, clock):
    path, environ = config()
    kernel = Kernel(Settings.load(path, environ=environ))
    try:
        build(kernel, clock=clock).observe(alert())
    finally:
        kernel.close()
    for cmd in (["show"], ["postmortem"], ["ack", "--by", "alice"], ["resolve", "--by", "alice"]):
        args = ["--config", str(path), "incidents", cmd[0], "9" * 20, *cmd[1:]]
        result = invoke(args, env=environ)
        assert result.exit_code == 2, result.stderr
        assert "unexpected" not in result.stderr.lower()


def test_cli_on_a_corrupted_database(config, tmp_path):
    path, environ = config()
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "state" / "incidents.db").write_bytes(b"this is not a database" * 100)
    for cmd in (["list"], ["show", "1"], ["ack", "1", "--by", "alice"], ["postmortem", "1"]):
        result = invoke(["--config", str(path), "incidents", *cmd], env=environ)
        assert result.exit_code == 1, result.stderr
        assert "unexpected" not in result.stderr.lower()
        assert "incidents.db: not a readable incidents database" in result.stderr
        assert "move it aside" in result.stderr


def test_a_database_of_the_previous_version_is_upgraded(make_kernel, clock, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "incidents.db") as db:
        db.executescript(
            "CREATE TABLE incidents (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,"
            " title TEXT NOT NULL, severity TEXT NOT NULL, opened TEXT NOT NULL,"
            " updated TEXT NOT NULL, events INTEGER NOT NULL DEFAULT 1, acknowledged TEXT,"
            " acknowledged_by TEXT, resolved TEXT, resolved_by TEXT, reduced TEXT);"
        )
        db.execute(
            "INSERT INTO incidents (key, title, severity, opened, updated) VALUES "
            "('alerts.fired:x', 't', 'error', ?, ?)",
            (clock().isoformat(), clock().isoformat()),
        )
    incidents = quiet(make_kernel(), clock)
    clock.advance(minutes=10)
    assert [d["step"] for d in incidents.tick()] == [1, 2]
