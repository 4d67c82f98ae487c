"""Turn a routed event into a readable :class:`~tradekernel.components.Notification`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from tradekernel.api import Event, Notification, inert

# key -> (title, body, dedup id field); templates use the event's fields.
TEMPLATES: dict[str, tuple[str, str, str | None]] = {
    "approval.pending": (
        "Approval needed: {SIDE} {quantity} {symbol}",
        "Intent {intent_id} waits for approval: {side} {quantity} {symbol} "
        "(about {estimated_notional}).",
        "intent_id",
    ),
    "approval.approved": (
        "Approved: {SIDE} {quantity} {symbol}",
        "Intent {intent_id} was approved by {actor}.",
        "intent_id",
    ),
    "approval.recorded": (
        "Approval {approvals} of {required}: {SIDE} {quantity} {symbol}",
        "Intent {intent_id} was approved by {actor} ({approvals} of the {required} "
        "distinct approvals it needs); it waits for another approver.",
        None,  # one per approval: deduplicated by what it says, not by intent
    ),
    "approval.auto_approved": (
        "Auto-approved: {SIDE} {quantity} {symbol}",
        "Intent {intent_id} was approved automatically.",
        "intent_id",
    ),
    "approval.rejected": (
        "Rejected: {SIDE} {quantity} {symbol}",
        "Intent {intent_id} was rejected by {actor}.",
        "intent_id",
    ),
    "approval.cancelled": (
        "Cancelled: {SIDE} {quantity} {symbol}",
        "Intent {intent_id} was cancelled by {actor}: {reason}.",
        "intent_id",
    ),
    "approval.expired": (
        "Approval expired: {SIDE} {quantity} {symbol}",
        "Intent {intent_id} was not approved in time and expired.",
        "intent_id",
    ),
    "executor.submitted": (
        "Order submitted: {SIDE} {quantity} {symbol}",
        "Order {client_order_id} was sent to the broker (broker id {broker_order_id}).",
        "client_order_id",
    ),
    "executor.failed": (
        "Order failed: {SIDE} {quantity} {symbol}",
        "Order {client_order_id} was not placed: {reason}.",
        "client_order_id",
    ),
    "executor.unknown_outcome": (
        "Order outcome unknown: {symbol}",
        "The broker did not answer for order {client_order_id}; it will "
        "be reconciled by client order id, never resubmitted blindly.",
        "client_order_id",
    ),
    "executor.claim_conflict": (
        "Order claim conflict: {symbol}",
        "Intent {intent_id} was already claimed: {reason}.",
        "intent_id",
    ),
    "executor.reconciled": (
        "Order reconciled: {symbol}",
        "Order {client_order_id} reconciled: {reason}.",
        "client_order_id",
    ),
    "monitor.fill": (
        "Filled: {quantity} {symbol} @ {price}",
        "Order {client_order_id} filled {quantity} at {price} (commission {commission}).",
        "fill_id",
    ),
    "monitor.order_status": (
        "Order {status}: {client_order_id}",
        "Order {client_order_id} is {status} (filled {filled_quantity}).",
        None,
    ),
    "resilience.breaker_opened": (
        "Circuit breaker opened",
        "The breaker opened after {failures} failures: {reason}.",
        None,
    ),
    "resilience.breaker_closed": ("Circuit breaker closed", "Normal operation resumed.", None),
    "resilience.degrade_entered": ("Degraded mode entered", "Trading is degraded: {reason}.", None),
    "resilience.degrade_exited": ("Degraded mode exited", "Trading is back to normal.", None),
    "resilience.cooldown": ("Cooldown", "The runtime is cooling down: {reason}.", None),
    "resilience.incident": ("Incident", "Incident: {reason}.", None),
    "slo.burn_rate": (
        "SLO burning: {objective} ({alert})",
        "Objective {objective} ({indicator}) spends its error budget at {burn_rate}x the"
        " sustainable rate; {budget_remaining} of the budget left.",
        None,
    ),
    "slo.recovered": (
        "SLO recovered: {objective}",
        "Objective {objective} ({indicator}) no longer burns its error budget;"
        " {budget_remaining} of the budget left.",
        None,
    ),
    "heal.acted": (
        "Self-healing: {playbook}",
        "The {playbook} playbook acted ({action}, {outcome}): {reason}.",
        None,
    ),
    "heal.gave_up": (
        "Self-healing gave up: {playbook}",
        "The {playbook} playbook stopped after {attempt} attempts: {reason}.",
        None,
    ),
    "heal.escalated": ("Escalated: {playbook}", "Needs an operator: {reason}.", None),
    "control.kill_switch": (
        "Kill switch {value}",
        "Kill switch set to {value} by {actor}: {reason}.",
        None,
    ),
    "control.paused": ("Trading paused by {actor}", "Paused by {actor}: {reason}.", None),
    "control.resumed": ("Trading resumed by {actor}", "Resumed by {actor}: {reason}.", None),
    "routing.failover": (
        "Broker failover: {primary} -> {broker}",
        "New intents of route {route} go to {broker}: {primary} is {reason}.",
        None,
    ),
    "routing.held": (
        "Held: {reason}",
        "No order is sent on route {route}: waiting for a broker ({reason}).",
        None,
    ),
    "routing.failback": ("Broker back: {broker}", "Route {route} is on {broker} again.", None),
    "routing.unhealthy": (
        "Broker unhealthy: {broker}",
        "Broker {broker} takes no new intents after {failures} bad outcome(s): {reason}.",
        None,
    ),
    "routing.healthy": ("Broker healthy: {broker}", "Broker {broker} answers again.", None),
    "routing.disabled": (
        "Broker disabled: {broker}",
        "Broker {broker} disabled by {actor}: {reason}.",
        None,
    ),
    "routing.enabled": ("Broker enabled: {broker}", "Broker {broker} enabled by {actor}.", None),
    "alerts.fired": (
        "Alert: {rule}",
        "Alert {rule} fired: value {value}, threshold {threshold}.",
        "alert_id",
    ),
    "alerts.resolved": (
        "Resolved: {rule}",
        "Alert {rule} resolved: value {value}, threshold {threshold}.",
        "alert_id",
    ),
    "budget.exhausted": ("LLM budget exhausted ({scope})", "Used {used} of {limit} {scope}.", None),
}


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def plain(value: Any) -> Any:
    """A JSON-able copy of an event field value (Decimals and times become strings)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def digest(kind: str, title: str, body: str) -> str:
    """The default dedup key: a digest of what the operator would read."""
    return hashlib.sha256(f"{kind}\n{title}\n{body}".encode()).hexdigest()[:32]


def notification_from_event(event: Event) -> Notification:
    """The notification for ``event``: a per-kind title and body (a generic one for kinds
    without a template). ``approval.pending`` lists the approve/reject commands."""
    key = f"{event.stage}.{event.kind}"
    fields = {str(k): plain(v) for k, v in event.fields.items()}
    # Title and body are text a person reads: every field value in them is inert (an
    # actor, reason or broker message cannot add a line or an escape sequence); the
    # structured ``fields`` keep the values as given.
    values = _Fields({k: inert(v) for k, v in fields.items()})
    values["SIDE"] = inert(str(fields.get("side", "?")).upper())
    title_t, body_t, id_field = TEMPLATES.get(key, (key, "", None))
    title = title_t.format_map(values)
    if body_t:
        body = body_t.format_map(values)
    else:
        body = "\n".join(f"{inert(k)}: {values[k]}" for k in fields) or key
    commands = [
        f"{label}: {values[name]}"
        for label, name in (("Approve", "approve_cmd"), ("Reject", "reject_cmd"))
        if fields.get(name)
    ]
    if commands:
        body += "\n" + "\n".join(commands)
    dedup_key = None
    if id_field and fields.get(id_field):
        dedup_key = f"{key}:{fields[id_field]}"
    return Notification(
        kind=key,
        title=title,
        body=body,
        severity=str(getattr(event.severity, "value", event.severity)),
        fields=fields,
        dedup_key=dedup_key,
    )
