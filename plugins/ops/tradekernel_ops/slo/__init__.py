"""Service level objectives: indicators computed from events, error budgets and
multiwindow burn-rate alerts. See docs/operations.md, "SLOs".

    from tradekernel_ops.slo import slo_status
    report = slo_status(settings, now)     # replays the recorded events of each window
    [o["budget_remaining"] for o in report["objectives"]]

The running agent evaluates the same alerts as events arrive
(:class:`~tradekernel_ops.slo.observer.SloObserver`, attached at kernel start when
``[slo]`` has objectives).
"""

from __future__ import annotations

from .engine import ALERTS, WINDOWS, Evaluator, Tracker
from .indicators import DEFAULT_THRESHOLDS, Classifier, Sample
from .report import calibrate, slo_status

__all__ = [
    "ALERTS",
    "DEFAULT_THRESHOLDS",
    "WINDOWS",
    "Classifier",
    "Evaluator",
    "Sample",
    "Tracker",
    "calibrate",
    "slo_status",
]
