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


def test_a_strategy_taken_out_with_open_positions_is_never_sold_by_the_other(tmp_path):
    """slow is taken out of the configuration while it holds shares: fast, alone now,
    still decides from its own position (it never sells slow's shares nor goes short),
    slow's book stays as it was, and the books still add up to the account."""
    env = {"TRADEKERNEL_KERNEL__STATE_DIR": str(tmp_path / "state")}
    base = ["--config", str(EXAMPLE)]
    assert invoke([*base, "run", "--cycles", "150", "--quiet"], env).exit_code == 0

    def books() -> dict:
        report = invoke([*base, "report", "daily", "--format", "json"], env)
        assert report.exit_code == 0, report.stderr
        return json.loads(report.stdout)["strategies"]

    before = {row["strategy"]: row for row in books()["strategies"]}
    assert before["slow"]["positions"], "slow holds shares when it is taken out"
    alone = {**env, "TRADEKERNEL_COMPONENTS__STRATEGISTS": '["fast"]'}
    check = invoke([*base, "config", "check"], alone)
    assert check.exit_code == 0 and "budgets.slow" in check.stderr + check.stdout
    assert invoke([*base, "run", "--cycles", "100", "--quiet"], alone).exit_code == 0
    after = books()
    rows = {row["strategy"]: row for row in after["strategies"]}
    assert rows["slow"]["positions"] == before["slow"]["positions"]
    assert rows["fast"]["fills"] > before["fast"]["fills"]
    assert all(Decimal(q) > 0 for q in rows["fast"]["positions"].values()), rows["fast"]
    total = sum(Decimal(row["pnl"]) for row in rows.values())
    assert total == Decimal(after["portfolio"]["pnl"])
    assert invoke([*base, "journal", "verify"], alone).exit_code == 0
