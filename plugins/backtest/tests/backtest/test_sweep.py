"""Parameter sweeps: one process per combination; each row equals the single run."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

from tradekernel_backtest import BacktestSpec, param_grid, parse_param, run_backtest, run_sweep


def test_parse_and_grid():
    assert parse_param("fast=5,10,20") == ("fast", [5, 10, 20])
    assert parse_param("x=0.5,abc") == ("x", [0.5, "abc"])
    grid = param_grid([("fast", [2, 3]), ("slow", [4, 5])])
    assert grid == [
        {"fast": 2, "slow": 4},
        {"fast": 2, "slow": 5},
        {"fast": 3, "slow": 4},
        {"fast": 3, "slow": 5},
    ]


def test_sweep_rows_equal_single_runs(base, hand_csv, tmp_path):
    spec = BacktestSpec(
        strategist="sma-cross",
        data=[str(hand_csv)],
        cash=Decimal(10000),
        commission=Decimal("0.001"),
        out_dir=tmp_path / "sweep",
    )
    grid = [{"fast": 2, "slow": 3}, {"fast": 2, "slow": 4}, {"fast": 3, "slow": 3}]
    rows = run_sweep(base, spec, grid, workers=2)
    assert [r["fast"] for r in rows] == [2, 2, 3]
    assert rows[2]["error"] and "slow" in rows[2]["error"]  # slow must exceed fast
    for row, params in zip(rows[:2], grid[:2], strict=True):
        single = BacktestSpec(
            strategist="sma-cross",
            data=[str(hand_csv)],
            cash=Decimal(10000),
            commission=Decimal("0.001"),
            params=params,
            record=False,
        )
        m = run_backtest(base, single).metrics
        for key in (
            "final_equity",
            "trades",
            "sharpe",
            "max_drawdown",
            "commissions",
            "config_digest",
            "exposure",
        ):
            assert row[key] == m[key], key
    assert rows[0]["trades"] == 3
    saved = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert saved == json.loads(json.dumps(rows, default=str))
    with (tmp_path / "sweep" / "sweep.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 3
    assert (tmp_path / "sweep" / "runs" / "001" / "trades.csv").exists()
