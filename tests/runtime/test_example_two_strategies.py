"""examples/two-strategies.toml, which the demo runs, stays a working configuration: two
sma-cross instances both trade, each strategy's P&L adds up to the account's to the cent,
and the journal verifies."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tradekernel.testing import invoke

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two-strategies.toml"


def test_the_two_strategies_example_trades_both_and_adds_up(tmp_path):
    env = {"TRADEKERNEL_KERNEL__STATE_DIR": str(tmp_path / "state")}
    base = ["--config", str(EXAMPLE)]
    assert invoke([*base, "config", "check"], env).exit_code == 0
    run = invoke([*base, "run", "--cycles", "300", "--quiet"], env)
    assert run.exit_code == 0, run.stderr
    report = invoke([*base, "report", "daily", "--format", "json"], env)
    assert report.exit_code == 0, report.stderr
    data = json.loads(report.stdout)
    strategies = {row["strategy"]: row for row in data["strategies"]["strategies"]}
    assert {"fast", "slow"} <= set(strategies)
    assert strategies["fast"]["fills"] > 0 and strategies["slow"]["fills"] > 0
    # the budgets in force come from the run's portfolio.allocation events
    assert strategies["slow"]["budget"] == "50000"
    assert Decimal(strategies["fast"]["budget"]) > 0
    # netted fills are split cleanly at the quantities' precision: whole shares here
    for row in strategies.values():
        assert all(Decimal(q) == Decimal(q).to_integral_value() for q in row["positions"].values())
        assert all("." not in q for q in row["positions"].values()), row["positions"]
        # long only, each selling its own position (its sub-ledger), never the other's
        assert all(Decimal(q) > 0 for q in row["positions"].values()), row["positions"]
    total = sum(Decimal(row["pnl"]) for row in strategies.values())
    assert total == Decimal(data["strategies"]["portfolio"]["pnl"])
    assert invoke([*base, "journal", "verify"], env).exit_code == 0
