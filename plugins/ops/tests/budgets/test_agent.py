"""A real agent (paper broker, synthetic data) with every budget: the node budgets and
the broker budget are seen by ``budget status`` from its events, and a spent broker
budget refuses reads (skipped, never an incident; nothing crashes)."""

from __future__ import annotations

import json
from collections import Counter

from tradekernel.api import Settings, iter_records, read_events, validate_event

from .conftest import run, write_config

AGENT = """
[kernel]
approval_mode = "auto"
[budgets]
order_reserve = 0.2
[budgets.nodes]
hydrate = "1h"
strategize = "0.001ms"
[budgets.brokers]
paper = {calls}
"""


def _agent(tmp_path, calls: int) -> str:
    text = write_config(tmp_path, "").read_text(encoding="utf-8")
    text = text.replace("[kernel]\n", "", 1)
    state = text.split("\n", 1)[0]
    body = AGENT.format(calls=calls).replace("[kernel]\n", f"[kernel]\n{state}\n", 1)
    path = tmp_path / "agent.toml"
    path.write_text(body + text.split("\n", 1)[1], encoding="utf-8")
    return str(path)


def test_the_agent_reports_node_and_broker_budgets(tmp_path, capsys):
    config = _agent(tmp_path, 1000)
    code, _, err = run(capsys, "--config", config, "run", "--cycles", "3", "--every", "1ms", "-q")
    assert code == 0, err
    code, out, _ = run(capsys, "--config", config, "budget", "status", "--json")
    data = json.loads(out)
    assert code == 4  # strategize cannot meet 1 µs
    nodes = {n["node"]: n for n in data["nodes"]}
    assert nodes["strategize"]["over"] == 3 and nodes["hydrate"]["over"] == 0
    (paper,) = data["brokers"]
    assert paper["limit"] == 1000 and 0 < paper["used"] < 1000 and paper["refused"] == 0
    usage = list(
        read_events(Settings.load(config, environ={}), stage="budget", kind="broker_usage")
    )
    assert len(usage) == 3 and usage[-1].fields["calls"]["account"] >= 3


def test_a_spent_broker_budget_refuses_reads_and_the_agent_goes_on(tmp_path, capsys):
    config = _agent(tmp_path, 12)
    code, _, err = run(capsys, "--config", config, "run", "--cycles", "4", "--every", "1ms", "-q")
    assert code == 0, err
    refused = list(
        read_events(Settings.load(config, environ={}), stage="budget", kind="broker_refused")
    )
    assert len(refused) == 1 and refused[0].fields["broker"] == "paper"  # one a minute
    usage = list(
        read_events(Settings.load(config, environ={}), stage="budget", kind="broker_usage")
    )
    assert usage and all(u.fields["used"] <= 12 for u in usage)
    assert usage[-1].fields["refused"] >= 1
    records = [r.data for r in iter_records(Settings.load(config, environ={})) if r.data]
    budget = [r for r in records if r["stage"] == "budget"]
    assert budget and all(validate_event(r) == [] for r in budget)


def test_a_spent_read_budget_is_back_pressure_not_an_incident(tmp_path, capsys):
    config = _agent(tmp_path, 12)
    code, _, err = run(capsys, "--config", config, "run", "--cycles", "8", "--every", "1ms", "-q")
    assert code == 0, err
    events = list(read_events(Settings.load(config, environ={})))
    kinds = Counter((e.stage, e.kind) for e in events)
    assert not [e.fields for e in events if e.stage == "resilience"]  # no incident, no degrade
    assert not [
        e.fields for e in events if e.stage == "commander" and e.fields.get("action") == "cancel"
    ]
    skipped = [e.fields for e in events if (e.stage, e.kind) == ("budget", "read_skipped")]
    assert skipped and {s["broker"] for s in skipped} == {"paper"}
    assert "report" in {s["node"] for s in skipped}  # the cycle's account is kept
    assert kinds[("commander", "end")] == 8
