"""The ``dask`` sweeper: a backtest sweep's combinations on ``dask.distributed``, a
``LocalCluster`` sized to this machine by default or an existing cluster's scheduler
(``[sweeper.dask] scheduler``, ``backtest --scheduler``); docs/scale-out.md. Dask is
imported only when a sweep runs on it, never when the plugin is loaded."""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl

TRADEKERNEL_API = ">=1.0,<2"


def _build(config: Any, ctx: Any) -> Any:
    from .sweeper import DaskSweeper

    return DaskSweeper(config)


@hookimpl
def register_sweepers(register):
    from .config import DaskConfig

    register(
        "dask",
        _build,
        config=DaskConfig,
        description="a sweep's combinations on Dask: a LocalCluster or an existing scheduler",
        install="pip install tradekernel-dask",
    )
