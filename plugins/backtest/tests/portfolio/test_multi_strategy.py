"""A backtest of several strategies: the same allocation, conflict and sizing rules as
``run``, each strategy's numbers and the portfolio's, which add up to the account's, and
promotion gates checked per strategy."""

from __future__ import annotations

import json
import math
import random
import textwrap
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tradekernel.api import Settings, Store, get_stage
from tradekernel.testing import invoke as tk_invoke
from tradekernel_backtest import BacktestSpec, run_backtest

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
strategists = ["fast", "slow"]
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]

[guard.max_order_notional]
limit = 1000000

[broker.paper]
cash = 100000
commission = 0.0007
slippage_bps = 3

[strategist.fast]
use = "sma-cross"
fast = 2
slow = 5
quantity = 30

[strategist.slow]
use = "sma-cross"
fast = 4
slow = 12
quantity = 50

[portfolio]
conflict = "net"

[portfolio.budgets.fast]
fraction = 0.4

[portfolio.budgets.slow]
amount = 30000

[promotion.shadow]
min_trades = {min_trades}
"""


def write_walk(path: Path, seed: int, bars: int = 160) -> Path:
    """A random walk of daily bars (prices with cents)."""
    rng = random.Random(seed)
    price = 50.0
    lines = ["Date,Open,High,Low,Close,Volume"]
    day = date(2024, 1, 1)
    for _ in range(bars):
        open_ = price
        price = max(5.0, price * math.exp(rng.gauss(0, 0.03)))
        hi, lo = max(open_, price) * 1.01, min(open_, price) * 0.99
        lines.append(f"{day},{open_:.2f},{hi:.2f},{lo:.2f},{price:.2f},100000")
        day += timedelta(days=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, list[str]]:
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(textwrap.dedent(CONFIG).format(state=tmp_path / "operator", min_trades=1))
    data = tmp_path / "data"
    for seed, symbol in enumerate(("AAA", "BBB")):
        write_walk(data / f"{symbol}.csv", seed + 11)
    return cfg, [str(data)]


def test_strategies_add_up_to_the_portfolio(setup, tmp_path: Path) -> None:
    cfg, data = setup
    base = Settings.load(cfg, environ={})
    spec = BacktestSpec(data=data, state_dir=tmp_path / "bt-state", record=False)
    m = run_backtest(base, spec).metrics
    assert m["strategist"] == "fast+slow"
    strategies, portfolio = m["strategies"], m["portfolio"]
    assert set(strategies) == {"fast", "slow"}
    assert all(strategies[n]["fills"] > 0 for n in ("fast", "slow"))

    def total(key: str) -> Decimal:
        return sum((Decimal(s[key]) for s in strategies.values()), Decimal(0))

    # to the cent (and in fact exactly): P&L, commissions, realized + unrealized
    assert total("pnl") == Decimal(portfolio["pnl"]) == Decimal(portfolio["account_pnl"])
    assert total("commissions") == Decimal(portfolio["commissions"])
    assert abs(Decimal(str(m["commissions"])) - total("commissions")) < Decimal("0.01")
    assert total("realized_pnl") + total("unrealized_pnl") - total("commissions") == total("pnl")
    assert abs(Decimal(str(m["final_equity"])) - 100000 - total("pnl")) < Decimal("0.01")
    # netting happened: the strategies' round trips are more than the account's
    state = Store.open(tmp_path / "bt-state", create=False)
    with state:
        netted = state.conn.execute("SELECT COUNT(DISTINCT intent_id) FROM strategy_shares")
        assert netted.fetchone()[0] > 0
    # sma-cross is long only and sells its own position, never another strategy's
    for row in strategies.values():
        assert all(Decimal(q) > 0 for q in row["positions"].values()), row["positions"]
    # each strategy's return is its P&L over its starting capital (its budget)
    assert strategies["fast"]["capital"] == "40000.0"
    assert strategies["slow"]["capital"] == "30000"
    for row in strategies.values():
        expected = float(Decimal(row["pnl"]) / Decimal(row["capital"]))
        assert row["total_return"] == pytest.approx(expected, abs=1e-9)
        assert 0 <= row["max_drawdown"] < 1 and 0 <= row["exposure"] <= 1


def test_cli_shows_each_strategy(setup) -> None:
    cfg, data = setup
    args = ["--config", str(cfg), "backtest", "--data", data[0], "--no-record"]
    text = tk_invoke(args)
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.split()[:1] == ["fast"] for line in lines)
    assert any(line.split()[:1] == ["slow"] for line in lines)
    assert any(line.split()[:1] == ["portfolio"] for line in lines)
    out = tk_invoke([*args, "--json"])
    m = json.loads(out.stdout)
    assert set(m["strategies"]) == {"fast", "slow"}
    # one strategy alone keeps working
    alone = tk_invoke([*args, "--strategist", "fast", "--json"])
    assert alone.exit_code == 0, alone.stderr
    one = json.loads(alone.stdout)
    assert one["strategist"] == "fast" and "strategies" not in one
    # a --param names its strategy when there are several
    bad = tk_invoke([*args, "--param", "slow=20"])
    assert bad.exit_code == 2 and "STRATEGY.KEY" in bad.stderr
    ok = tk_invoke([*args, "--param", "slow.slow=20", "--json"])
    assert ok.exit_code == 0, ok.stderr


def test_promotion_gates_per_strategy(setup, tmp_path: Path) -> None:
    cfg, data = setup
    base = Settings.load(cfg, environ={})
    m = run_backtest(base, BacktestSpec(data=data)).metrics
    trades = {n: m["strategies"][n]["trades"] for n in ("fast", "slow")}
    assert set(m["record_ids"]) == {"fast", "slow"}
    # a gate between the two strategies' trade counts: one passes, the other fails
    low, high = sorted(trades, key=trades.__getitem__)
    assert trades[low] < trades[high]
    cfg.write_text(
        textwrap.dedent(CONFIG).format(state=tmp_path / "operator", min_trades=trades[high])
    )
    passed = tk_invoke(["--config", str(cfg), "promote", high, "--to", "shadow"])
    assert passed.exit_code == 0, passed.stderr
    failed = tk_invoke(["--config", str(cfg), "promote", low, "--to", "shadow"])
    assert failed.exit_code == 4 and "min_trades" in failed.stderr
    with Store.open(tmp_path / "operator", create=False) as store:
        assert get_stage(store, high) == "shadow"
        assert get_stage(store, low) is None


def test_a_partially_filled_netted_order_splits_to_the_cent(setup, tmp_path: Path) -> None:
    """Each bar fills at most 0.03% of its volume (30 shares): a netted order of both
    strategies fills over several bars, each part split by the recorded shares."""
    cfg, data = setup
    cfg.write_text(
        cfg.read_text().replace("slippage_bps = 3", "slippage_bps = 3\nmax_volume_share = 0.0003")
    )
    base = Settings.load(cfg, environ={})
    spec = BacktestSpec(data=data, state_dir=tmp_path / "bt-state", record=False)
    m = run_backtest(base, spec).metrics
    strategies, portfolio = m["strategies"], m["portfolio"]
    with Store.open(tmp_path / "bt-state", create=False) as state:
        split = state.conn.execute(
            "SELECT f.intent_id, COUNT(*) FROM fills f WHERE f.intent_id IN "
            "(SELECT intent_id FROM strategy_shares GROUP BY intent_id "
            " HAVING COUNT(DISTINCT strategist) > 1) GROUP BY f.intent_id HAVING COUNT(*) > 1"
        ).fetchall()
    assert split, "no netted order of both strategies filled in parts"

    def total(key: str) -> Decimal:
        return sum((Decimal(s[key]) for s in strategies.values()), Decimal(0))

    assert total("pnl") == Decimal(portfolio["pnl"]) == Decimal(portfolio["account_pnl"])
    assert total("commissions") == Decimal(portfolio["commissions"])
    assert abs(Decimal(str(m["final_equity"])) - 100000 - total("pnl")) < Decimal("0.01")
