"""tradekernel backtests and promotion gates (the ``tradekernel-backtest`` distribution).

A backtest runs the kernel's canonical cycle graph (``Runtime`` in ``tradekernel.api``)
over the ``replay`` market data with the ``paper`` broker, on a market-time clock;
parameter sweeps run many; results are recorded (and journaled) in the operator's store as
the evidence ``tradekernel promote`` checks against the ``[promotion.<stage>]`` gates. The
stage check itself (a strategist may not run in a mode above its stage) is the kernel's.
Commands: ``tradekernel backtest`` and ``tradekernel promote``; the ``processes`` sweeper
(``[components] sweeper``) runs sweeps on this machine. See docs/backtest.md.

The names below are imported on first use, so loading the plugin to add its commands
does not import the backtest machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradekernel import hookimpl
from tradekernel.api import lazy_exports

TRADEKERNEL_API = ">=1.0,<2"

_EXPORTS = {
    "BacktestResult": "runner",
    "BacktestSpec": "spec",
    "EquityStats": "metrics",
    "TradeBook": "metrics",
    "latest_backtest": "record",
    "param_grid": "spec",
    "parse_param": "spec",
    "periods_per_year": "metrics",
    "record_backtest": "record",
    "run_backtest": "runner",
    "run_sweep": "sweep",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, {name: f".{module}" for name, module in _EXPORTS.items()})


@hookimpl
def register_sweepers(register):
    from .processes import processes_sweeper

    register(
        "processes",
        processes_sweeper,
        description="a sweep's combinations in spawned processes on this machine (all cores)",
    )


@hookimpl
def register_commands(cli):
    from .backtest_cmd import backtest
    from .promote_cmd import promote

    cli.add_command(backtest)
    cli.add_command(promote)


if TYPE_CHECKING:  # what static checkers and editors see
    from .metrics import EquityStats as EquityStats
    from .metrics import TradeBook as TradeBook
    from .metrics import periods_per_year as periods_per_year
    from .record import latest_backtest as latest_backtest
    from .record import record_backtest as record_backtest
    from .runner import BacktestResult as BacktestResult
    from .runner import run_backtest as run_backtest
    from .spec import BacktestSpec as BacktestSpec
    from .spec import param_grid as param_grid
    from .spec import parse_param as parse_param
    from .sweep import run_sweep as run_sweep
