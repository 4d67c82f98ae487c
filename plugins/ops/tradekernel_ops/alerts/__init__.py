"""The alert policy: rules over the recorded events of a day (and the state store), with
thresholds from named profiles and ``[alerts]``. See docs/operations.md, "Alert rules".

    from tradekernel_ops.alerts import check_alerts
    check = check_alerts(kernel)          # evaluates, emits alerts.fired, notifies
    [r.name for r in check.firing]
"""

from __future__ import annotations

from .check import AlertCheck, alert_id, check_alerts
from .observe import Observations, collect
from .policy import KEYS, PROFILES, Policy, load_policy
from .rules import RULES, STATUSES, RuleResult, active_rules, evaluate

__all__ = [
    "KEYS",
    "PROFILES",
    "RULES",
    "STATUSES",
    "AlertCheck",
    "Observations",
    "Policy",
    "RuleResult",
    "active_rules",
    "alert_id",
    "check_alerts",
    "collect",
    "evaluate",
    "load_policy",
]
