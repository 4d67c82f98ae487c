"""The default allocator: each strategy's budget is what ``[portfolio.budgets]`` sets."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from ..components import AllocationRequest
from ..hookspecs import hookimpl


class FixedAllocator:
    """Budgets straight from config: a ``fraction`` of equity or a fixed ``amount``."""

    def allocate(self, request: AllocationRequest) -> Mapping[str, Decimal]:
        return dict(request.configured)


@hookimpl
def register_allocators(register):
    register(
        "fixed",
        lambda config, ctx: FixedAllocator(),
        description="Each strategy's capital budget as [portfolio.budgets] sets it.",
    )
