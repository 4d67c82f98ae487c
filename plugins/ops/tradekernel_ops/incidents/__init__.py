"""Incidents and escalation (docs/operations.md, "Incidents and escalation").

* :mod:`.store`: ``state_dir/incidents.db`` (incidents, timeline, escalation steps).
* :mod:`.service`: :class:`~.service.Incidents` (observe, tick, acknowledge, resolve).
* :mod:`.observer`: the running agent's observer (alert events, cycle boundaries).
* :mod:`.postmortem`: the markdown skeleton of ``incidents postmortem``.
* :mod:`.cli`: ``tradekernel incidents``.
"""

OBSERVER_NAME = "tradekernel.ops.incidents"
