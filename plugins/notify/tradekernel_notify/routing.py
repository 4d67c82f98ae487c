"""Which notifiers an event (or a notification) goes to, from ``[notify] routes``."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from typing import Any

SEVERITY_ORDER = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
NEVER_ROUTED = "notify."
"""``notify.*`` events describe deliveries: routing them would notify about notifying."""


def severity_rank(severity: Any) -> int:
    """Numeric rank of a severity name (unknown names rank as ``info``)."""
    return SEVERITY_ORDER.get(str(getattr(severity, "value", severity)).lower(), 1)


class Router:
    """Matches ``stage.kind`` keys and severities against the configured routes."""

    def __init__(self, routes: Sequence[Any], selected: Sequence[str]) -> None:
        self.selected = list(selected)
        self._routes = [
            (
                re.compile("|".join(fnmatch.translate(p) for p in route.kinds)),
                severity_rank(route.min_severity),
                list(route.notifiers),
            )
            for route in routes
        ]

    def route(self, key: str, severity: Any) -> list[str]:
        """Names of the selected notifiers that ``key`` at ``severity`` is routed to, in
        ``[components] notifiers`` order; empty for ``notify.*`` keys."""
        if key.startswith(NEVER_ROUTED):
            return []
        rank = severity_rank(severity)
        wanted: set[str] = set()
        for pattern, min_rank, notifiers in self._routes:
            if rank >= min_rank and pattern.match(key):
                wanted.update(self.selected if "*" in notifiers else notifiers)
        return [name for name in self.selected if name in wanted]

    def unselected(self) -> list[str]:
        """Notifier names used in routes that ``[components] notifiers`` does not select."""
        named = {n for _, _, notifiers in self._routes for n in notifiers if n != "*"}
        return sorted(named - set(self.selected))
