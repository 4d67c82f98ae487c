"""Guards on size and loss: order notional, position, gross exposure, daily loss.

Orders that reduce a position (see :func:`tradekernel.risk.reduces_position`) always
pass the position and exposure limits: they move the book toward safety.
"""

from __future__ import annotations

from decimal import Decimal

from attrs import define, field
from tradekernel.api import (
    GuardContext,
    GuardVerdict,
    Intent,
    intent_notional,
    intent_price,
    intent_quantity,
    positive,
    reduces_position,
    signed,
    to_decimal,
)


def _no_price(name: str, intent: Intent) -> GuardVerdict:
    return GuardVerdict.denied(name, "no_price", f"no price for {intent.symbol} to value the order")


def _held(intent: Intent, ctx: GuardContext) -> Decimal:
    position = ctx.positions.get(intent.symbol)
    return position.quantity if position is not None else Decimal(0)


@define
class MaxOrderNotionalConfig:
    """``[guard.max_order_notional]``: the largest value one order may have."""

    limit: Decimal = field(validator=positive)


class MaxOrderNotionalGuard:
    """Denies orders whose notional (quantity x last price, or the intent's notional)
    exceeds ``limit``."""

    codes = ("order_notional_exceeded", "no_price")

    def __init__(self, config: MaxOrderNotionalConfig, name: str = "max_order_notional") -> None:
        self.limit = config.limit
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        notional = intent_notional(intent, intent_price(intent, ctx))
        if notional is None:
            return _no_price(self.name, intent)
        if notional > self.limit:
            return GuardVerdict.denied(
                self.name, "order_notional_exceeded", f"notional {notional} > limit {self.limit}"
            )
        return GuardVerdict.allowed(self.name, detail=f"notional {notional}")


def _at_least_one_limit(inst: MaxPositionConfig, _attribute: object, _value: object) -> None:
    if inst.max_quantity is None and inst.max_notional is None:
        raise ValueError("max_quantity: set max_quantity, max_notional or both")


@define
class MaxPositionConfig:
    """``[guard.max_position]``: the largest position per symbol after the order."""

    max_quantity: Decimal | None = field(default=None, validator=positive)
    max_notional: Decimal | None = field(default=None, validator=[positive, _at_least_one_limit])


class MaxPositionGuard:
    """Denies orders that would leave a position above ``max_quantity`` shares or
    ``max_notional`` in value (absolute, so shorts count too)."""

    codes = ("position_limit_exceeded", "no_price")

    def __init__(self, config: MaxPositionConfig, name: str = "max_position") -> None:
        self.config = config
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        price = intent_price(intent, ctx)
        quantity = intent_quantity(intent, price)
        if quantity is None:
            return _no_price(self.name, intent)
        if reduces_position(intent, ctx.positions, price=price):
            return GuardVerdict.allowed(self.name, detail="reducing order")
        after = abs(_held(intent, ctx) + signed(intent, quantity))
        cfg = self.config
        if cfg.max_quantity is not None and after > cfg.max_quantity:
            return GuardVerdict.denied(
                self.name,
                "position_limit_exceeded",
                f"{intent.symbol} position {after} > max_quantity {cfg.max_quantity}",
            )
        if cfg.max_notional is not None:
            if price is None:
                return _no_price(self.name, intent)
            value = after * price
            if value > cfg.max_notional:
                return GuardVerdict.denied(
                    self.name,
                    "position_limit_exceeded",
                    f"{intent.symbol} position value {value} > max_notional {cfg.max_notional}",
                )
        return GuardVerdict.allowed(self.name, detail=f"position after {after}")


@define
class MaxGrossExposureConfig:
    """``[guard.max_gross_exposure]``: the largest sum of |position values| after the order."""

    limit: Decimal = field(validator=positive)


class MaxGrossExposureGuard:
    """Denies orders that would lift gross exposure (sum of |position value|, each
    position at its market price, else its average price) above ``limit``. The
    order's symbol is valued at the order's price."""

    codes = ("gross_exposure_exceeded", "no_price")

    def __init__(self, config: MaxGrossExposureConfig, name: str = "max_gross_exposure") -> None:
        self.limit = config.limit
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        price = intent_price(intent, ctx)
        held = _held(intent, ctx)
        quantity = intent_quantity(intent, price)
        if price is not None and quantity is not None:
            if reduces_position(intent, ctx.positions, price=price):
                return GuardVerdict.allowed(self.name, detail="reducing order")
            symbol_value = abs(held + signed(intent, quantity)) * price
        elif intent.notional is not None and not held:
            symbol_value = intent.notional  # a new position is worth its notional
        else:
            return _no_price(self.name, intent)
        others = sum(
            (abs(p.market_value) for s, p in ctx.positions.items() if s != intent.symbol),
            Decimal(0),
        ) + sum((abs(p.market_value) for p in ctx.other_positions), Decimal(0))
        gross = others + symbol_value
        if gross > self.limit:
            return GuardVerdict.denied(
                self.name, "gross_exposure_exceeded", f"gross exposure {gross} > limit {self.limit}"
            )
        return GuardVerdict.allowed(self.name, detail=f"gross exposure {gross}")


@define
class DailyLossLimitConfig:
    """``[guard.daily_loss_limit]``: stop adding risk once today's loss reaches ``limit``."""

    limit: Decimal = field(validator=positive)
    allow_reducing: bool = True
    """Let orders that reduce a position through after the limit is reached."""


class DailyLossLimitGuard:
    """Denies orders once today's loss, -(``ctx.realized_pnl_today`` +
    ``ctx.unrealized_pnl_today``), is at least ``limit``."""

    codes = ("daily_loss_limit_reached",)

    def __init__(self, config: DailyLossLimitConfig, name: str = "daily_loss_limit") -> None:
        self.config = config
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        pnl = to_decimal(ctx.realized_pnl_today) + to_decimal(ctx.unrealized_pnl_today or 0)
        loss = -pnl
        if loss < self.config.limit:
            return GuardVerdict.allowed(self.name, detail=f"loss today {loss}")
        if self.config.allow_reducing and reduces_position(
            intent, ctx.positions, price=intent_price(intent, ctx)
        ):
            return GuardVerdict.allowed(self.name, detail=f"loss today {loss}; reducing order")
        return GuardVerdict.denied(
            self.name,
            "daily_loss_limit_reached",
            f"loss today {loss} >= limit {self.config.limit}",
        )
