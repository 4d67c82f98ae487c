"""Fixtures for runtime tests: a kernel on real plugins, a tmp state dir, and an event
recorder plugged in through the ``on_event`` hook."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from tradekernel import hookimpl
from tradekernel.kernel import Kernel
from tradekernel.models import Decision, Intent
from tradekernel.testing import Recorder, kernel_factory  # noqa: F401 - a fixture


class Scripted:
    """A strategist whose answers the test scripts: a list of callables or Decisions."""

    def __init__(self) -> None:
        self.script: list[Any] = []
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
        return Decision(
            intents=[
                Intent.create(
                    symbol=symbol,
                    side="buy",
                    quantity=quantity,
                    strategist="scripted",
                    as_of=inputs.as_of,
                    rationale="test",
                )
            ]
        )

    return make


CLI_CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]

[market_data.synthetic]
symbols = ["AAA", "BBB"]
bars = {bars}

[strategist.sma-cross]
fast = 3
slow = 8

[guard.max_order_notional]
limit = 50000
"""
"""A configuration the command-line tests run: paper, synthetic data, sma-cross, auto
approval (``{state}`` and ``{bars}`` to fill in)."""

BASE = """
[kernel]
state_dir = "{{state_dir}}"
approval_mode = "{approval}"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "{strategist}"
guards = {guards}
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]
node_backoff = "0s"
breaker_failures = 2
breaker_cooldown = "5m"
skill_timeout = "2s"

[market_data.synthetic]
symbols = ["AAA", "BBB"]
seed = 7
bars = 400

[broker.paper]
cash = 100000
"""


@pytest.fixture
def make_kernel(kernel_factory):  # noqa: F811
    def make(
        *,
        approval: str = "auto",
        strategist: str = "sma-cross",
        guards: str = '["max_order_notional"]',
        extra: str = "",
        plugins: tuple[tuple[Any, str], ...] = (),
        environ: dict[str, str] | None = None,
        state: str = "state",
    ) -> tuple[Kernel, Recorder]:
        config = textwrap.dedent(BASE).format(
            approval=approval, strategist=strategist, guards=guards
        ) + textwrap.dedent(extra)
        return kernel_factory.build(config, plugins=plugins, environ=environ, state=state)

    return make
