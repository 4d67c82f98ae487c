"""A backtest's results are those of the kernel before the idle-cycle work (issue 13):
reusing what an unchanged store answered, building only the events something consumes
and keeping no cycle's state must not change a single number."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest

tradekernel_backtest = pytest.importorskip("tradekernel_backtest")

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
guards = ["max_order_notional"]

[guard.max_order_notional]
limit = 1000000

[strategist.sma-cross]
fast = 10
slow = 30
"""

BEFORE = {
    "bars": 2922,
    "trades": 54,
    "fills": 108,
    "intents": 108,
    "intents_blocked": 0,
    "final_equity": 99824.5,
    "gross_profit": 765.3,
    "gross_loss": 940.8,
    "guard_denials": {},
}
"""Measured with the kernel of b638979 (the main branch before issue 13's runtime work)."""


def _write_data(path: Path, bars: int = 3000) -> None:
    rnd = random.Random(42)
    price = 100.0
    day = date(1800, 1, 1)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for _ in range(bars):
        open_ = price
        price = max(1.0, price * (1 + rnd.gauss(0.0, 0.01) + 0.001 * (100.0 - price) / 100.0))
        hi, lo = max(open_, price) * 1.002, min(open_, price) * 0.998
        lines.append(f"{day.isoformat()},{open_:.2f},{hi:.2f},{lo:.2f},{price:.2f},1000000")
        day += timedelta(days=1)
    path.write_text("\n".join(lines) + "\n")


def test_a_backtest_gives_the_numbers_it_gave_before(tmp_path):
    from tradekernel.settings import Settings

    data = tmp_path / "AAA.csv"
    _write_data(data)
    config = tmp_path / "plugins.toml"
    config.write_text(CONFIG.format(state=tmp_path / "operator"))
    base = Settings.load(config, environ={})
    spec = tradekernel_backtest.BacktestSpec(
        strategist="sma-cross", data=[str(data)], end="1808-01-01", record=False
    )
    metrics = tradekernel_backtest.run_backtest(base, spec).metrics
    assert {k: metrics[k] for k in BEFORE} == BEFORE
