"""``ops batch``: an alert the batch fires opens an incident, and its ``incidents`` step
sends the escalation that fell due (once, whoever ran first)."""

from __future__ import annotations

import json
from datetime import timedelta

from tradekernel.api import Kernel, Settings, Store, utcnow
from tradekernel.testing import invoke
from tradekernel_ops import batch as ops
from tradekernel_ops.incidents.service import Incidents


def about_1(requests) -> int:
    return sum(r.json()["text"].startswith("[ERROR] Incident 1 ") for r in requests)


def test_the_batch_opens_and_escalates(config, servers, tmp_path):
    path, env = config(
        '[incidents]\nescalation = [{notify = "slack", after = "0m"}, '
        '{notify = "email", after = "10m"}]\n'
    )
    with Store.open(tmp_path / "state") as store:
        opened = (utcnow() - timedelta(minutes=5)).isoformat()
        snap = {"state": "open", "failures": 3, "opened_at": opened}
        store.set_control("breaker", snap, actor="breaker", reason="test")
    result = invoke(["--config", str(path), "ops", "batch"], env=env)
    status = json.loads((tmp_path / "state" / "ops-status.json").read_text())
    results = {s["name"]: s["result"] for s in status["steps"]}
    assert results["alerts"] == "firing", result.stdout  # the breaker_open rule fires
    step = next(s for s in status["steps"] if s["name"] == "incidents")
    assert step["result"] == "ok"
    assert about_1(servers.slack.requests) == 1
    # Ten minutes later the batch sends step 2; a second batch sends nothing more.
    settings = Settings.load(path, environ=env)
    later = utcnow() + timedelta(minutes=11)
    incidents = Incidents(settings, clock=lambda: later)
    try:
        first = incidents.list()[0]
        assert (first.id, first.key) == (1, "alerts.fired:breaker_open")
    finally:
        incidents.close()

    for _ in range(2):
        done = ops.run_batch(
            settings,
            lambda: Kernel(settings),
            clock=lambda: later,
            steps=[("incidents", ops.step_incidents)],
        )
    assert done.steps[0].result == "ok"
    assert about_1(servers.slack.requests) == 1
    assert sum("Incident 1 " in m for m in servers.inbox.messages) == 1
