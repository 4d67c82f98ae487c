"""Service level indicators: which recorded events are good or bad for each indicator.

Every event field is read defensively (a recorded log is outside input): a latency that
is not a finite non-negative number is skipped, never trusted.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from attrs import frozen

DEFAULT_THRESHOLDS: dict[str, float] = {
    "decision_latency": 30.0,
    "order_ack_latency": 300.0,
    "data_freshness": 900.0,
}
"""Seconds at or below which a latency or freshness sample is good, per indicator."""

PENDING_MAX = 10_000
"""Approved intents remembered while waiting for their submission (oldest dropped)."""
CYCLES_MAX = 64
"""Cycles remembered while waiting for their ``report.cycle`` (oldest dropped)."""


@frozen
class Sample:
    """One indicator measurement: good or bad, with the measured seconds when timed."""

    indicator: str
    ts: datetime
    good: bool
    value: float | None = None


def _seconds(value: Any, scale: float = 1.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value) / scale
    except OverflowError:  # an integer too large for a float (JSON integers are unbounded)
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Classifier:
    """Turns events into :class:`Sample` s, with bounded memory: the approvals waiting
    for their submission (``PENDING_MAX``) and the cycles that saw an error
    (``CYCLES_MAX``)."""

    def __init__(self, thresholds: dict[str, float] | None = None) -> None:
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self._approved: OrderedDict[str, datetime] = OrderedDict()
        self._failed_cycles: OrderedDict[str, None] = OrderedDict()

    def samples(self, event: Any) -> list[Sample]:
        """The samples ``event`` gives (most events give none)."""
        stage, kind, ts = event.stage, event.kind, event.ts
        fields = event.fields if isinstance(event.fields, dict) else {}
        severity = getattr(event.severity, "value", event.severity)
        if severity in ("error", "critical") and event.cycle_id and stage != "slo":
            self._remember(self._failed_cycles, event.cycle_id, None, CYCLES_MAX)
        if stage == "report" and kind == "cycle":
            return self._cycle(event, fields)
        if stage == "strategist" and kind == "decision":
            latency = _seconds(fields.get("latency_ms"), 1000.0)
            if latency is None:
                return []
            good = latency <= self.thresholds["decision_latency"]
            return [Sample("decision_latency", ts, good, latency)]
        if stage == "approval" and kind in ("approved", "auto_approved"):
            intent = fields.get("intent_id")
            if isinstance(intent, str):
                self._remember(self._approved, intent, ts, PENDING_MAX)
            return []
        if stage == "executor" and kind in ("submitted", "failed", "unknown_outcome"):
            intent = fields.get("intent_id")
            start = self._approved.pop(intent, None) if isinstance(intent, str) else None
            if kind != "submitted":
                return [Sample("order_ack_latency", ts, False)]
            if start is None:
                return []
            latency = max(0.0, (ts - start).total_seconds())
            good = latency <= self.thresholds["order_ack_latency"]
            return [Sample("order_ack_latency", ts, good, latency)]
        if stage == "budget" and kind == "nodes":  # one per timed cycle (docs: "Budgets")
            over = fields.get("over")
            return [Sample("node_latency", ts, not (isinstance(over, list) and over))]
        if stage == "notify" and kind in ("delivered", "failed"):
            return [Sample("notification_delivery", ts, kind == "delivered")]
        return []

    def _cycle(self, event: Any, fields: dict[str, Any]) -> list[Sample]:
        failed = fields.get("failed")
        errored = bool(event.cycle_id) and event.cycle_id in self._failed_cycles
        if errored:
            del self._failed_cycles[event.cycle_id]
        bad = errored or (isinstance(failed, int) and not isinstance(failed, bool) and failed > 0)
        out = [Sample("cycle_success", event.ts, not bad)]
        as_of = _ts(fields.get("as_of"))
        if as_of is not None:
            age = max(0.0, (event.ts - as_of).total_seconds())
            good = age <= self.thresholds["data_freshness"]
            out.append(Sample("data_freshness", event.ts, good, age))
        return out

    @staticmethod
    def _remember(table: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > limit:
            table.popitem(last=False)
