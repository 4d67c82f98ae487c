"""The ``resilience`` report section: breaker and degrade periods, cooldowns, incidents,
operator interventions, node retries and cancels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tradekernel.api import Event

from .stats import counter, duration_ms, iso
from .strategy import of

_BREAKER = ("breaker_opened", "breaker_half_open", "breaker_closed")
_DEGRADE = ("degrade_entered", "degrade_exited")


def periods(
    events: Sequence[Event],
    start_kind: str,
    end_kinds: tuple[str, ...],
    window: tuple[datetime, datetime],
    carry_kind: str,
) -> list[dict[str, Any]]:
    """Intervals from each ``start_kind`` event to the next ``end_kinds`` event.

    A period still open at the end of the window ends there (``ended_by`` =
    ``end_of_window``). When the day's first event of the machine is ``carry_kind`` (an
    end with no start before it), the period began on an earlier day: it is counted
    from the window's start."""
    out: list[dict[str, Any]] = []
    opened: Event | None = None
    for i, event in enumerate(events):
        if event.kind == start_kind:
            if opened is None:
                opened = event
        elif event.kind in end_kinds:
            if opened is not None:
                out.append(_period(opened.ts, event.ts, event.kind, opened))
                opened = None
            elif i == 0 and event.kind == carry_kind:
                out.append(_period(window[0], event.ts, event.kind, None))
    if opened is not None:
        end = max(window[1], opened.ts)
        out.append(_period(opened.ts, end, "end_of_window", opened))
    return out


def _period(start: datetime, end: datetime, ended_by: str, opened: Event | None) -> dict[str, Any]:
    return {
        "start": iso(start),
        "end": iso(end),
        "duration_ms": duration_ms(start, end),
        "ended_by": ended_by,
        "reason": opened.fields.get("reason") if opened else "carried over from an earlier day",
    }


def resilience(events: Sequence[Event], window: tuple[datetime, datetime]) -> dict[str, Any]:
    """The whole section (``window`` = the report's start and end)."""
    res = of(events, "resilience")
    breaker = [e for e in res if e.kind in _BREAKER]
    degrade = [e for e in res if e.kind in _DEGRADE]
    breaker_periods = periods(
        breaker, "breaker_opened", _BREAKER[1:], window, carry_kind="breaker_half_open"
    )
    degrade_periods = periods(
        degrade, "degrade_entered", ("degrade_exited",), window, carry_kind="degrade_exited"
    )
    cooldowns = [e for e in res if e.kind == "cooldown"]
    incidents = [e for e in res if e.kind == "incident"]
    control = of(events, "control")
    routes = of(events, "commander", "route")
    retries = [e for e in routes if e.fields.get("action") == "retry"]
    cancels = [e for e in routes if e.fields.get("action") == "cancel"]
    return {
        "breaker": {
            "opened": _count(breaker, "breaker_opened"),
            "half_open": _count(breaker, "breaker_half_open"),
            "closed": _count(breaker, "breaker_closed"),
            "time_open_ms": round(float(sum(p["duration_ms"] for p in breaker_periods)), 3),
            "open_at_end": bool(breaker_periods)
            and breaker_periods[-1]["ended_by"] == "end_of_window",
            "periods": breaker_periods,
        },
        "degrade": {
            "entered": _count(degrade, "degrade_entered"),
            "exited": _count(degrade, "degrade_exited"),
            "time_ms": round(float(sum(p["duration_ms"] for p in degrade_periods)), 3),
            "degraded_at_end": bool(degrade_periods)
            and degrade_periods[-1]["ended_by"] == "end_of_window",
            "periods": degrade_periods,
        },
        "cooldowns": {
            "count": len(cooldowns),
            "items": [
                {"ts": iso(e.ts), "until": e.fields.get("until"), "reason": e.fields.get("reason")}
                for e in cooldowns
            ],
        },
        "incidents": {
            "count": len(incidents),
            "by_reason": counter(e.fields.get("reason") or "unspecified" for e in incidents),
        },
        "interventions": {
            "count": len(control),
            "by_kind": counter(e.kind for e in control),
            "by_actor": counter(e.fields.get("actor") or "unknown" for e in control),
            "items": [
                {
                    "ts": iso(e.ts),
                    "kind": e.kind,
                    "actor": e.fields.get("actor"),
                    "reason": e.fields.get("reason"),
                    "value": e.fields.get("value"),
                }
                for e in control
            ],
        },
        "node_retries": {
            "count": len(retries),
            "by_node": counter(e.fields.get("node") for e in retries),
        },
        "node_cancels": {
            "count": len(cancels),
            "by_node": counter(e.fields.get("node") for e in cancels),
            "intents_cancelled": sum(
                c if isinstance(c := e.fields.get("cancelled"), int) else 0 for e in cancels
            ),
        },
        "routing": _routing(of(events, "routing")),
        "self_healing": _healing(of(events, "heal")),
        "adaptive_limits": _adaptive(of(events, "guard", "adaptive_limit")),
        "cooldown_waits": sum(1 for e in routes if e.fields.get("action") == "cooldown_wait"),
        "paused_cycles": sum(
            1 for e in of(events, "commander", "end") if e.fields.get("action") == "pause"
        ),
    }


def _healing(events: Sequence[Event]) -> dict[str, Any]:
    """What the self-healing playbooks did (``heal.*`` events, docs/operations.md)."""
    return {
        "count": len(events),
        "by_playbook": counter(str(e.fields.get("playbook")) for e in events),
        "gave_up": _count(events, "gave_up"),
        "escalated": _count(events, "escalated"),
        "items": [
            {
                "ts": iso(e.ts),
                "kind": e.kind,
                "playbook": e.fields.get("playbook"),
                "action": e.fields.get("action"),
                "outcome": e.fields.get("outcome"),
                "reason": e.fields.get("reason"),
            }
            for e in events
        ],
    }


_ADAPTIVE_INPUTS = ("guard", "symbol", "ceiling", "limit", "previous", "volatility", "drawdown")


def _adaptive(events: Sequence[Event]) -> dict[str, Any]:
    """Each change of an adaptive guard's limit, with its inputs (``guard.adaptive_limit``)."""
    return {
        "count": len(events),
        "items": [
            {"ts": iso(e.ts), **{k: e.fields.get(k) for k in _ADAPTIVE_INPUTS}} for e in events
        ],
    }


def _routing(events: Sequence[Event]) -> dict[str, Any]:
    """Several brokers: failovers, holds and health changes (``routing.*`` events)."""
    moves = [e for e in events if e.kind in ("failover", "failback", "held")]
    return {
        "failovers": _count(events, "failover"),
        "failbacks": _count(events, "failback"),
        "held_intents": sum(1 for e in events if e.kind == "held" and e.fields.get("intent_id")),
        "unhealthy_by_broker": counter(
            str(e.fields.get("broker")) for e in events if e.kind == "unhealthy"
        ),
        "decisions": [
            {
                "ts": iso(e.ts),
                "kind": e.kind,
                "route": e.fields.get("route"),
                "primary": e.fields.get("primary"),
                "broker": e.fields.get("broker"),
                "intent_id": e.fields.get("intent_id"),
                "reason": e.fields.get("reason"),
            }
            for e in moves
        ],
    }


def _count(events: Sequence[Event], kind: str) -> int:
    return sum(1 for e in events if e.kind == kind)
