"""The ``sma-cross`` strategist: a long-only simple moving average crossover.

Buy when the fast SMA crosses above the slow SMA and nothing is held; sell the whole
long position when it crosses below. With several strategies, "held" is this strategy's
own position (its sub-ledger, ``StrategyInput.held``), never another strategy's. The
comparison is exact: a float fast path (``math.fsum`` over the window) decides clear
cases, and near-ties are settled with Decimal arithmetic, so the same bars always give
the same decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, localcontext

import attrs
from attrs import define, field
from tradekernel.api import Bar, Decision, Intent, Side, StrategyInput, positive

NAME = "sma-cross"
_DEFAULT_QUANTITY = Decimal(10)
_TIE_TOLERANCE = 1e-12


def _slow_above_fast(inst: SmaCrossConfig, attribute: attrs.Attribute, value: int) -> None:
    if value <= inst.fast:
        raise ValueError(
            f"{attribute.name}: must be greater than fast ({inst.fast}), got {value!r}"
        )


def _one_amount(inst: SmaCrossConfig, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and inst.quantity is not None:
        raise ValueError(f"{attribute.name}: set either quantity or notional, not both")


def _symbols(value: list[str] | None) -> list[str] | None:
    return None if value is None else [s.strip().upper() for s in value]


@define
class SmaCrossConfig:
    """``[strategist.sma-cross]``."""

    fast: int = field(default=10, validator=positive)
    slow: int = field(default=30, validator=[positive, _slow_above_fast])
    quantity: Decimal | None = field(default=None, validator=positive)
    """Shares to buy on a cross up (10 when neither quantity nor notional is set)."""
    notional: Decimal | None = field(default=None, validator=[positive, _one_amount])
    """Money to buy on a cross up, instead of a quantity."""
    symbols: list[str] | None = field(default=None, converter=_symbols)
    """Only trade these symbols (default: every candidate)."""


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


class SmaCrossStrategist:
    """Fast/slow simple moving average crossover, long only."""

    def __init__(self, config: SmaCrossConfig) -> None:
        self.config = config
        self.fast = config.fast
        self.slow = config.slow
        if config.notional is not None:
            self.amount = {"notional": config.notional}
        else:
            self.amount = {"quantity": config.quantity or _DEFAULT_QUANTITY}
        self.symbols = frozenset(config.symbols) if config.symbols is not None else None

    @property
    def bars_needed(self) -> int:
        """Bars per symbol needed for a signal: ``slow + 1`` (this bar and the previous)."""
        return self.slow + 1

    def decide(self, inputs: StrategyInput) -> Decision:
        intents: list[Intent] = []
        symbol = ""
        try:
            for symbol in dict.fromkeys(inputs.candidates):
                if self.symbols is not None and symbol not in self.symbols:
                    continue
                intent = self._decide_symbol(symbol, inputs)
                if intent is not None:
                    intents.append(intent)
        except Exception as exc:  # bad data must become a hold, never an exception
            return Decision.hold(
                "strategy_error", error_type=type(exc).__name__, detail=f"{symbol}: {exc}"
            )
        if not intents:
            return Decision.hold("no_signal")
        return Decision(intents=intents)

    def _decide_symbol(self, symbol: str, inputs: StrategyInput) -> Intent | None:
        bars = inputs.bars.get(symbol)
        if not bars or len(bars) < self.slow + 1:
            return None
        window = bars[-(self.slow + 1) :]
        prev, now, fast_mean, slow_mean = self._compare(window)
        held = inputs.held(symbol)  # its own position when several strategies trade
        as_of = inputs.as_of or window[-1].ts
        if prev <= 0 < now and not held:
            return Intent.create(
                symbol=symbol,
                side=Side.BUY,
                **self.amount,
                strategist=NAME,
                rationale=self._rationale("above", ">", fast_mean, slow_mean),
                confidence=1.0,
                as_of=as_of,
            )
        if prev >= 0 > now and held > 0:
            return Intent.create(
                symbol=symbol,
                side=Side.SELL,
                quantity=held,
                strategist=NAME,
                rationale=self._rationale("below", "<", fast_mean, slow_mean),
                confidence=1.0,
                as_of=as_of,
            )
        return None

    def _rationale(self, direction: str, op: str, fast: float, slow: float) -> str:
        return (
            f"fast SMA({self.fast}) crossed {direction} slow SMA({self.slow}): "
            f"{_fmt(fast)} {op} {_fmt(slow)}"
        )

    def _compare(self, window: Sequence[Bar]) -> tuple[int, int, float, float]:
        """Signs of fast - slow SMA on the previous and the latest bar, and the latest means."""
        fast, slow = self.fast, self.slow
        closes = [float(b.close) for b in window]  # slow + 1 values, oldest first
        prev_fast = math.fsum(closes[slow - fast : slow]) / fast
        prev_slow = math.fsum(closes[:slow]) / slow
        now_fast = math.fsum(closes[slow + 1 - fast :]) / fast
        now_slow = math.fsum(closes[1:]) / slow
        if not all(map(math.isfinite, (prev_fast, prev_slow, now_fast, now_slow))):
            raise ValueError("bar closes must be finite numbers")
        prev = self._sign(prev_fast, prev_slow, window[:slow])
        now = self._sign(now_fast, now_slow, window[1:])
        return prev, now, now_fast, now_slow

    def _sign(self, fast_mean: float, slow_mean: float, bars: Sequence[Bar]) -> int:
        diff = fast_mean - slow_mean
        if abs(diff) > _TIE_TOLERANCE * max(abs(fast_mean), abs(slow_mean), 1.0):
            return 1 if diff > 0 else -1
        # Near-tie: decide exactly, comparing fast_sum * slow with slow_sum * fast.
        with localcontext() as ctx:
            ctx.prec = 80
            slow_sum = sum((b.close for b in bars), Decimal(0))
            fast_sum = sum((b.close for b in bars[-self.fast :]), Decimal(0))
            exact = fast_sum * self.slow - slow_sum * self.fast
        return (exact > 0) - (exact < 0)
