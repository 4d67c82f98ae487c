"""Report sections about trading: intents by final state, approvals, guard denials, orders
and fills, and the account (P&L, exposure, equity curve)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradekernel.api import Event

from .stats import counter, dec_sum, duration_ms, iso, latency_summary, money, to_decimal
from .strategy import of

STATE_OF_EVENT: dict[tuple[str, str], str] = {
    ("approval", "pending"): "pending_approval",
    ("approval", "recorded"): "pending_approval",
    ("approval", "approved"): "approved",
    ("approval", "auto_approved"): "approved",
    ("approval", "rejected"): "rejected",
    ("approval", "expired"): "expired",
    ("approval", "cancelled"): "cancelled",
    ("executor", "submitted"): "submitted",
    ("executor", "failed"): "failed",
    ("executor", "unknown_outcome"): "executing",
}
"""Intent state each event puts an intent in. ``risk.verdict`` is handled apart: a deny
means ``blocked``; an allow means ``proposed`` for an intent not seen before."""


def final_states(events: Sequence[Event]) -> dict[str, str]:
    """intent id -> the last state its events of the day put it in."""
    states: dict[str, str] = {}
    for event in events:
        intent_id = event.fields.get("intent_id")
        if not intent_id:
            continue
        if event.stage == "risk" and event.kind == "verdict":
            if event.fields.get("allow") is False:
                states[intent_id] = "blocked"
            else:
                states.setdefault(intent_id, "proposed")
            continue
        state = STATE_OF_EVENT.get((event.stage, event.kind))
        if state is not None:
            states[intent_id] = state
    return states


def intents(events: Sequence[Event]) -> dict[str, Any]:
    """The ``intents`` section: final states, approvals and guard denials."""
    states = final_states(events)
    pending_at: dict[str, datetime] = {}
    waits = []
    for event in of(events, "approval"):
        intent_id = event.fields.get("intent_id")
        if event.kind == "pending":
            pending_at.setdefault(intent_id, event.ts)
        elif event.kind == "approved" and intent_id in pending_at:
            waits.append(duration_ms(pending_at[intent_id], event.ts))
    approvals = of(events, "approval")
    decided = [e for e in approvals if e.kind in ("approved", "auto_approved", "rejected")]
    given = [e for e in approvals if e.kind in ("approved", "auto_approved", "recorded")]
    denials = [e.fields for e in of(events, "risk", "verdict") if e.fields.get("allow") is False]
    return {
        "total": len(states),
        "by_final_state": counter(states.values()),
        "approvals": {
            "manual": sum(1 for e in approvals if e.kind == "approved"),
            "auto": sum(1 for e in approvals if e.kind == "auto_approved"),
            "pending": sum(1 for e in approvals if e.kind == "pending"),
            "rejected": sum(1 for e in approvals if e.kind == "rejected"),
            "expired": sum(1 for e in approvals if e.kind == "expired"),
            "by_actor": counter(e.fields.get("actor") or "unknown" for e in decided),
            # four-eyes: approvals below a quorum, and every approval by its approver
            "recorded": sum(1 for e in approvals if e.kind == "recorded"),
            "approvers": counter(e.fields.get("actor") or "unknown" for e in given),
            "quorum_approved": sum(
                1 for e in approvals if e.kind == "approved" and (e.fields.get("required") or 0) > 1
            ),
            "time_to_approve_ms": latency_summary(waits),
        },
        "denials": {
            "total": len(denials),
            "by_code": counter(f.get("code") or "unspecified" for f in denials),
            "by_guard": counter(f.get("guard") or "unspecified" for f in denials),
        },
    }


def orders(events: Sequence[Event]) -> dict[str, Any]:
    """The ``orders`` section: executor outcomes, last order status, fills."""
    executor = of(events, "executor")
    status: dict[str, str] = {}
    updates = of(events, "monitor", "order_status")
    for event in updates:
        status[str(event.fields.get("client_order_id"))] = str(event.fields.get("status"))
    fills: dict[str, dict[str, Any]] = {}
    for event in of(events, "monitor", "fill"):
        fills.setdefault(str(event.fields.get("fill_id")), event.fields)  # a replay counts once
    by_symbol: dict[str, dict[str, Any]] = {}
    for f in fills.values():
        qty, price = to_decimal(f.get("quantity")), to_decimal(f.get("price"))
        row = by_symbol.setdefault(str(f.get("symbol") or "?"), _fill_row())
        row["count"] += 1
        row["quantity"] += qty or 0
        row["notional"] += (qty or 0) * (price or 0)
    failed = [e for e in executor if e.kind == "failed"]
    return {
        "submitted": sum(1 for e in executor if e.kind == "submitted"),
        "submitted_by_broker": counter(
            str(e.fields.get("broker") or "?") for e in executor if e.kind == "submitted"
        ),
        "failed": len(failed),
        "failed_by_reason": counter(e.fields.get("reason") or "unspecified" for e in failed),
        "unknown_outcome": sum(1 for e in executor if e.kind == "unknown_outcome"),
        "claim_conflicts": sum(1 for e in executor if e.kind == "claim_conflict"),
        "reconciled": sum(1 for e in executor if e.kind == "reconciled"),
        # critical: unknown_to_broker, journal_mismatch, or a broker order for a failed intent
        "conflicts_by_code": counter(
            str(e.fields.get("reason") or "unspecified").split(":")[0]
            for e in executor
            if e.kind == "conflict"
        ),
        "abandoned_proposals": sum(
            int(e.fields.get("cancelled") or 0) for e in of(events, "commander", "recovered")
        ),
        "skipped_cycles": sum(1 for e in executor if e.kind == "skipped"),
        "status_updates": len(updates),
        "by_status": counter(status.values()),
        "fills": {
            "count": len(fills),
            "by_side": counter(f.get("side") for f in fills.values()),
            "quantity": money(sum((r["quantity"] for r in by_symbol.values()), Decimal(0))),
            "notional": money(sum((r["notional"] for r in by_symbol.values()), Decimal(0))),
            "commission": money(dec_sum(f.get("commission") for f in fills.values())),
            "by_symbol": {
                s: {**r, "quantity": money(r["quantity"]), "notional": money(r["notional"])}
                for s, r in sorted(by_symbol.items())
            },
        },
    }


def _fill_row() -> dict[str, Any]:
    return {"count": 0, "quantity": Decimal(0), "notional": Decimal(0)}


_ACCOUNT_KEYS = ("equity", "cash", "realized_pnl", "unrealized_pnl")


def account(events: Sequence[Event]) -> dict[str, Any]:
    """The ``account`` section, from ``report.cycle`` events (the last one is the close)."""
    cycles = of(events, "report", "cycle")
    curve = [
        {
            "ts": iso(e.ts),
            "as_of": e.fields.get("as_of"),
            **{k: money(to_decimal(e.fields.get(k))) for k in _ACCOUNT_KEYS},
        }
        for e in cycles
    ]
    last = curve[-1] if curve else dict.fromkeys(_ACCOUNT_KEYS)
    equities = [to_decimal(p["equity"]) for p in curve if p["equity"] is not None]
    equity, cash = to_decimal(last["equity"]), to_decimal(last["cash"])
    return {
        "cycles": len(cycles),
        "as_of": cycles[-1].fields.get("as_of") if cycles else None,
        "mode": cycles[-1].fields.get("mode") if cycles else None,
        **{k: last[k] for k in _ACCOUNT_KEYS},
        "exposure": money(equity - cash) if equity is not None and cash is not None else None,
        "start_equity": money(equities[0]) if equities else None,
        "equity_change": money(equities[-1] - equities[0]) if equities else None,
        "equity_min": money(min(equities)) if equities else None,
        "equity_max": money(max(equities)) if equities else None,
        "equity_curve": curve,
    }
