"""Kernels for the parity suite: one configuration, run by each runtime in its own state."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tradekernel import hookimpl
from tradekernel.api import Decision, Intent
from tradekernel.testing import Recorder, kernel_factory  # noqa: F401 - a fixture

RUNTIMES = ("native", "langgraph")

BASE = """
[kernel]
state_dir = "{{state_dir}}"
approval_mode = "{approval}"

[components]
broker = "paper"
market_data = "{market_data}"
strategist = "{strategist}"
guards = {guards}
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]
node_backoff = "0s"
breaker_failures = 2
breaker_cooldown = "5m"

[market_data.synthetic]
symbols = ["AAA", "BBB"]
seed = 7
bars = {bars}

[broker.paper]
cash = 100000

[guard.max_order_notional]
limit = 5000
"""


class Clock:
    """The runtime's clock, moved by the test (cooldowns, the breaker, approvals)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Scripted:
    """A strategist answering from a script: Decisions or callables of the inputs."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.calls = 0

    def decide(self, inputs: Any) -> Decision:
        self.calls += 1
        step = self.script.pop(0) if self.script else Decision.hold("script_empty")
        return step(inputs) if callable(step) else step

    @hookimpl
    def register_strategists(self, register: Callable) -> None:
        register("scripted", lambda config, ctx: self)


def buy(symbol: str = "AAA", quantity: int = 5) -> Callable[[Any], Decision]:
    def make(inputs: Any) -> Decision:
        intent = Intent.create(
            symbol=symbol,
            side="buy",
            quantity=quantity,
            strategist="scripted",
            as_of=inputs.as_of,
            rationale="test",
        )
        return Decision(intents=[intent])

    return make


class Flaky:
    """Synthetic data whose clock fails ``failures`` times (a transient outage)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.feed: Any = None

    def advance(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("feed unavailable")
        return self.feed.advance()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.feed, name)

    @hookimpl
    def register_market_data(self, register: Callable) -> None:
        def build(config: Any, ctx: Any) -> Flaky:
            self.feed = ctx.resolve("market_data", "synthetic")
            return self

        register("flaky", build)


def write_replay(directory: Path, days: int = 120) -> Path:
    """Daily CSVs for AAA and BBB: two seeded waves, enough to cross moving averages."""
    directory.mkdir(parents=True, exist_ok=True)
    start = date(2024, 1, 2)
    for n, symbol in enumerate(("AAA", "BBB")):
        rows = ["Date,Open,High,Low,Close,Adj Close,Volume"]
        for i in range(days):
            close = 100 + 12 * math.sin(i / (7 + 3 * n)) + i * 0.05
            day = start + timedelta(days=i)
            rows.append(
                f"{day},{close - 0.4:.2f},{close + 1:.2f},{close - 1:.2f},{close:.2f},"
                f"{close:.2f},{100000 + i}"
            )
        (directory / f"{symbol}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return directory


@pytest.fixture
def make_kernel(kernel_factory):  # noqa: F811
    """``make_kernel(runtime, ...) -> (kernel, recorder)``, each runtime in its own state."""

    def make(
        runtime: str,
        *,
        approval: str = "auto",
        strategist: str = "sma-cross",
        market_data: str = "synthetic",
        guards: str = '["max_order_notional"]',
        bars: int = 400,
        extra: str = "",
        plugins: tuple[tuple[Any, str], ...] = (),
        environ: dict[str, str] | None = None,
    ) -> tuple[Any, Recorder]:
        config = textwrap.dedent(BASE).format(
            approval=approval,
            strategist=strategist,
            market_data=market_data,
            guards=guards,
            bars=bars,
        ) + textwrap.dedent(extra)
        env = {"TRADEKERNEL_COMPONENTS__RUNTIME": runtime, **(environ or {})}
        return kernel_factory.build(config, plugins=plugins, environ=env, state=f"state-{runtime}")

    return make
