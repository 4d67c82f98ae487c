"""Several strategies: a trading cycle with one, two and four sma-cross instances on the
paper broker (the cost of each extra strategy), and conflict resolution per intent."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

BARS = 600
INTENTS = 20000
PARAMS = [(2, 5), (3, 8), (5, 12), (8, 20)]


def _config(n: int, state: Path) -> str:
    names = [f"s{i}" for i in range(n)]
    text = (
        f'[kernel]\nstate_dir = "{state}"\napproval_mode = "auto"\n\n[components]\n'
        f'broker = "paper"\nmarket_data = "synthetic"\n'
        + (f"strategists = {names!r}\n".replace("'", '"') if n > 1 else 'strategist = "s0"\n')
        + "guards = []\nmetrics_sinks = []\nnotifiers = []\n\n"
        '[runtime]\nwatchlist = ["AAA", "BBB"]\nskill_timeout = "0s"\n\n'
        f'[market_data.synthetic]\nsymbols = ["AAA", "BBB"]\nbars = {BARS}\n\n'
        '[portfolio]\nconflict = "net"\n'
    )
    for name, (fast, slow) in zip(names, PARAMS, strict=False):
        text += f'\n[strategist.{name}]\nuse = "sma-cross"\nfast = {fast}\nslow = {slow}\n'
    return text


def _cycle_us(n: int) -> tuple[float, int]:
    from tradekernel.kernel import Kernel
    from tradekernel.runtime import Runtime, run_cycles
    from tradekernel.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(_config(n, Path(tmp) / "state"))
        with Kernel(Settings.load(cfg, environ={})) as kernel, Runtime(kernel) as runtime:
            runtime.start()
            started = time.perf_counter()
            states = run_cycles(runtime, cycles=BARS)
            elapsed = time.perf_counter() - started
    return elapsed / len(states) * 1e6, sum(len(s.submitted) for s in states)


def _resolve_us() -> float:
    """Conflict resolution (net) per intent: four strategies on two symbols, both sides."""
    from tradekernel.models import Intent
    from tradekernel.portfolio.conflicts import ConflictPolicy, resolve_conflicts

    as_of = datetime(2026, 1, 5, tzinfo=UTC)
    intents = [
        Intent.create(
            symbol=("AAA", "BBB")[i % 2],
            side=("buy", "sell")[i // 2 % 2],
            quantity=Decimal(i + 1),
            strategist=f"s{i}",
            as_of=as_of,
        )
        for i in range(4)
    ]
    policy = ConflictPolicy("net", ("s0", "s1", "s2", "s3"))
    rounds = INTENTS // len(intents)
    started = time.perf_counter()
    for _ in range(rounds):
        resolve_conflicts(intents, policy)
    return (time.perf_counter() - started) / (rounds * len(intents)) * 1e6


def run() -> list[dict]:
    resolve = _resolve_us()
    runs = [tuple(_cycle_us(n) for n in (1, 2, 4)) for _ in range(2)]
    best = [min(r[i][0] for r in runs) for i in range(3)]
    orders = [runs[0][i][1] for i in range(3)]
    one = best[0]
    rows = [
        {
            "figure": f"trading cycle, {n} sma-cross strategies vs 1 (paper, {BARS} bars, "
            f"{orders[i]} orders; net conflicts)",
            "value": round(best[i], 1),
            "unit": "µs",
            "peer": "1 strategy",
            "peer_value": round(one, 1),
        }
        for i, n in enumerate((1, 2, 4))
        if n > 1
    ]
    rows.append(
        {
            "figure": "cost per extra strategy (4 strategies: (cycle - 1-strategy cycle) / 3)",
            "value": round((best[2] - one) / 3, 1),
            "unit": "µs",
            "peer": "1-strategy cycle",
            "peer_value": round(one, 1),
        }
    )
    rows.append(
        {
            "figure": "conflict resolution (net) per intent, 4 strategies on 2 symbols",
            "value": round(resolve, 2),
            "unit": "µs",
            "peer": "1-strategy cycle",
            "peer_value": round(one, 1),
        }
    )
    return rows
