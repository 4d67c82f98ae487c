"""The ``slo`` section: each objective's error budget at the day's end and the burn-rate
alerts of the day, from the ``slo.*`` events the agent's SLO observer emitted
(``tradekernel-ops``, docs/operations.md, "SLOs")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tradekernel.api import Event

from .stats import iso

WINDOWS = ("5m", "30m", "1h", "6h")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def section(events: Sequence[Event]) -> dict[str, Any]:
    """Per objective (by name): its last ``slo.status`` of the day (budget remaining,
    burn rates), the alerts (``slo.burn_rate``) and recoveries of the day."""
    objectives: dict[str, dict[str, Any]] = {}
    alerts: list[dict[str, Any]] = []
    for e in events:
        if e.stage != "slo" or not isinstance(e.fields, dict):
            continue
        f = e.fields
        name = str(f.get("objective") or "?")
        row = objectives.setdefault(
            name,
            {
                "indicator": str(f.get("indicator") or ""),
                "target": None,
                "budget_remaining": None,
                "burn_rates": {},
                "alerts": 0,
                "recovered": 0,
            },
        )
        if e.kind == "status":
            row["target"] = _number(f.get("target"))
            row["budget_remaining"] = _number(f.get("budget_remaining"))
            rates = f.get("burn_rates") if isinstance(f.get("burn_rates"), dict) else {}
            row["burn_rates"] = {w: _number(rates.get(w)) for w in WINDOWS}
        elif e.kind in ("burn_rate", "recovered"):
            row["alerts" if e.kind == "burn_rate" else "recovered"] += 1
            alerts.append(
                {
                    "ts": iso(e.ts),
                    "objective": name,
                    "kind": e.kind,
                    "alert": str(f.get("alert") or ""),
                    "severity": e.severity.value,
                    "burn_rate": _number(f.get("burn_rate")),
                }
            )
    return {"objectives": {k: objectives[k] for k in sorted(objectives)}, "alerts": alerts}


def rows(s: dict[str, Any]) -> list[list[Any]]:
    """Table rows: objective, indicator, target, budget left, burn 1 h / 6 h, alerts."""
    out = []
    for name, o in s["objectives"].items():
        left = o["budget_remaining"]
        rates = o["burn_rates"]
        out.append(
            [
                name,
                o["indicator"],
                "-" if o["target"] is None else f"{o['target']:g}",
                "-" if left is None else f"{left:.1%}",
                " / ".join("-" if rates.get(w) is None else f"{rates[w]:g}" for w in ("1h", "6h")),
                o["alerts"],
                o["recovered"],
            ]
        )
    return out


HEADER = ["objective", "indicator", "target", "budget left", "burn 1h / 6h", "alerts", "recovered"]
