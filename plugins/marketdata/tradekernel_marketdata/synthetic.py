"""``synthetic``: a seeded, deterministic bar generator.

Each symbol has its own :class:`random.Random`, seeded from ``(seed, symbol)`` by a
string (hashed with SHA-512 by Python, so the same on every platform). Only
``random()`` draws, IEEE additions and multiplications are used (no ``exp``/``log``
from the platform maths library), and prices are rounded to cents with
``Decimal.quantize``: the same seed gives the same bars everywhere.

The path is a random walk whose drift flips between an up- and a down-trend regime
(mean length ``regime_bars``), so moving-average strategies see real trends, with a
gentle pull back toward ``start_price`` so that endless paths stay in a sane range.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import count
from typing import Any

from attrs import define, field
from tradekernel.api import MAX_PRICE, Bar, Duration, finite, non_negative, positive

from .feed import BarFeed, Step, at_most, half_spread

CENT = Decimal("0.01")
MIN_PRICE = 0.01


MAX_RATE = 1.0
"""``drift``, ``volatility``, ``trend`` and ``reversion`` are per-bar rates: above 100% per
bar is not a market (and overflows the path)."""


def _rate(_inst: object, attribute: Any, value: float) -> None:
    if not (finite(value) and -MAX_RATE <= value <= MAX_RATE):
        raise ValueError(
            f"{attribute.name}: expected a number from {-MAX_RATE:g} to {MAX_RATE:g}, got {value!r}"
        )


def _symbols(_inst: object, _attribute: object, value: list[str]) -> None:
    if not value:
        raise ValueError("symbols: expected at least one symbol")
    for symbol in value:
        if not symbol or symbol != symbol.strip().upper():
            raise ValueError(f"symbols: expected upper-case symbols, got {symbol!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"symbols: duplicate symbol in {value!r}")


@define
class SyntheticConfig:
    """``[market_data.synthetic]``."""

    symbols: list[str] = field(factory=lambda: ["AAA", "BBB", "CCC"], validator=_symbols)
    seed: int = 7
    start: datetime = field(factory=lambda: datetime(2026, 1, 2, 14, 30, tzinfo=UTC))
    interval: Duration = field(default=Duration(86400), validator=positive)
    bars: int | None = field(default=400, validator=non_negative)
    """How many timestamps to generate; ``0`` (or ``None`` in code) means endless."""
    start_price: float = field(default=100.0, validator=[positive, at_most(MAX_PRICE)])
    drift: float = field(default=0.0002, validator=_rate)
    """Mean return per bar, on top of the trend regime."""
    volatility: float = field(default=0.015, validator=[non_negative, _rate])
    """Standard deviation of the return per bar."""
    trend: float = field(default=0.004, validator=[non_negative, _rate])
    """Size of the regime drift per bar (up-trend +trend, down-trend -trend)."""
    regime_bars: int = field(default=60, validator=positive)
    """Mean length of a trend regime, in bars."""
    reversion: float = field(default=0.001, validator=[non_negative, _rate])
    """Pull back toward ``start_price`` (keeps endless paths in a sane range)."""
    volume: float = field(default=1_000_000.0, validator=non_negative)
    """Mean volume per bar (each bar draws 0.5x to 1.5x of it)."""
    window: int = field(default=500, validator=positive)
    half_spread_bps: float = field(default=0.0, validator=[non_negative, half_spread])
    resume: bool = True
    """Continue after the last bar a previous process on this state saw (false: start
    over each time; backtests turn it off)."""

    def __attrs_post_init__(self) -> None:
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)


def _cents(value: float) -> Decimal:
    return Decimal(max(value, MIN_PRICE)).quantize(CENT, rounding=ROUND_HALF_EVEN)


class _Walk:
    """One symbol's price path."""

    __slots__ = ("config", "price", "regime", "rng", "symbol")

    def __init__(self, config: SyntheticConfig, symbol: str) -> None:
        self.config = config
        self.symbol = symbol
        self.rng = random.Random(f"tradekernel-synthetic:{config.seed}:{symbol}")
        self.price = float(config.start_price)
        self.regime = 1.0 if self.rng.random() < 0.5 else -1.0

    def bar(self, ts: datetime) -> Bar:
        c = self.config
        r = self.rng.random
        if r() * c.regime_bars < 1.0:
            self.regime = -self.regime
        # Irwin-Hall: the sum of 12 uniforms minus 6 is close to a standard normal and
        # needs no platform maths library.
        z = r() + r() + r() + r() + r() + r() + r() + r() + r() + r() + r() + r() - 6.0
        open_ = self.price * (1.0 + (r() - 0.5) * c.volatility * 0.2)
        ratio = open_ / c.start_price
        pull = c.reversion * (1.0 / ratio - ratio) * 0.5
        change = max(c.drift + self.regime * c.trend + pull + c.volatility * z, -0.5)
        close = max(open_ * (1.0 + change), MIN_PRICE)
        high = max(open_, close) * (1.0 + r() * c.volatility * 0.5)
        low = min(open_, close) * (1.0 - r() * c.volatility * 0.5)
        volume = int(c.volume * (0.5 + r()))
        self.price = close
        return Bar(
            symbol=self.symbol,
            ts=ts,
            open=_cents(open_),
            high=_cents(high),
            low=_cents(low),
            close=_cents(close),
            volume=Decimal(volume),
        )


def generate(config: SyntheticConfig) -> Iterator[Step]:
    """The synthetic steps for ``config`` (endless when ``config.bars`` is 0 or None)."""
    walks = [_Walk(config, s) for s in config.symbols]
    step = timedelta(seconds=float(config.interval))
    indexes = range(config.bars) if config.bars else count()
    for i in indexes:
        ts = config.start + step * i
        yield ts, [w.bar(ts) for w in walks]


class SyntheticFeed(BarFeed):
    """The ``synthetic`` market data feed."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        super().__init__(
            generate(config),
            config.symbols,
            window=config.window,
            half_spread_bps=config.half_spread_bps,
        )
