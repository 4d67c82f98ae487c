"""tradekernel-rules: rule-based strategists ``hold`` and ``sma-cross``.

See docs/guards-and-strategists.md.
"""

from __future__ import annotations

from tradekernel import hookimpl

from .hold import HoldStrategist
from .sma import SmaCrossConfig, SmaCrossStrategist

__all__ = ["HoldStrategist", "SmaCrossConfig", "SmaCrossStrategist"]


@hookimpl
def register_strategists(register):
    register(
        "hold",
        lambda config, ctx: HoldStrategist(),
        version="1",
        description="Always holds (reason strategy_hold): the safe default.",
    )
    register(
        "sma-cross",
        lambda config, ctx: SmaCrossStrategist(config),
        config=SmaCrossConfig,
        version="1",
        description="Long-only fast/slow simple moving average crossover.",
    )
