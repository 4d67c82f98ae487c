"""``slo status`` and ``slo calibrate``: the recorded events replayed through the same
:class:`~tradekernel_ops.slo.engine.Evaluator` the agent runs."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import attrs
from tradekernel.api import ConfigError, Event, event_log_source, read_events

from .engine import Evaluator
from .indicators import DEFAULT_THRESHOLDS, Classifier
from .sketch import Quantiles

MARGIN = 1.2
"""A proposed latency threshold is the p99 of the recorded samples times this."""
TARGETS = (0.9, 0.95, 0.99, 0.995, 0.999)
"""The targets ``calibrate`` chooses from."""


REORDER = 4096
"""Records held back to put the log in time order while streaming it: the sinks write
events in emission order, a few threads' events interleaved; a record further than this
from its place is counted where it comes (the counters accept a late sample)."""


def recorded(settings: Any, since: datetime, until: datetime) -> Iterator[Event]:
    """The recorded events from ``since`` to ``until`` in time order, streamed (memory
    does not grow with the number of events: see :data:`REORDER`); unparseable records
    are skipped and logged by the reader; nothing when no log is configured."""
    try:
        source = event_log_source(settings)
    except ConfigError:
        return iter(())
    return in_order(read_events(settings, since=since, until=until, source=source))


def in_order(events: Iterable[Event], depth: int = REORDER) -> Iterator[Event]:
    """``events`` sorted by time through a buffer of ``depth`` (equal times keep their
    order): exact when no event is more than ``depth`` records from its place."""
    heap: list[tuple[datetime, int, Event]] = []
    for seq, event in enumerate(events):
        heapq.heappush(heap, (event.ts, seq, event))
        if len(heap) > depth:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


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


def calibrate(settings: Any, now: datetime, days: int) -> dict[str, Any]:
    """Proposed targets (and thresholds for timed indicators) from the last ``days``
    days of events, and what each proposal would have fired over those days.

    Two streaming passes over the log (memory does not grow with the number of events):
    the first takes each timed indicator's p99 (:class:`~.sketch.Quantiles`) and replays
    the objectives as configured; the second classifies with the proposed thresholds and
    replays each objective with every candidate target at once, so that the one the
    observed good share picks is known without a third pass."""
    since = now - timedelta(days=days)
    slo = settings.slo
    objectives = sorted(slo.objectives.items())
    timed = {n: o for n, o in objectives if o.indicator in DEFAULT_THRESHOLDS}
    probes = {n: Classifier({o.indicator: math.inf}) for n, o in timed.items()}
    p99s = {n: Quantiles() for n in timed}
    current = {n: _trial(slo, n, o) for n, o in objectives}
    fires_now: dict[str, list[dict[str, Any]]] = {n: [] for n, _o in objectives}
    for event in recorded(settings, since, now):
        for name, probe in probes.items():
            for s in probe.samples(event):
                if s.indicator == timed[name].indicator and s.value is not None:
                    p99s[name].add(s.value)
        for name, evaluator in current.items():
            fires_now[name] += _fires(evaluator.observe(event), event.ts)
    for name, evaluator in current.items():
        fires_now[name] += _fires(evaluator.finish(now.timestamp()), now)

    thresholds: dict[str, Any] = {}
    for name, objective in objectives:
        p99 = p99s[name].quantile(0.99) if name in p99s else None
        thresholds[name] = (
            objective.threshold if p99 is None else max(0.001, round(p99 * MARGIN, 3))
        )
    classifiers = {
        n: Classifier({o.indicator: float(thresholds[n])} if thresholds[n] is not None else {})
        for n, o in objectives
    }
    counts = {n: [0, 0] for n, _o in objectives}  # good, all
    trials = {
        (n, t): _trial(slo, n, attrs.evolve(o, target=t, threshold=thresholds[n]))
        for n, o in objectives
        for t in TARGETS
    }
    would: dict[tuple[str, float], list[dict[str, Any]]] = {k: [] for k in trials}
    for event in recorded(settings, since, now):
        for name, objective in objectives:
            for s in classifiers[name].samples(event):
                if s.indicator == objective.indicator:
                    counts[name][0] += s.good
                    counts[name][1] += 1
        for key, evaluator in trials.items():
            would[key] += _fires(evaluator.observe(event), event.ts)
    for key, evaluator in trials.items():
        would[key] += _fires(evaluator.finish(now.timestamp()), now)

    proposals = []
    for name, objective in objectives:
        good, samples = counts[name]
        observed = good / samples if samples else None
        target = _propose(observed)
        p99 = p99s[name].quantile(0.99) if name in p99s else None
        proposals.append(
            {
                "objective": name,
                "indicator": objective.indicator,
                "samples": samples,
                "observed": observed,
                "current_target": objective.target,
                "proposed_target": target,
                "current_threshold": objective.threshold,
                "proposed_threshold": thresholds[name],
                "p99": None if p99 is None else round(p99, 6),
                "would_fire": would[(name, target)],
                "fires_now": fires_now[name],
            }
        )
    return {"days": days, "now": now.isoformat(), "margin": MARGIN, "objectives": proposals}


def _trial(slo: Any, name: str, objective: Any) -> Evaluator:
    """An evaluator of ``objective`` alone, with ``[slo]``'s burn settings."""
    return Evaluator(attrs.evolve(slo, objectives={name: objective}))


def _fires(
    transitions: list[tuple[str, str, dict[str, Any]]], at: datetime
) -> list[dict[str, Any]]:
    """The ``slo.burn_rate`` alerts among ``transitions``, each with its time."""
    return [
        {"ts": at.isoformat(), "alert": f["alert"], "burn_rate": f["burn_rate"]}
        for kind, _severity, f in transitions
        if kind == "burn_rate"
    ]


def _propose(observed: float | None) -> float:
    """The strictest of :data:`TARGETS` whose error budget is at least twice the
    observed error rate (the recorded behaviour spends at most half of it)."""
    if observed is None:
        return 0.99
    errors = 1.0 - observed
    fitting = [t for t in TARGETS if (1.0 - t) >= 2 * errors]
    return max(fitting) if fitting else min(TARGETS)
