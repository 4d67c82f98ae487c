"""Policies: what the policy guard's decision costs per intent with a 20-rule policy
(compiled closures, short-circuit), against issue 18's budget of 10 µs; the verdict the
guard returns; recording what the guard saw (``policy.db``, for ``policy diff``); and
compiling the policy once at load."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

INTENTS = 1000
ROUNDS = 30
BUDGET_US = 10.0

EXTRA_RULES = """
[[rule]]
id = "denylist"
effect = "deny"
code = "symbol_denied"
when = { field = "intent.symbol", op = "in", value = ["ZZZ", "YYY", "XXX"] }

[[rule]]
id = "wide-spread"
effect = "deny"
code = "spread_too_wide"
when = { all = [
    { field = "intent.order_type", op = "==", value = "market" },
    { op = ">", value = 0.5, left = { "/" = [
        { field = "intent.notional" }, { max = [{ field = "account.equity" }, 1] },
    ] } },
] }

[[rule]]
id = "low-confidence"
effect = "deny"
code = "confidence_too_low"
when = { field = "intent.confidence", op = "<", value = 0.2 }

[[rule]]
id = "strategies"
effect = "deny"
code = "strategy_not_allowed"
when = { field = "strategy.name", op = "not in", value = ["sma-cross", "llm", "momentum"] }

[[rule]]
id = "halted-state"
effect = "deny"
code = "state_not_active"
when = { all = [
    { field = "control.trading_state", op = "!=", value = "active" },
    { field = "intent.reduces", op = "==", value = false },
] }

[[rule]]
id = "cash"
effect = "deny"
code = "insufficient_cash"
when = { all = [
    { field = "intent.side", op = "==", value = "buy" },
    { op = "<", value = 0, left = { "-" = [
        { field = "account.cash" }, { field = "intent.notional" },
    ] } },
] }

[[rule]]
id = "late-day"
effect = "deny"
code = "too_late"
when = { all = [
    { field = "clock.time", op = ">=", value = "15:55" },
    { field = "intent.reduces", op = "==", value = false },
] }

[[rule]]
id = "cooldown"
effect = "deny"
code = "symbol_cooldown_active"
when = { field = "symbol.seconds_since_trade", op = "<", value = 1 }

[[rule]]
id = "big-two"
effect = "require_approvals"
approvals = 2
when = { field = "intent.notional", op = ">", value = 3000 }

[[rule]]
id = "huge-position-three"
effect = "require_approvals"
approvals = 3
when = { field = "position.value_after", op = ">", value = 8000 }

[[rule]]
id = "short-sells"
effect = "require_approvals"
approvals = 2
when = { all = [
    { field = "intent.side", op = "==", value = "sell" },
    { field = "position.after", op = "<", value = 0 },
] }
"""


def policy_text() -> str:
    """The example default policy (9 rules) plus 11 more: 20 rules."""
    root = Path(__file__).resolve().parents[1]
    return (root / "examples" / "policy" / "default.toml").read_text() + EXTRA_RULES


def corpus(n: int) -> list:
    from tradekernel.api import Account, GuardContext, Intent, Position, Quote

    rng = random.Random(18)
    start = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
    out = []
    for i in range(n):
        symbol = rng.choice(["AAA", "BBB", "CCC"])
        as_of = start + timedelta(minutes=rng.randrange(300))
        price = rng.choice([20, 45, 60])
        intent = Intent.create(
            symbol=symbol,
            side=rng.choice(["buy", "sell"]),
            quantity=rng.choice([5, 10, 40]),
            as_of=as_of,
            strategist="sma-cross",
            rationale=str(i),
        )
        ctx = GuardContext(
            as_of=as_of,
            quote=Quote(symbol=symbol, ts=as_of, last=price),
            positions={"AAA": Position("AAA", 30, 40, 45), "BBB": Position("BBB", 10, 50)},
            account=Account(cash=50000, equity=60000),
            orders_today=rng.randrange(10),
            recent_order_times=[as_of - timedelta(seconds=30 * k) for k in range(3)],
        )
        out.append((intent, ctx))
    return out


def _best(fn, items) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for intent, ctx in items:
            fn(intent, ctx)
        best = min(best, time.perf_counter() - started)
    return best / len(items) * 1e6


def _measure() -> dict[str, float]:
    from tradekernel_policy import Evaluator, compile_bytes
    from tradekernel_policy.records import Recorder

    text = policy_text().encode()
    started = time.perf_counter()
    for _ in range(20):
        policy = compile_bytes(text, "bench.toml")
    compile_ms = (time.perf_counter() - started) / 20 * 1e3
    assert len(policy.rules) == 20, len(policy.rules)
    evaluator = Evaluator(policy)
    items = corpus(INTENTS)
    decisions = [evaluator.decide(i, c) for i, c in items]
    allowed = sum(d.allow for d in decisions) / len(decisions)
    out = {
        "decide": _best(evaluator.decide, items),
        "verdict": _best(lambda i, c: evaluator.verdict("policy", i, c), items),
        "compile_ms": compile_ms,
        "allowed": allowed,
    }
    with tempfile.TemporaryDirectory() as tmp:
        from tradekernel.api import Settings

        # as the guard records: every text value through the kernel's redactor, with a
        # secret registered (an LLM provider's key)
        settings = Settings.load(None, environ={"BENCH_POLICY_KEY": "sk-bench-0123456789abcdef"})
        settings.secret("BENCH_POLICY_KEY")
        recorder = Recorder(Path(tmp), redact=settings.redact)
        now = datetime.now(UTC)

        def record(intent, ctx):
            recorder.record("policy", intent, ctx, evaluator.verdict("policy", intent, ctx), now)

        out["recorded"] = _best(record, items[:200])
        recorder.close()
    return out


def run() -> list[dict]:
    m = _measure()
    share = f"{m['allowed']:.0%} allowed: every deny rule evaluated for those"
    return [
        {
            "figure": f"policy decision per intent, 20-rule policy ({share}; best of 30 rounds "
            "of 1000)",
            "value": round(m["decide"], 2),
            "unit": "µs",
            "peer": "issue 18 budget",
            "peer_value": BUDGET_US,
        },
        {
            "figure": "policy guard verdict per intent, 20 rules (the decision as a "
            "GuardVerdict naming rule and version)",
            "value": round(m["verdict"], 2),
            "unit": "µs",
            "peer": "issue 18 budget",
            "peer_value": BUDGET_US,
        },
        {
            "figure": "policy guard verdict + recording what it saw (policy.db row: intent "
            "and guard context as JSON, text values through the redactor), per intent",
            "value": round(m["recorded"], 1),
            "unit": "µs",
            "peer": "verdict alone",
            "peer_value": round(m["verdict"], 2),
        },
        {
            "figure": "compiling the 20-rule policy (once, at load)",
            "value": round(m["compile_ms"], 2),
            "unit": "ms",
            "peer": "",
            "peer_value": None,
        },
    ]
