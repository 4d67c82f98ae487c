"""A backtest's own assumptions (costs, cash, universe, window), recorded with its
evidence, and the cost gates that check them against the operator's configuration: a
backtest run with lower costs (``--commission 0``) than the configured paper broker's is
not evidence for that configuration (docs/backtest.md, "Promotion stages and gates")."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from tradekernel.api import Settings

COST_KEYS = ("commission", "slippage_bps")
"""The paper broker's cost settings a backtest must not undercut to be evidence."""


def paper_costs(settings: Settings, registry: Any) -> dict[str, str] | None:
    """The effective ``[broker.paper]`` costs of ``settings`` (as text), or ``None`` when
    the paper broker is not installed."""
    try:
        config_class = registry.spec("broker", "paper").config_class
    except Exception:  # a missing plugin: the gate says so, it does not pass
        return None
    config = settings.component_config("broker", "paper", config_class)
    return {key: str(getattr(config, key, Decimal(0))) for key in COST_KEYS}


def harness(settings: Settings, registry: Any, spec: Any) -> dict[str, Any]:
    """What a backtest ran with besides the strategy's configuration: the paper broker's
    costs and cash, the symbols and the ``--from``/``--to`` window."""
    costs = paper_costs(settings, registry) or {}
    try:
        config_class = registry.spec("broker", "paper").config_class
        cash = getattr(settings.component_config("broker", "paper", config_class), "cash", None)
    except Exception:  # no paper broker: nothing to record
        cash = None
    return {
        **costs,
        "cash": None if cash is None else str(cash),
        "symbols": list(spec.symbols) if spec.symbols else None,
        "start": spec.start,
        "end": spec.end,
    }


def cost_gates(
    metrics: dict[str, Any], settings: Settings, registry: Any
) -> list[tuple[str, Any, Any, bool]]:
    """``(gate, value, threshold, passed)`` for each cost: the backtest's (from its
    recorded ``harness``) must be at least the configured one. A backtest that recorded
    none (recorded before costs were) or an unreadable value fails the gate."""
    configured = paper_costs(settings, registry)
    recorded = metrics.get("harness")
    recorded = recorded if isinstance(recorded, dict) else {}
    out = []
    for key in COST_KEYS:
        value = recorded.get(key)
        if configured is None:
            out.append((key, value, "the paper broker (not installed)", False))
            continue
        out.append((key, value, configured[key], _at_least(value, configured[key])))
    return out


def _at_least(value: Any, threshold: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite() and number >= Decimal(threshold)
