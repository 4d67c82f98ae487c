"""Sizing: what the portfolio's sizing step costs per intent, for each sizer, through a
kernel's own sizers (``SizingContext.for_kernel``), against a trading cycle's cost."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

INTENTS = 400
ROUNDS = 5

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
metrics_sinks = []
notifiers = []

[portfolio.sizing]
default = "fixed"

[portfolio.sizing.strategies]
ff = "fixed_fractional"
vol = "volatility_target"
stdev = "stdev"
kelly = "kelly"

[sizer.fixed]
notional = 1000

[sizer.fixed_fractional]
stop_distance = 0.02

[sizer.stdev]
use = "volatility_target"
method = "stdev"
"""

STRATEGIES = {
    "fixed": "fixed (notional)",
    "ff": "fixed_fractional",
    "vol": "volatility_target (atr, 20 bars)",
    "stdev": "volatility_target (stdev, 20 bars)",
    "kelly": "kelly",
    "weight": "target weight (the kernel's rule)",
}


def _per_intent_us() -> dict[str, float]:
    from tradekernel.contracts import sample_bars
    from tradekernel.kernel import Kernel
    from tradekernel.models import Account, Intent, Quote
    from tradekernel.portfolio.sizing import SizingContext, size_intents
    from tradekernel.settings import Settings

    symbols = [f"S{i:03d}" for i in range(20)]
    bars = {s: sample_bars(s, 60) for s in symbols}
    quotes = {s: Quote(symbol=s, ts=b[-1].ts, last=b[-1].close) for s, b in bars.items()}
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(CONFIG.format(state=Path(tmp) / "state"))
        with Kernel(Settings.load(cfg, environ={})) as kernel:
            ctx = SizingContext.for_kernel(
                kernel,
                quotes=quotes,
                bars=bars,
                account=Account(cash=100000, equity=100000),
                emit=None,
            )
            for strategy in STRATEGIES:
                weight = {"target_weight": "0.05"} if strategy == "weight" else {}
                intents = [
                    Intent.create(
                        symbol=symbols[i % len(symbols)],
                        side="buy",
                        confidence=0.7,
                        strategist=strategy,
                        rationale=str(i),  # distinct intents, same content otherwise
                        **weight,
                    )
                    for i in range(INTENTS)
                ]
                size_intents(intents[:10], ctx)  # build the sizer outside the timing
                best = float("inf")
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    sized, denials = size_intents(intents, ctx)
                    best = min(best, time.perf_counter() - started)
                    assert len(sized) == INTENTS and not denials, denials[:1]
                out[strategy] = best / INTENTS * 1e6
    return out


def run() -> list[dict]:
    timings = _per_intent_us()
    floor = timings["fixed"]
    return [
        {
            "figure": f"sizing per intent, {label} (the sized intent's new id and the "
            "broker's constraints included; best of 5 rounds of 400)",
            "value": round(timings[strategy], 1),
            "unit": "µs",
            "peer": "fixed sizer",
            "peer_value": round(floor, 1),
        }
        for strategy, label in STRATEGIES.items()
    ]
