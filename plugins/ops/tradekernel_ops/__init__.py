"""tradekernel-ops: the alert policy and the scheduled batch (see docs/operations.md).

* ``tradekernel alerts check|rules``: :mod:`tradekernel_ops.alerts` evaluates the alert
  rules over a day's recorded events and the state store, and announces what fires as
  ``alerts.*`` events, which ``tradekernel-notify`` routes to the notifiers.
* ``tradekernel ops batch``: :mod:`tradekernel_ops.batch` runs reconcile, the alerts
  check and the daily report (when ``tradekernel-report`` is installed) under a lock and
  writes the ``ops-status.v1`` artifact.

Both commands are added with ``register_commands``; nothing is imported before one runs.
"""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from .alerts_cmd import alerts
    from .ops_cmd import ops

    cli.add_command(alerts)
    cli.add_command(ops)
