"""Alpaca market data: HTTP requests per cycle against Alpaca's budget of 200 a minute.

The kernel's runtime runs ``CYCLES`` cycles with ``market_data:alpaca`` (its real factory,
the data double behind an ``httpx`` mock transport: no socket), the paper broker, a
``WATCHLIST``-symbol watchlist, the default skills (quotes, 50 bars) and the
``session_hours`` guard on the venue's session (``source = "market_data"``), a strategist
buying every candidate so the guard is asked every cycle. The feed counts its requests
per kernel cycle; the first cycle fills each symbol's bar window once.
"""

from __future__ import annotations

import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradekernel import hookimpl
from tradekernel.api import Decision, Intent, Kernel, PluginRegistry, Runtime, Settings

WATCHLIST = [f"S{i:02d}" for i in range(10)]
CYCLES = 30
BUDGET = 200
"""Alpaca's requests per minute per account."""

CONFIG = f"""
[kernel]
state_dir = "{{state}}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "alpaca-bench"
strategist = "bench-buyer"
guards = ["session_hours"]
metrics_sinks = []
notifiers = []

[runtime]
watchlist = {WATCHLIST!r}
node_backoff = "0s"

[guard.session_hours]
source = "market_data"
"""


class _Plugins:
    def __init__(self, api) -> None:
        self.api = api
        self.feed = None

    @hookimpl
    def register_market_data(self, register):
        from tradekernel_alpaca import build_market_data
        from tradekernel_alpaca.http import RateLimiter
        from tradekernel_alpaca.marketdata import AlpacaDataConfig

        def factory(config, ctx):
            self.feed = build_market_data(
                config,
                ctx,
                transport=self.api.transport(),
                clock=self.api.clock,
                limiter=RateLimiter(100_000),
                sleep=lambda seconds: None,
            )
            return self.feed

        register("alpaca-bench", factory, config=AlpacaDataConfig)

    @hookimpl
    def register_strategists(self, register):
        register("bench-buyer", lambda config, ctx: self)

    def decide(self, inputs):
        intents = [
            Intent.create(symbol=s, side="buy", quantity=1, strategist="b", as_of=inputs.as_of)
            for s in inputs.candidates[:1]
        ]
        return Decision(intents=intents) if intents else Decision.hold("none")


def _measure() -> tuple[int, list[int]]:
    from tradekernel_alpaca.double.data import DataAPI, ManualClock

    start = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)  # Monday 10:00 New York
    api = DataAPI(clock=ManualClock(start))
    for i, symbol in enumerate(WATCHLIST):
        api.seed(symbol, start - timedelta(minutes=30), 30 + CYCLES + 1, price=50.0 + i)
    plugins = _Plugins(api)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plugins.toml"
        path.write_text(CONFIG.replace("{state}", str(Path(tmp) / "state")), "utf-8")
        environ = {"APCA_API_KEY_ID": api.key_id, "APCA_API_SECRET_KEY": api.secret_key}
        settings = Settings.load(path, environ=environ)
        registry = PluginRegistry()
        registry.add_plugin(plugins, "alpaca-bench")
        with Kernel(settings, registry.load()) as kernel, Runtime(kernel) as runtime:
            ids = []
            for _ in range(CYCLES):
                ids.append(runtime.run_cycle().cycle_id)
                api.clock.advance(minutes=1)
    counts = [plugins.feed.requests_by_cycle.get(i, 0) for i in ids]
    return counts[0], counts[1:]


def run() -> list[dict]:
    first, rest = _measure()
    steady = statistics.mean(rest)
    return [
        {
            "figure": f"alpaca market data: requests in the first cycle ({len(WATCHLIST)} symbols)",
            "value": first,
            "unit": "requests",
            "peer": "Alpaca's budget a minute",
            "peer_value": BUDGET,
        },
        {
            "figure": f"alpaca market data: requests per cycle after it ({len(WATCHLIST)} "
            "symbols, quotes, 50 bars, session guard)",
            "value": round(steady, 2),
            "unit": "requests",
            "peer": "Alpaca's budget a minute (one cycle a minute)",
            "peer_value": BUDGET,
            "max": max(rest),
        },
    ]
