"""Backtests on the live graph, parameter sweeps and their recorded results.

A backtest runs the kernel's canonical cycle graph (:class:`tradekernel.runtime.Runtime`)
over the ``replay`` market data with the ``paper`` broker, on a market-time clock. See
docs/backtest.md.
"""

from __future__ import annotations

from .metrics import EquityStats, TradeBook, periods_per_year
from .record import latest_backtest, record_backtest
from .runner import BacktestResult, run_backtest
from .spec import BacktestSpec, config_digest, param_grid, parse_param
from .sweep import run_sweep

__all__ = [
    "BacktestResult",
    "BacktestSpec",
    "EquityStats",
    "TradeBook",
    "config_digest",
    "latest_backtest",
    "param_grid",
    "parse_param",
    "periods_per_year",
    "record_backtest",
    "run_backtest",
    "run_sweep",
]
