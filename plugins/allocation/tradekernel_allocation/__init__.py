"""tradekernel-allocation: the ``inverse-volatility`` allocator (the kernel's own
``fixed`` takes the budgets from config).

See docs/portfolio.md, "Budgets and allocation".
"""

from __future__ import annotations

from tradekernel import hookimpl

from .inverse_volatility import InverseVolatilityAllocator, InverseVolatilityConfig

__all__ = ["InverseVolatilityAllocator", "InverseVolatilityConfig"]


@hookimpl
def register_allocators(register):
    register(
        "inverse-volatility",
        lambda config, ctx: InverseVolatilityAllocator(config),
        config=InverseVolatilityConfig,
        version="1",
        description="Budgets in inverse proportion to each strategy's P&L volatility, "
        "moved at most max_step per allocation.",
    )
