"""The default strategist ``hold``: never trades. The safe default (nothing to install
for it) and a pipeline smoke test."""

from __future__ import annotations

from ..components import StrategyInput
from ..hookspecs import hookimpl
from ..models import Decision


class HoldStrategist:
    """Always holds (reason ``strategy_hold``)."""

    def decide(self, inputs: StrategyInput) -> Decision:
        return Decision.hold("strategy_hold")


@hookimpl
def register_strategists(register):
    register(
        "hold",
        lambda config, ctx: HoldStrategist(),
        version="1",
        description="Always holds (reason strategy_hold): the safe default.",
    )
