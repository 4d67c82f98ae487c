"""A report of a real short paper run agrees with the run's own CycleStates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tradekernel.api import Kernel, PluginRegistry, Runtime, Settings, run_cycles
from tradekernel_report import daily_report, render

RUN = """
[kernel]
state_dir = "{state_dir}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]
node_backoff = "0s"

[market_data.synthetic]
symbols = ["AAA", "BBB"]
seed = 7
bars = 120

[strategist.sma-cross]
fast = 3
slow = 8

[guard.max_order_notional]
limit = 900

[broker.paper]
cash = 100000
"""

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _config(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(RUN.format(state_dir=tmp_path / "state"), encoding="utf-8")
    return path


def test_report_of_a_paper_run_matches_its_cycle_states(tmp_path):
    settings = Settings.load(_config(tmp_path), environ={})
    kernel = Kernel(settings, PluginRegistry(block=settings.plugins.block).load())
    ticks = iter(range(10**6))
    kernel.events.clock = lambda: START + timedelta(seconds=next(ticks))
    try:
        with Runtime(kernel) as runtime:
            states = run_cycles(runtime, cycles=None)
    finally:
        kernel.close()
    report = daily_report(settings, START.date(), now=START + timedelta(days=3))

    submitted = sum(len(s.submitted) for s in states)
    blocked = sum(len(s.blocked) for s in states)
    denials: dict[str, int] = {}
    for s in states:
        for code, n in s.denials.items():
            denials[code] = denials.get(code, 0) + n
    reported = [s for s in states if s.account is not None and s.decision is not None]
    assert submitted and blocked, "the run should both trade and hit the notional guard"

    assert report["note"] is None and report["source"] == "jsonl"
    assert report["events"]["runs"] == 1
    intents = report["intents"]
    assert intents["total"] == sum(len(s.proposed) for s in states)
    assert intents["by_final_state"] == {"blocked": blocked, "submitted": submitted}
    assert intents["approvals"]["auto"] == sum(len(s.approved) for s in states) == submitted
    assert intents["approvals"]["manual"] == 0
    assert intents["denials"]["total"] == sum(denials.values())
    assert intents["denials"]["by_code"] == dict(sorted(denials.items()))
    orders = report["orders"]
    assert orders["submitted"] == submitted and orders["failed"] == 0
    assert orders["fills"]["count"] == sum(s.fills for s in states)
    strategist = report["strategist"]
    assert strategist["decisions"] == sum(1 for s in states if s.decision is not None)
    assert strategist["by_strategist"] == {"sma-cross": strategist["decisions"]}
    assert strategist["intents"] == sum(len(s.intents) for s in states)
    assert strategist["holds"] == sum(1 for s in states if s.decision and not s.decision.intents)
    assert report["skills"]["calls"] == sum(len(s.skill_results) for s in states)
    assert report["skills"]["fallbacks"] == 0
    account = report["account"]
    assert account["cycles"] == len(reported)
    last = reported[-1].account
    assert Decimal(account["equity"]) == last.equity
    assert Decimal(account["cash"]) == last.cash
    assert Decimal(account["realized_pnl"]) == last.realized_pnl
    assert report["strategist_llm"]["calls"] == 0
    assert report["resilience"]["breaker"]["opened"] == 0
    # every renderer copes with a real day
    assert "## Orders and fills" in render(report, "md")
    assert render(report, "html").count('data-state="rendered"') >= 4
