"""tradekernel-sizing: sizers that give a strategy's direction a quantity:
``fixed_fractional`` (risk a fraction of the budget over the stop distance),
``volatility_target`` (ATR or the standard deviation of returns of the cycle's bars) and
``kelly`` (the Kelly fraction of the intent's confidence, scaled and capped). The
kernel's ``fixed`` sizer is the default.

See docs/portfolio.md, "Sizing".
"""

from __future__ import annotations

from tradekernel import hookimpl

from .sizers import (
    FixedFractionalConfig,
    FixedFractionalSizer,
    KellyConfig,
    KellySizer,
    VolatilityTargetConfig,
    VolatilityTargetSizer,
)

TRADEKERNEL_API = ">=1.0,<2"

__all__ = [
    "FixedFractionalConfig",
    "FixedFractionalSizer",
    "KellyConfig",
    "KellySizer",
    "VolatilityTargetConfig",
    "VolatilityTargetSizer",
]


@hookimpl
def register_sizers(register):
    register(
        "fixed_fractional",
        lambda config, ctx: FixedFractionalSizer(config),
        config=FixedFractionalConfig,
        version="1",
        description="Risk a fraction of the strategy's budget over the stop distance.",
    )
    register(
        "volatility_target",
        lambda config, ctx: VolatilityTargetSizer(config),
        config=VolatilityTargetConfig,
        version="1",
        description="Size to a target volatility: ATR or the stdev of returns of the bars.",
    )
    register(
        "kelly",
        lambda config, ctx: KellySizer(config),
        config=KellyConfig,
        version="1",
        description="A fraction of the Kelly bet of the intent's confidence, capped.",
    )
