"""tradekernel-rules: the rule-based strategist ``sma-cross`` (``hold``, the safe
default, is the kernel's own).

See docs/guards-and-strategists.md.
"""

from __future__ import annotations

from tradekernel import hookimpl

from .sma import SmaCrossConfig, SmaCrossStrategist

__all__ = ["SmaCrossConfig", "SmaCrossStrategist"]


@hookimpl
def register_strategists(register):
    register(
        "sma-cross",
        lambda config, ctx: SmaCrossStrategist(config),
        config=SmaCrossConfig,
        version="1",
        description="Long-only fast/slow simple moving average crossover.",
    )
