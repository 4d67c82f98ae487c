"""tradekernel-ops: the alert policy and the scheduled batch (see docs/operations.md).

* ``tradekernel alerts check|rules``: :mod:`tradekernel_ops.alerts` evaluates the alert
  rules over a day's recorded events and the state store, and announces what fires as
  ``alerts.*`` events, which ``tradekernel-notify`` routes to the notifiers.
* ``tradekernel ops batch``: :mod:`tradekernel_ops.batch` runs reconcile, the alerts
  check and the daily report (when ``tradekernel-report`` is installed) under a lock and
  writes the ``ops-status.v1`` artifact.

* ``tradekernel slo status|calibrate``: :mod:`tradekernel_ops.slo` computes error
  budgets and burn rates from the events; its observer raises ``slo.burn_rate`` alerts
  in the running agent.
* ``tradekernel budget status|report``: :mod:`tradekernel_ops.budgets` shows every
  budget (node latency, broker requests, prompt size, LLM tokens and dollars) and the
  tuning report; its observer checks the node latency budgets in the running agent.
* ``tradekernel incidents``: :mod:`tradekernel_ops.incidents` opens incidents from alert
  events, escalates them along ``[incidents] escalation`` and records acknowledgements.

The commands are added with ``register_commands``; nothing is imported before one runs.
"""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from .alerts_cmd import alerts
    from .budgets_cmd import budget
    from .incidents.cli import incidents
    from .ops_cmd import ops
    from .slo_cmd import slo

    cli.add_command(alerts)
    cli.add_command(budget)
    cli.add_command(incidents)
    cli.add_command(ops)
    cli.add_command(slo)


@hookimpl
def on_kernel_start(kernel: Any) -> None:
    """Attach the SLO observer (a kernel whose ``[slo]`` has objectives), the budget
    observer (``[budgets]`` naming a node or a broker) and the incidents observer (alert
    events, cycle boundaries) to this kernel."""
    if kernel.settings.slo.objectives:
        from .slo.observer import OBSERVER, SloObserver

        kernel.add_observer(SloObserver(kernel), OBSERVER)
    budgets = kernel.settings.budgets
    if budgets.nodes or budgets.brokers:
        from .budgets import OBSERVER as BUDGETS
        from .budgets.observer import BudgetObserver

        kernel.add_observer(BudgetObserver(kernel), BUDGETS)
    if kernel.settings.incidents.active:
        from .incidents import OBSERVER_NAME
        from .incidents.observer import IncidentObserver

        kernel.add_observer(IncidentObserver(kernel), OBSERVER_NAME)
