"""The three sizers. Each turns one :class:`SizeRequest` (an unsized intent, its price,
the strategy's budget, the position and the cycle's bars) into units, or refuses with a
stable code; the kernel then rounds the units down to the broker's order constraints
and drops a size that rounds to zero. Arithmetic is Decimal throughout; bars are
judged before use (a bar of another symbol, or a price that is not a positive finite
number, is refused as ``bad_bars``: never guessed around)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Literal

from attrs import define, field
from tradekernel.api import Bar, Side, SizeRequest, SizeResult, positive, ratio

NO_STOP_DISTANCE = "no_stop_distance"
STOP_ON_WRONG_SIDE = "stop_on_wrong_side"
NOT_ENOUGH_BARS = "not_enough_bars"
BAD_BARS = "bad_bars"
ZERO_VOLATILITY = "zero_volatility"
NO_EDGE = "no_edge"


def _capped(quantity: Decimal, request: SizeRequest, max_weight: float, inputs: dict) -> Decimal:
    """``quantity``, at most ``max_weight`` x the budget's worth of units."""
    cap = Decimal(str(max_weight)) * request.budget / request.price
    inputs["max_weight"] = Decimal(str(max_weight))
    if quantity > cap:
        inputs["capped_at_max_weight"] = "true"
        return cap
    return quantity


@define
class FixedFractionalConfig:
    """``[sizer.fixed_fractional]``."""

    risk: float = field(default=0.01, validator=[ratio, positive])
    """The fraction of the strategy's budget lost if the stop is hit (0.01 = 1 %)."""
    stop_distance: float | None = field(default=None, validator=positive)
    """The stop distance as a fraction of the price, for an intent without
    ``stop_price`` (0.02 = 2 % away); unset: such an intent is refused."""
    max_weight: float = field(default=1.0, validator=[ratio, positive])
    """The position bought at most, as a fraction of the budget."""


class FixedFractionalSizer:
    """units = risk x budget / |price - stop|."""

    codes = (NO_STOP_DISTANCE, STOP_ON_WRONG_SIDE)

    def __init__(self, config: FixedFractionalConfig | None = None) -> None:
        self.config = config or FixedFractionalConfig()

    def size(self, request: SizeRequest) -> SizeResult:
        c, intent, price = self.config, request.intent, request.price
        risk = Decimal(str(c.risk))
        inputs: dict = {"risk": risk}
        if intent.stop_price is not None:
            stop = intent.stop_price
            wrong = stop >= price if intent.side is Side.BUY else stop <= price
            if wrong:
                return SizeResult.refused(
                    STOP_ON_WRONG_SIDE,
                    f"a {intent.side} at {price} with its stop at {stop}",
                    stop_price=str(stop),
                )
            distance = abs(price - stop)
            inputs["stop_price"] = stop
        elif c.stop_distance is not None:
            distance = price * Decimal(str(c.stop_distance))
            inputs["stop_distance_ratio"] = Decimal(str(c.stop_distance))
        else:
            return SizeResult.refused(
                NO_STOP_DISTANCE,
                "the intent has no stop_price and [sizer.fixed_fractional] no stop_distance",
            )
        inputs["stop_distance"] = distance
        quantity = _capped(risk * request.budget / distance, request, c.max_weight, inputs)
        return SizeResult(quantity, "fixed_fractional", inputs)


@define
class VolatilityTargetConfig:
    """``[sizer.volatility_target]``."""

    target: float = field(default=0.01, validator=[ratio, positive])
    """The position's expected move per bar, as a fraction of the budget (0.01 = 1 %)."""
    method: Literal["atr", "stdev"] = "atr"
    """``atr``: the average true range of the bars; ``stdev``: the sample standard
    deviation of their close-to-close returns, times the price."""
    lookback: int = field(default=20, validator=positive)
    """How many bars (true ranges or returns) it is measured over; it needs one bar more."""
    max_weight: float = field(default=1.0, validator=[ratio, positive])
    """The position bought at most, as a fraction of the budget."""


def _checked(bars: Sequence[Bar], symbol: str) -> str | None:
    for bar in bars:
        if bar.symbol != symbol:
            return f"a bar of {bar.symbol!r} among those of {symbol!r}"
        for name in ("open", "high", "low", "close"):
            value = getattr(bar, name)
            if not value.is_finite() or value <= 0:
                return f"bar {bar.ts}: {name} {value} is not a positive number"
        if bar.high < bar.low:
            return f"bar {bar.ts}: high {bar.high} is below low {bar.low}"
    return None


def average_true_range(bars: Sequence[Bar]) -> Decimal:
    """The mean true range of ``bars[1:]`` (each against the previous close)."""
    ranges = [
        max(b.high - b.low, abs(b.high - prev.close), abs(b.low - prev.close))
        for prev, b in itertools.pairwise(bars)
    ]
    return sum(ranges, Decimal(0)) / len(ranges)


def return_stdev(bars: Sequence[Bar]) -> Decimal:
    """The sample standard deviation of the close-to-close returns of ``bars``."""
    returns = [b.close / prev.close - 1 for prev, b in itertools.pairwise(bars)]
    mean = sum(returns, Decimal(0)) / len(returns)
    variance = sum(((r - mean) ** 2 for r in returns), Decimal(0)) / max(len(returns) - 1, 1)
    return variance.sqrt()


class VolatilityTargetSizer:
    """units = target x budget / (the price move of one unit per bar)."""

    codes = (NOT_ENOUGH_BARS, BAD_BARS, ZERO_VOLATILITY)

    def __init__(self, config: VolatilityTargetConfig | None = None) -> None:
        self.config = config or VolatilityTargetConfig()

    def size(self, request: SizeRequest) -> SizeResult:
        c = self.config
        bars = list(request.bars)[-(c.lookback + 1) :]
        if len(bars) < c.lookback + 1:
            return SizeResult.refused(
                NOT_ENOUGH_BARS, f"{len(bars)} bars, {c.lookback + 1} needed", bars=len(bars)
            )
        if problem := _checked(bars, request.intent.symbol):
            return SizeResult.refused(BAD_BARS, problem)
        target = Decimal(str(c.target))
        inputs: dict = {"target": target, "lookback": c.lookback}
        try:
            if c.method == "atr":
                move = inputs["atr"] = average_true_range(bars)
            else:
                stdev = inputs["stdev"] = return_stdev(bars)
                move = stdev * request.price
        except (InvalidOperation, ArithmeticError) as exc:
            return SizeResult.refused(BAD_BARS, f"{type(exc).__name__}: {exc}")
        if not move.is_finite() or move <= 0:
            return SizeResult.refused(ZERO_VOLATILITY, f"the bars do not move ({c.method})")
        quantity = _capped(target * request.budget / move, request, c.max_weight, inputs)
        return SizeResult(quantity, c.method, inputs)


@define
class KellyConfig:
    """``[sizer.kelly]``."""

    payoff: float = field(default=1.0, validator=positive)
    """What a win pays per unit lost (the odds ``b``)."""
    fraction: float = field(default=0.5, validator=[ratio, positive])
    """The share of the full Kelly bet taken (0.5: half Kelly)."""
    cap: float = field(default=0.2, validator=[ratio, positive])
    """The largest position, as a fraction of the budget, whatever the Kelly bet."""


class KellySizer:
    """weight = min(fraction x (p - (1 - p) / b), cap), p the intent's confidence;
    units = weight x budget / price. No edge (a Kelly bet of zero or less) is refused."""

    codes = (NO_EDGE,)

    def __init__(self, config: KellyConfig | None = None) -> None:
        self.config = config or KellyConfig()

    def size(self, request: SizeRequest) -> SizeResult:
        c = self.config
        p = Decimal(str(request.intent.confidence))
        b = Decimal(str(c.payoff))
        kelly = p - (1 - p) / b
        inputs: dict = {"confidence": p, "payoff": b, "kelly": kelly}
        if kelly <= 0:
            return SizeResult.refused(
                NO_EDGE, f"confidence {p} at payoff {b} gives a Kelly bet of {kelly}"
            )
        fraction, cap = Decimal(str(c.fraction)), Decimal(str(c.cap))
        weight = min(kelly * fraction, cap)
        inputs.update(fraction=fraction, cap=cap, weight=weight)
        return SizeResult(weight * request.budget / request.price, "kelly", inputs)
