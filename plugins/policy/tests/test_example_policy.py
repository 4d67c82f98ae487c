"""The example policy reproduces the default guards: over a seeded corpus of intents and
contexts, the policy's code is the first deny code of the nine default guards (``ok``
when they all allow)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tradekernel.api import Account, GuardContext, Intent, Position, Quote, Settings, evaluate
from tradekernel_guards import GUARDS
from tradekernel_policy import Evaluator, load_file

from .conftest import EXAMPLE, REPO

START = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)  # a Sunday: the corpus spans a week
SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


def default_guards() -> list[tuple[str, object]]:
    settings = Settings.load(REPO / "plugins.toml", environ={})
    out = []
    for name in settings.components.guards:
        guard_class, config_class = GUARDS[name]
        config = settings.component_config("guard", name, config_class)
        if getattr(guard_class, "wants_resolve", False):
            out.append((name, guard_class(config, name=name, resolve=None)))
        else:
            out.append((name, guard_class(config, name=name)))
    return out


def corpus(seed: int, n: int) -> list[tuple[Intent, GuardContext]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        symbol = rng.choice(SYMBOLS)
        as_of = None if rng.random() < 0.05 else START + timedelta(minutes=rng.randrange(7 * 1440))
        price = rng.choice([None, 10, 45.5, 60, 120, 333])
        amount = {"quantity": rng.choice([1, 5, 20, 40, 80, 150])}
        if rng.random() < 0.2:
            amount = {"notional": rng.choice([100, 2500, 4999, 5000, 5001, 9000])}
        limit = {}
        if rng.random() < 0.15:
            limit = {"order_type": "limit", "limit_price": rng.choice([9, 50, 101])}
        intent = Intent.create(
            symbol=symbol, side=rng.choice(["buy", "sell"]), as_of=as_of, **amount, **limit
        )
        positions = {}
        for s in SYMBOLS:
            if rng.random() < 0.4:
                positions[s] = Position(
                    s,
                    rng.choice([-90, -20, 10, 50, 95, 130]),
                    rng.choice([9, 40, 70]),
                    rng.choice([None, 11, 55]),
                )
        quote = None
        if price is not None:
            quote_symbol = symbol if rng.random() < 0.9 else "ZZZ"
            quote = Quote(symbol=quote_symbol, ts=as_of or START, last=price)
        recent = []
        if as_of is not None:
            recent = [
                as_of - timedelta(seconds=rng.randrange(0, 120)) for _ in range(rng.randrange(8))
            ]
        ctx = GuardContext(
            as_of=as_of,
            quote=quote,
            positions=positions,
            account=Account(cash=50000, equity=60000),
            orders_today=rng.choice([0, 3, 19, 20, 25]),
            recent_order_times=recent,
            realized_pnl_today=rng.choice([0, -500, -1999, -2000, -3000, 800]),
            unrealized_pnl_today=rng.choice([0, -1, 1]),
            kill_switch=rng.random() < 0.05,
        )
        out.append((intent, ctx))
    return out


def test_example_policy_gives_the_default_guards_codes():
    guards = default_guards()
    evaluator = Evaluator(load_file(EXAMPLE))
    seen = set()
    mismatches = []
    for intent, ctx in corpus(seed=18, n=3000):
        result = evaluate(guards, intent, ctx)
        first = next((v for v in result.verdicts[1:] if not v.allow), None)
        expected = first.code if first is not None else "ok"
        got = evaluator.decide(intent, ctx)
        seen.add(expected)
        if got.code != expected or got.allow != (first is None):
            mismatches.append((intent, ctx, expected, got))
    assert not mismatches, mismatches[:3]
    # the corpus reaches every default guard's deny codes, not only "ok"
    assert seen >= {
        "ok",
        "kill_switch_on",
        "outside_session",
        "symbol_not_allowed",
        "order_notional_exceeded",
        "position_limit_exceeded",
        "gross_exposure_exceeded",
        "daily_loss_limit_reached",
        "max_orders_per_day_reached",
        "order_rate_exceeded",
        "no_clock",
        "no_price",
    }, seen
