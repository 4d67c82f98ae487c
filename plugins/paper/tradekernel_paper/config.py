"""``[broker.paper]``: the paper broker's configuration."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attrs import define, field
from tradekernel.api import OrderConstraints, non_negative, positive, ratio, to_decimal


def _non_empty(_inst: object, attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name}: expected a file name")


@define
class PaperConfig:
    """``[broker.paper]``."""

    cash: Decimal = field(default=Decimal(100000), converter=to_decimal, validator=positive)
    """Starting cash of a new account (an existing account database keeps its own)."""
    commission: Decimal = field(default=Decimal(0), converter=to_decimal, validator=non_negative)
    """Commission as a fraction of each fill's notional (0.001 = 10 bps)."""
    slippage_bps: Decimal = field(default=Decimal(0), converter=to_decimal, validator=non_negative)
    """Market orders fill this many basis points worse than the bar's open."""
    max_volume_share: float = field(default=1.0, validator=ratio)
    """Below 1: a bar fills at most this share of its volume; the rest keeps working."""
    allow_short: bool = False
    """Allow sells beyond the held quantity (negative positions)."""
    db: str = field(default="paper.db", validator=_non_empty)
    """The account database, relative to ``[kernel] state_dir`` unless absolute."""
    durable: bool = True
    """``False`` (what a backtest sets for its own account): commits skip the fsync
    (``synchronous=OFF``), the same SQL and transactions otherwise; closing the broker
    checkpoints the file with ``synchronous=FULL``. A crash of the process loses nothing
    committed, a power loss may: never for an account you keep."""
    history_cache: int = field(default=256, validator=non_negative)
    """Closed orders (with their fills) kept in memory; older ones are read from the
    database on demand. Open orders are always in memory."""
    min_quantity: Decimal = field(default=Decimal(1), converter=to_decimal, validator=non_negative)
    """The smallest order quantity accepted (after rounding to ``quantity_increment``)."""
    quantity_increment: Decimal = field(
        default=Decimal(1), converter=to_decimal, validator=positive
    )
    """Order quantities are multiples of this (1: whole shares)."""
    min_notional: Decimal = field(default=Decimal(0), converter=to_decimal, validator=non_negative)
    """The smallest quantity x price an order may have (0: none)."""
    price_tick: Decimal = field(default=Decimal(0), converter=to_decimal, validator=non_negative)
    """Limit prices are multiples of this (0: any price)."""

    def order_constraints(self) -> OrderConstraints:
        """These settings as the kernel's :class:`OrderConstraints`."""
        return OrderConstraints(
            min_quantity=self.min_quantity,
            quantity_increment=self.quantity_increment,
            min_notional=self.min_notional,
            price_tick=self.price_tick or None,
        )
