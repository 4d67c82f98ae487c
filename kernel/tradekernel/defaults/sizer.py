"""The default sizer ``fixed``: today's behaviour. An intent with a quantity or a
notional keeps it (the kernel never asks a sizer about it); a direction gets the fixed
``quantity`` or ``notional`` of ``[sizer.fixed]``, and without one it is refused
(``no_fixed_size``): nothing is guessed."""

from __future__ import annotations

from decimal import Decimal

from attrs import define, field

from ..components import SizeRequest, SizeResult
from ..hookspecs import hookimpl
from ..sections import positive

NO_FIXED_SIZE = "no_fixed_size"


@define
class FixedSizerConfig:
    """``[sizer.fixed]``: the size of a direction (at most one of the two)."""

    quantity: Decimal | None = field(default=None, validator=positive)
    """Units per intent."""
    notional: Decimal | None = field(default=None, validator=positive)
    """Account currency per intent (units = notional / price)."""

    def __attrs_post_init__(self) -> None:
        if self.quantity is not None and self.notional is not None:
            raise ValueError("quantity: set quantity or notional, not both")


class FixedSizer:
    """A direction gets the configured quantity, or notional / price."""

    codes = (NO_FIXED_SIZE,)

    def __init__(self, config: FixedSizerConfig | None = None) -> None:
        self.config = config or FixedSizerConfig()

    def size(self, request: SizeRequest) -> SizeResult:
        c = self.config
        if c.quantity is not None:
            return SizeResult(c.quantity, "fixed_quantity", {"fixed_quantity": c.quantity})
        if c.notional is not None:
            quantity = c.notional / request.price
            return SizeResult(quantity, "fixed_notional", {"fixed_notional": c.notional})
        return SizeResult.refused(
            NO_FIXED_SIZE,
            "the strategist gave no quantity and [sizer.fixed] sets no quantity or notional",
        )


@hookimpl
def register_sizers(register):
    register(
        "fixed",
        lambda config, ctx: FixedSizer(config),
        config=FixedSizerConfig,
        version="1",
        description="The strategist's quantity or notional; a direction gets [sizer.fixed]'s.",
    )
