"""``slo status`` and ``slo calibrate``: the recorded events replayed through the same
:class:`~tradekernel_ops.slo.engine.Evaluator` the agent runs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import attrs
from tradekernel.api import ConfigError, Event, event_log_source, read_events

from .engine import Evaluator
from .indicators import DEFAULT_THRESHOLDS, Classifier

MARGIN = 1.2
"""A proposed latency threshold is the p99 of the recorded samples times this."""
TARGETS = (0.9, 0.95, 0.99, 0.995, 0.999)
"""The targets ``calibrate`` chooses from."""


def recorded(settings: Any, since: datetime, until: datetime) -> Iterator[Event]:
    """The recorded events from ``since`` to ``until`` in time order (unparseable
    records are skipped and logged by the reader); nothing when no log is configured."""
    try:
        source = event_log_source(settings)
    except ConfigError:
        return iter(())
    events = read_events(settings, since=since, until=until, source=source)
    return iter(sorted(events, key=lambda e: e.ts))


def replay(evaluator: Evaluator, events: Iterable[Event], now: datetime) -> list[dict[str, Any]]:
    """Feed ``events`` to ``evaluator``; the alert transitions, each with its time."""
    fired: list[dict[str, Any]] = []
    for event in events:
        for kind, severity, fields in evaluator.observe(event):
            fired.append({"ts": event.ts.isoformat(), "kind": kind, "severity": severity, **fields})
    for kind, severity, fields in evaluator.finish(now.timestamp()):
        fired.append({"ts": now.isoformat(), "kind": kind, "severity": severity, **fields})
    return fired


def slo_status(settings: Any, now: datetime) -> dict[str, Any]:
    """Every objective's budget remaining, burn rates and alert state at ``now``, from
    the events recorded over its window."""
    evaluator = Evaluator(settings.slo)
    longest = max((t.window for t in evaluator.trackers), default=0.0)
    events = recorded(settings, now - timedelta(seconds=longest), now) if longest else iter(())
    transitions = replay(evaluator, events, now)
    at = now.timestamp()
    objectives = []
    for tracker in evaluator.trackers:
        _remaining, good, bad = tracker.budget_remaining(at)
        objectives.append(
            {
                **tracker.status(at=at),
                "good": good,
                "bad": bad,
                "sli": good / (good + bad) if good + bad else None,
                "firing": tracker.firing,
                "alerts": sum(
                    1
                    for t in transitions
                    if t["kind"] == "burn_rate" and t["objective"] == tracker.name
                ),
            }
        )
    slo = settings.slo
    return {
        "now": now.isoformat(),
        "fast_burn": slo.fast_burn,
        "slow_burn": slo.slow_burn,
        "objectives": objectives,
    }


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def calibrate(settings: Any, now: datetime, days: int) -> dict[str, Any]:
    """Proposed targets (and thresholds for timed indicators) from the last ``days``
    days of events, and what each proposal would have fired over those days."""
    since = now - timedelta(days=days)
    events = list(recorded(settings, since, now))
    proposals = []
    for name, objective in sorted(settings.slo.objectives.items()):
        indicator = objective.indicator
        threshold = objective.threshold
        values: list[float] = []
        if indicator in DEFAULT_THRESHOLDS:
            probe = Classifier({indicator: math.inf})
            values = [
                s.value
                for e in events
                for s in probe.samples(e)
                if s.indicator == indicator and s.value is not None
            ]
            p99 = _p99(values)
            if p99 is not None:
                threshold = max(0.001, round(p99 * MARGIN, 3))
        classifier = Classifier({indicator: float(threshold)} if threshold is not None else {})
        samples = [s for e in events for s in classifier.samples(e) if s.indicator == indicator]
        good = sum(s.good for s in samples)
        observed = good / len(samples) if samples else None
        target = _propose(observed)
        proposed = attrs.evolve(objective, target=target, threshold=threshold)
        fired = _fired(settings.slo, name, proposed, events, now)
        fired_now = _fired(settings.slo, name, objective, events, now)
        proposals.append(
            {
                "objective": name,
                "indicator": indicator,
                "samples": len(samples),
                "observed": observed,
                "current_target": objective.target,
                "proposed_target": target,
                "current_threshold": objective.threshold,
                "proposed_threshold": threshold,
                "p99": _p99(values),
                "would_fire": fired,
                "fires_now": fired_now,
            }
        )
    return {"days": days, "now": now.isoformat(), "margin": MARGIN, "objectives": proposals}


def _fired(
    slo: Any, name: str, objective: Any, events: list[Event], now: datetime
) -> list[dict[str, Any]]:
    """The ``slo.burn_rate`` alerts ``objective`` alone would have raised over ``events``."""
    trial = Evaluator(attrs.evolve(slo, objectives={name: objective}))
    return [
        {"ts": t["ts"], "alert": t["alert"], "burn_rate": t["burn_rate"]}
        for t in replay(trial, events, now)
        if t["kind"] == "burn_rate"
    ]


def _propose(observed: float | None) -> float:
    """The strictest of :data:`TARGETS` whose error budget is at least twice the
    observed error rate (the recorded behaviour spends at most half of it)."""
    if observed is None:
        return 0.99
    errors = 1.0 - observed
    fitting = [t for t in TARGETS if (1.0 - t) >= 2 * errors]
    return max(fitting) if fitting else min(TARGETS)
