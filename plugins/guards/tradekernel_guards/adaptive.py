"""An adaptive order-notional limit: tighter as realised volatility and drawdown rise.

The limit starts at the configured ``ceiling`` and is only ever scaled down:

* volatility: the standard deviation of the log returns of the intent's symbol's last
  ``vol_lookback`` hydrated closes (``GuardContext.bars``); above ``vol_reference`` the
  limit is scaled by ``vol_reference / volatility``;
* drawdown: how far the account's equity is below the highest equity this guard has
  seen on that broker (kept in ``guards.db``, :mod:`.peaks`, across restarts); the limit
  falls linearly from 1 (no drawdown) to ``floor_ratio`` (at ``drawdown_max`` or
  deeper). An unreadable recorded peak counts as the deepest drawdown (the floor).

The result is clamped to ``[ceiling x floor_ratio, ceiling]``: never looser than the
ceiling. Each change of a symbol's limit is a ``guard.adaptive_limit`` event with its
inputs, and every verdict's detail names the limit in force and why.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from attrs import define, field
from tradekernel.api import (
    GuardContext,
    GuardVerdict,
    Intent,
    intent_notional,
    intent_price,
    positive,
)

from .peaks import PeakStore


def _fraction(_inst: object, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value <= 1):
        raise ValueError(f"{attribute.name}: must be in (0, 1], got {value!r}")


def _positive_float(_inst: object, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name}: must be a positive number, got {value!r}")


def _lookback(_inst: object, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 10_000:
        raise ValueError(f"{attribute.name}: must be an integer from 2 to 10000, got {value!r}")


@define
class AdaptiveNotionalConfig:
    """``[guard.adaptive_notional]``: an order-notional limit that tightens with volatility
    and drawdown, never above ``ceiling``."""

    ceiling: Decimal = field(validator=positive)
    """The configured maximum order notional: the limit in calm markets, never exceeded."""
    vol_reference: float = field(default=0.02, validator=_positive_float)
    """Per-bar volatility (stdev of log returns) up to which the ceiling applies."""
    vol_lookback: int = field(default=20, validator=_lookback)
    """How many of the latest hydrated bars the volatility is measured on."""
    drawdown_max: float = field(default=0.2, validator=_fraction)
    """The drawdown (fraction of peak equity) at which the limit reaches the floor."""
    floor_ratio: float = field(default=0.1, validator=_fraction)
    """The smallest limit, as a fraction of the ceiling."""


def _close(value: Any) -> float | None:
    try:
        close = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return close if math.isfinite(close) and close > 0 else None


def realised_volatility(closes: Sequence[Any]) -> float | None:
    """The sample standard deviation of the log returns between consecutive good closes
    of ``closes`` (a non-positive or non-finite close is a bad tick: the returns into
    and out of it are left out); ``None`` with fewer than two such returns."""
    values = [_close(c) for c in closes]
    returns = [
        math.log(b) - math.log(a)  # b / a may underflow to 0
        for a, b in itertools.pairwise(values)
        if a is not None and b is not None
    ]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    vol = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    return vol if math.isfinite(vol) else None


class AdaptiveNotionalGuard:
    """Denies orders whose notional exceeds a limit scaled down from ``ceiling`` by the
    symbol's realised volatility and the account's drawdown (never above ``ceiling``)."""

    codes = ("adaptive_notional_exceeded", "no_price")

    def __init__(
        self,
        config: AdaptiveNotionalConfig,
        name: str = "adaptive_notional",
        emit: Callable[..., Any] | None = None,
        peaks: PeakStore | None = None,
    ) -> None:
        """``peaks``: where the peak equity is kept (default: in memory only)."""
        self.config = config
        self.name = name
        self._emit = emit or (lambda *a, **k: None)
        self.peaks = peaks or PeakStore(None)
        self.peak_equity: Decimal | None = None
        """The peak the last check measured the drawdown from."""
        self._drawdown: dict[str, float] = {}
        """Per broker, the last drawdown measured (kept while no account snapshot comes)."""
        self._vol_scale: dict[str, float] = {}
        """Per symbol, the last volatility factor measured (kept while none can be)."""
        self._last: dict[str, Decimal] = {}

    def close(self) -> None:
        self.peaks.close()

    def limit(self, intent: Intent, ctx: GuardContext) -> tuple[Decimal, dict[str, Any]]:
        """The limit in force for ``intent`` now, and the inputs that set it."""
        cfg = self.config
        bars = list(getattr(ctx, "bars", ()) or ())[-(cfg.vol_lookback + 1) :]
        vol = realised_volatility([b.close for b in bars])
        if vol is None:  # too few good bars: the last measure (the ceiling before any)
            vol_scale = self._vol_scale.get(intent.symbol, 1.0)
        else:
            vol_scale = 1.0 if vol <= cfg.vol_reference else cfg.vol_reference / vol
            self._vol_scale[intent.symbol] = vol_scale
        broker = getattr(ctx, "broker", None) or ""
        drawdown = self._drawdown.get(broker, 0.0)
        equity = ctx.account.equity if ctx.account is not None else None
        damaged = False
        if equity is None or not Decimal(equity).is_finite():
            pass  # no snapshot: the last drawdown (none before any)
        elif equity <= 0:  # wiped out: the deepest drawdown, never the ceiling again
            drawdown = 1.0
        else:
            peak = self.peaks.raise_to(self.name, broker, equity)
            if peak is None:  # never looser for a peak that cannot be read
                damaged, drawdown = True, cfg.drawdown_max
            else:
                self.peak_equity = peak
                drawdown = float((peak - equity) / peak)
        self._drawdown[broker] = drawdown
        depth = min(1.0, drawdown / cfg.drawdown_max)
        dd_scale = 1.0 - (1.0 - cfg.floor_ratio) * depth
        ratio = max(cfg.floor_ratio, min(1.0, vol_scale * dd_scale))
        limit = min(
            cfg.ceiling, (cfg.ceiling * Decimal(str(round(ratio, 6)))).quantize(Decimal("0.01"))
        )
        inputs = {
            "volatility": None if vol is None else round(vol, 6),
            "vol_reference": cfg.vol_reference,
            "bars": len(bars),
            "drawdown": round(drawdown, 6),
            "peak_equity": "unreadable"
            if damaged
            else (None if self.peak_equity is None else str(self.peak_equity)),
            "equity": None if equity is None else str(equity),
            "ratio": round(ratio, 6),
        }
        return limit, inputs

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        limit, inputs = self.limit(intent, ctx)
        if self._last.get(intent.symbol, self.config.ceiling) != limit:
            self._emit(
                "guard",
                "adaptive_limit",
                severity="info",
                guard=self.name,
                symbol=intent.symbol,
                ceiling=str(self.config.ceiling),
                limit=str(limit),
                previous=str(self._last.get(intent.symbol, self.config.ceiling)),
                **{k: v for k, v in inputs.items() if v is not None},
            )
        self._last[intent.symbol] = limit
        why = f"limit {limit} of ceiling {self.config.ceiling}"
        if limit < self.config.ceiling:
            why += f" (volatility {inputs['volatility']}, drawdown {inputs['drawdown']})"
        notional = intent_notional(intent, intent_price(intent, ctx))
        if notional is None:
            return GuardVerdict.denied(
                self.name, "no_price", f"no price for {intent.symbol} to value the order"
            )
        if notional > limit:
            return GuardVerdict.denied(
                self.name, "adaptive_notional_exceeded", f"notional {notional} > {why}"
            )
        return GuardVerdict.allowed(self.name, detail=f"notional {notional}; {why}")
