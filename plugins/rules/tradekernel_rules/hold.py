"""The ``hold`` strategist: never trades. The safe default and a pipeline smoke test."""

from __future__ import annotations

from tradekernel.api import Decision, StrategyInput


class HoldStrategist:
    """Always holds (reason ``strategy_hold``)."""

    def decide(self, inputs: StrategyInput) -> Decision:
        return Decision.hold("strategy_hold")
