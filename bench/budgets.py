"""The budget step and allocation: time per intent of ``check_budgets`` (four budgeted
strategies, their books built from 2,000 fills), time per allocation of the fixed and
the inverse-volatility allocators (four strategies, 60 P&L samples each), and the time to
build the per-strategy ledger from 2,000 fills. Compared with a 60 s cycle interval's
share per intent (the default ``[runtime] interval``), which they must stay far below."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tradekernel.components import AllocationRequest
from tradekernel.defaults.allocator import FixedAllocator
from tradekernel.models import Fill, Intent
from tradekernel.portfolio.budgets import BudgetContext, StrategyLimits, check_budgets
from tradekernel.portfolio.ledger import StrategyLedger
from tradekernel_allocation import InverseVolatilityAllocator, InverseVolatilityConfig

STRATEGIES = ("fast", "slow", "llm", "mean")
SYMBOLS = tuple(f"S{i:02d}" for i in range(20))
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _ledger(rng: random.Random, fills: int) -> StrategyLedger:
    ledger = StrategyLedger()
    for n in range(fills):
        fill = Fill(
            f"f{n}",
            f"c{n}",
            rng.choice(SYMBOLS),
            rng.choice(("buy", "sell")),
            Decimal(rng.randint(1, 50)),
            Decimal(rng.randint(5000, 15000)) / 100,
            ts=T0 + timedelta(minutes=n),
            commission=Decimal("0.35"),
        )
        ledger.apply(fill, {rng.choice(STRATEGIES): Decimal(1)})
    return ledger


def _per(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def run() -> list[dict]:
    rng = random.Random(16)
    ledger = _ledger(rng, 2000)
    prices = {s: Decimal(100) for s in SYMBOLS}
    limits = {s: StrategyLimits(Decimal(25000), Decimal(50000)) for s in STRATEGIES}
    ctx = BudgetContext(limits=limits, ledger=ledger, prices=prices)
    intents = [
        Intent.create(
            symbol=rng.choice(SYMBOLS),
            side=rng.choice(("buy", "sell")),
            quantity=Decimal(rng.randint(1, 20)),
            strategist=rng.choice(STRATEGIES),
            rationale=str(n),
        )
        for n in range(200)
    ]
    step = _per(lambda: check_budgets(intents, ctx), 20) / len(intents)
    configured = {s: Decimal(25000) for s in STRATEGIES}
    pnl = {s: tuple(Decimal(rng.randint(-500, 500)) for _ in range(60)) for s in STRATEGIES}
    request = AllocationRequest(
        equity=Decimal(100000), configured=configured, current=configured, pnl=pnl
    )
    inverse = InverseVolatilityAllocator(InverseVolatilityConfig(lookback=59))
    fixed = FixedAllocator()
    share = 60.0 / len(intents)  # one cycle's interval, per intent of a 200-intent cycle
    rows = [
        ("budget step per intent (4 strategies, books of 2,000 fills)", step * 1e6, "us"),
        (
            "fixed allocation (4 strategies)",
            _per(lambda: fixed.allocate(request), 2000) * 1e6,
            "us",
        ),
        (
            "inverse-volatility allocation (4 strategies, 60 samples)",
            _per(lambda: inverse.allocate(request), 200) * 1e6,
            "us",
        ),
        (
            "per-strategy ledger from 2,000 fills",
            _per(lambda: _ledger(random.Random(1), 2000), 3) * 1e3,
            "ms",
        ),
    ]
    out = []
    for figure, value, unit in rows:
        peer = share * (1e6 if unit == "us" else 1e3)
        out.append(
            {
                "figure": figure,
                "value": round(value, 1),
                "unit": unit,
                "peer": "60 s cycle / 200 intents",
                "peer_value": round(peer, 1),
            }
        )
    return out
