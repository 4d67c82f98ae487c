"""The frozen ``event.v1`` schema: the envelope, the catalogue of stages and kinds, and
:func:`validate_event`, which checks one recorded event against both.

The catalogue is the contract between the runtime, its plugins and whoever reads the
event log (dashboards, the Prometheus sink, ``tradekernel events validate``). It is
additive only: a new optional field or a new kind may be added to ``event.v1``; renaming
or retyping a field, or making an optional field required, needs ``event.v2``.
Third-party plugins emit their own events under a namespaced stage ``x_<plugin>``
(``x_mydesk``), whose kinds and fields are free. See docs/events.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import frozen

from .models import EVENT_SCHEMA, Severity

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*\Z")
PLUGIN_STAGE = re.compile(r"^x_[a-z][a-z0-9_]*\Z")
"""Stages reserved for third-party plugins: ``x_<plugin>``; not checked against the catalogue."""

SEVERITIES = tuple(s.value for s in Severity)

ENVELOPE: dict[str, tuple[str, str]] = {
    "schema": ("str", 'always "event.v1"'),
    "ts": ("timestamp", "ISO-8601 time with a UTC offset (the kernel writes UTC)"),
    "run_id": ("str", 'id of the run (process) that emitted it, "" outside a run'),
    "cycle_id": ("str", 'id of the runtime cycle, "" outside a cycle'),
    "stage": ("str", "snake_case: the part of the system that emitted it"),
    "kind": ("str", "snake_case: what happened, within the stage"),
    "severity": ("str", "one of " + ", ".join(SEVERITIES)),
    "fields": ("dict", "the payload; JSON object whose keys the catalogue defines"),
}
"""Every envelope key: name -> (type, meaning). All are required."""


@frozen
class FieldSpec:
    """One catalogued field: its type, unit and whether every event of the kind has it."""

    type: str
    """``str``, ``int``, ``number`` (int or float), ``decimal`` (decimal string or
    number), ``bool``, ``list``, ``dict``, ``timestamp`` (ISO-8601 string) or ``any``."""
    unit: str = ""
    required: bool = False
    doc: str = ""


def _f(type_: str, unit: str = "", doc: str = "", *, req: bool = False) -> FieldSpec:
    return FieldSpec(type=type_, unit=unit, required=req, doc=doc)


_LATENCY = _f("number", "ms", "wall time")
_INTENT_ID = _f("str", doc="the intent's deterministic id", req=True)
_BROKER = _f("str", doc="broker component (instance) name", req=True)

_COMMANDER = {
    "node": _f("str", doc="graph node the commander is at", req=True),
    "next": _f("str", doc="node it routes to"),
    "action": _f("str", doc="route | retry | pause | cancel | skip | cooldown_wait | end"),
    "mode": _f("str", doc="paper | shadow | live"),
    "mode_source": _f("str", doc="where the mode came from"),
    "reason": _f("str"),
    "attempt": _f("int", "count", "retry attempt (route, action retry)"),
    "error": _f("str"),
    "cancelled": _f("int", "count", "intents cancelled (route, action cancel)"),
    "broker": _f("str", doc="broker component (mode)"),
    "strategist": _f("str", doc="strategist component (mode)"),
}
_APPROVAL = {
    "intent_id": _INTENT_ID,
    "symbol": _f("str"),
    "side": _f("str", doc="buy | sell"),
    "quantity": _f("decimal", "shares/units"),
    "notional": _f("decimal", "account currency"),
    "actor": _f("str", doc="who decided (operator name, auto, expiry)"),
    "estimated_notional": _f(
        "decimal", "account currency", "quantity x reference price, or the notional (pending)"
    ),
    "expires_at": _f("str", doc="end of the approval window, ISO-8601 (pending)"),
    "approve_cmd": _f("str", doc="CLI command that approves (pending only)"),
    "reject_cmd": _f("str", doc="CLI command that rejects (pending only)"),
    "reason": _f("str", doc="the decision's reason, as the actor gave it (masked)"),
    "approvals": _f("int", "count", "distinct approvals so far (recorded, quorum approved)"),
    "required": _f("int", "count", "distinct approvals the intent needs (its quorum)"),
}
_EXECUTOR = {
    "intent_id": _INTENT_ID,
    "client_order_id": _f("str"),
    "symbol": _f("str"),
    "side": _f("str", doc="buy | sell"),
    "quantity": _f("decimal", "shares/units", "the intent's quantity (null for notional)"),
    "notional": _f("decimal", "account currency", "the intent's notional (null for quantity)"),
    "broker_order_id": _f("str"),
    "broker": _f("str", doc="broker component name"),
    "action": _f("str", doc="what reconciliation did (reconciled)"),
    "reason": _f("str"),
}
_RESILIENCE = {
    "state": _f("str", doc="closed | open | half_open, or the degrade state"),
    "failures": _f("int", "count", "consecutive failures"),
    "count": _f("int", "count", "incidents so far (incident)"),
    "until": _f("timestamp", doc="end of the cooldown (cooldown)"),
    "actor": _f("str"),
    "reason": _f("str"),
    "strategist": _f("str", doc="the strategy concerned (several strategists)"),
}
_CONTROL = {
    "actor": _f("str"),
    "reason": _f("str"),
    "value": _f("any", doc="the new value: bool (kill_switch), state or mode name"),
}
_CONSOLE = {
    "actor": _f("str", doc="the console user (login, logout)"),
    "method": _f("str", doc="token | password (login)"),
    "client": _f("str", doc="the client's address"),
    "reason": _f("str", doc="wrong_credentials | rate_limited (login_failed)"),
    "address": _f("str", doc="where the console listens (started)"),
    "tls": _f("bool", doc="served over TLS (started)"),
}
_ROUTING = {
    "broker": _f("str", doc="the broker concerned (failover, held: where intents go; null: none)"),
    "route": _f("str", doc='the route: its symbol patterns and asset class, or "default"'),
    "primary": _f("str", doc="the route's primary broker"),
    "secondary": _f("str", doc="the route's secondary broker (null: none)"),
    "intent_id": _f("str", doc="the intent held (held, per intent)"),
    "symbol": _f("str"),
    "failures": _f("int", "count", "bad outcomes within [routing] window (unhealthy)"),
    "actor": _f("str"),
    "reason": _f("str"),
}
_NOTIFY = {
    "notifier": _f("str", doc="notifier component name", req=True),
    "event_kind": _f("str", doc="the notification's kind"),
    "dedup_key": _f("str"),
    "http_status": _f("int"),
    "attempts": _f("int", "count"),
    "latency_ms": _LATENCY,
    "error": _f("str"),
    "rate_limit_bypassed": _f(
        "bool", doc="a critical notification sent over the rate limit (only when true)"
    ),
    "unlogged": _f("bool", doc="delivered while the state could not be opened (only when true)"),
}
_ALERTS = {
    "rule": _f("str", doc="alert rule name", req=True),
    "value": _f("decimal", doc="observed value"),
    "threshold": _f("decimal", doc="rule threshold"),
    "alert_id": _f("str", doc="<rule>:<YYYY-MM-DD>, the notification dedup key"),
    "date": _f("str", doc="UTC day evaluated, YYYY-MM-DD"),
    "comparison": _f("str", doc="fires when value <comparison> threshold: > | <"),
    "status": _f("str", doc="firing | ok"),
    "detail": _f("str"),
}
_OPS = {
    "result": _f("str", doc="ok | firing | failed", req=True),
    "exit_code": _f("int"),
    "steps": _f("dict", doc="step name -> ok | failed | skipped | firing"),
    "failed": _f("list", doc="names of the failed steps"),
    "duration_ms": _LATENCY,
    "status_file": _f("str", doc="where the status artifact was written"),
}

_SLO = {
    "objective": _f("str", doc="the [slo.objectives.<name>] table", req=True),
    "indicator": _f("str", doc="cycle_success | decision_latency | ...", req=True),
    "alert": _f("str", doc="fast (1 h and 5 min) | slow (6 h and 30 min) | none (status)"),
    "target": _f("number", "ratio", "the objective's good share"),
    "burn_rate": _f("number", "ratio", "long window's error rate / (1 - target)"),
    "burn_rate_short": _f("number", "ratio", "the short window's"),
    "threshold": _f("number", "ratio", "the burn rate that fires this alert"),
    "budget_remaining": _f("number", "ratio", "share of the window's error budget left"),
    "burn_rates": _f("dict", "ratio", "5m, 30m, 1h, 6h -> burn rate over that window"),
    "window": _f("str", doc="the objective's window, e.g. 30d"),
    "clock_back": _f("number", "seconds", "how far the clock stepped back (clock_step)"),
}

_INCIDENT = {
    "incident": _f("int", doc="the incident's id", req=True),
    "key": _f("str", doc="what opened it: <stage>.<kind>[:<name>...] (docs/operations.md)"),
    "incident_severity": _f("str", doc="error | critical"),
    "step": _f("int", doc="escalation step, from 1 (escalated)"),
    "notifier": _f("str", doc="the step's notifier (escalated)"),
    "status": _f("str", doc="the step's delivery status (escalated)"),
    "actor": _f("str", doc="who acknowledged or resolved it"),
    "trading_state": _f(
        "str",
        doc="the move to reducing (escalated): reducing | reducing already | halted already"
        " | failed (retried at the next tick)",
    ),
    "error": _f("str", doc="why its row in incidents.db cannot be read (unreadable)"),
}

_RELEASE = _f("str", doc="release id (16 hex digits)", req=True)

CATALOGUE: dict[str, dict[str, dict[str, FieldSpec]]] = {
    "commander": {
        "route": _COMMANDER,
        "transition": _COMMANDER,
        "end": {**_COMMANDER, "node": _f("str", doc="last node")},
        "mode": {**_COMMANDER, "node": _f("str"), "mode": _f("str", req=True)},
        "recovered": {
            "cancelled": _f(
                "int", "count", "intents left proposed by a crash, cancelled", req=True
            ),
            "reason": _f("str"),
        },
        "checkpoint": {
            "runtime": _f("str", doc="the runtime keeping the checkpoint", req=True),
            "action": _f("str", doc="skipped | prune_skipped | recreated", req=True),
            "path": _f("str", doc="the checkpoint database"),
            "reason": _f("str"),
        },
    },
    "hydrate": {
        "skill": {
            "skill": _f("str", doc="skill name, area.verb", req=True),
            "ok": _f("bool", req=True),
            "latency_ms": _LATENCY,
            "fallback_reason": _f("str"),
            "error": _f("str"),
            "source": _f("str"),
            "version": _f("str"),
        },
        "data_quality": {
            "symbol": _f("str", req=True),
            "code": _f("str", doc="why the bar or quote was rejected (docs/runtime.md)", req=True),
            "item": _f("str", doc="bar | quote"),
            "bar_ts": _f("timestamp", doc="the rejected bar's or quote's own time"),
            "skill": _f("str", doc="the skill whose result carried it"),
            "origin": _f("str", doc="file:line it came from, when the feed knows"),
            "detail": _f("str"),
        },
    },
    "scan": {
        "candidates": {
            "candidates": _f("list", doc="symbols"),
            "count": _f("int", "count", req=True),
        }
    },
    "strategist": {
        "decision": {
            "strategist": _f("str", doc="strategist component name", req=True),
            "intents": _f("int", "count", "intents proposed", req=True),
            "hold_reason": _f("str"),
            "error_type": _f("str"),
            "detail": _f("str"),
            "latency_ms": _LATENCY,
        },
        "dropped_intent": {
            "intent_id": _INTENT_ID,
            "symbol": _f("str"),
            "reason": _f("str", doc="not_a_candidate | degrade_scaled_to_zero | ..."),
            "detail": _f("str"),
            "strategist": _f("str", doc="the strategy that proposed it (several strategists)"),
        },
    },
    "portfolio": {
        "sized": {
            "intent_id": _f("str", doc="the sized intent's id", req=True),
            "unsized_id": _f("str", doc="the id of the intent as the strategist gave it"),
            "symbol": _f("str"),
            "strategy": _f("str", doc="strategist instance name"),
            "sizer": _f("str", doc="sizer name, or target_weight", req=True),
            "method": _f("str"),
            "quantity": _f("decimal", "shares/units", "the chosen quantity", req=True),
            "inputs": _f("dict", doc="every number the size came from, as text"),
        },
        "size_dropped": {
            "intent_id": _INTENT_ID,
            "symbol": _f("str"),
            "strategy": _f("str", doc="strategist instance name"),
            "code": _f("str", doc="size_rounds_to_zero | target_reached | ...", req=True),
            "detail": _f("str"),
        },
        "conflict": {
            "symbol": _f("str", req=True),
            "policy": _f("str", doc="net | priority | veto (the policy applied)", req=True),
            "result": _f("str", doc="netted | netted_out | vetoed | kept", req=True),
            "inputs": _f("list", doc="each strategy's intent: intent_id, strategist, side, ..."),
            "kept": _f("list", doc="ids of the input intents that go on"),
            "dropped": _f("list", doc="{intent_id, code} of the inputs dropped"),
            "netted_intent_id": _f("str", doc="the one intent for the net amount (net)"),
            "client_order_id": _f("str", doc="the netted intent's client order id"),
            "shares": _f("list", doc="{strategist, intent_id, amount}: signed shares (net)"),
            "note": _f("str", doc="why another policy was applied, when it was"),
        },
        "budget_denied": {
            "strategy": _f("str", doc="the strategy (strategist instance) name", req=True),
            "intent_id": _INTENT_ID,
            "symbol": _f("str"),
            "code": _f("str", doc="strategy_budget_exceeded | strategy_drawdown_stop", req=True),
            "detail": _f("str"),
        },
        "strategy_state": {
            "strategy": _f("str", doc="the strategy (strategist instance) name", req=True),
            "state": _f("str", doc="active | reducing | halted", req=True),
            "previous": _f("str", doc="the state it left"),
            "drawdown": _f("decimal", "fraction of capital", "fall of its P&L from its peak"),
            "actor": _f("str"),
            "reason": _f("str"),
        },
        "allocation": {
            "budgets": _f("dict", "account currency", "strategy -> capital now", req=True),
            "previous": _f("dict", "account currency", "strategy -> capital before"),
            "cause": _f("str", doc="rebalanced | start (a run's first) | day (a day's first)"),
        },
        "allocator_failed": {"reason": _f("str", req=True)},
    },
    "strategist_llm": {
        "decision": {
            "provider": _f("str", req=True),
            "model": _f("str", doc="null when no call was made"),
            "ok": _f("bool", doc="a valid decision came back", req=True),
            "latency_ms": _f("number", "ms", "all attempts", req=True),
            "attempts": _f("int", "count"),
            "error_type": _f("str"),
            "prompt_version": _f("str"),
            "schema_version": _f("str"),
            "prompt_tokens": _f("int", "tokens"),
            "completion_tokens": _f("int", "tokens"),
            "total_tokens": _f("int", "tokens"),
            "estimated_cost_usd": _f("decimal", "USD", "from the configured prices"),
            "reported_cost_usd": _f("decimal", "USD", "as the provider reported it"),
            "fallback_reason": _f("str"),
            "cache_hit": _f("bool"),
            "prompt_digest": _f("str", doc="digest of the request and provider (the cache key)"),
            "intents": _f("int", "count"),
            "detail": _f("str"),
        }
    },
    "risk": {
        "verdict": {
            "intent_id": _INTENT_ID,
            "symbol": _f("str"),
            "guard": _f("str", doc="guard name (the first denying guard)", req=True),
            "allow": _f("bool", req=True),
            "code": _f("str", doc="stable reason code"),
            "detail": _f("str"),
            "rule": _f("str", doc="the rule that decided (rule-based guards only)"),
            "version": _f("str", doc="the version of those rules (rule-based guards only)"),
        }
    },
    "approval": {
        k: _APPROVAL
        for k in (
            "pending",
            "approved",
            "rejected",
            "expired",
            "auto_approved",
            "cancelled",
            "recorded",
        )
    },
    "executor": {
        **{
            k: _EXECUTOR
            for k in (
                "submitted",
                "failed",
                "claim_conflict",
                "unknown_outcome",
                "reconciled",
                "refused",
                "conflict",
            )
        },
        "skipped": {"reason": _f("str", doc="why nothing was executed this cycle")},
    },
    "monitor": {
        "order_status": {
            "client_order_id": _f("str", req=True),
            "status": _f(
                "str", doc="working | partial_fill | filled | cancelled | rejected", req=True
            ),
            "intent_id": _f("str"),
            "filled_quantity": _f("decimal", "shares/units"),
            "progress": _f("decimal", "ratio 0..1"),
            "terminal": _f("bool"),
        },
        "fill": {
            "client_order_id": _f("str", req=True),
            "intent_id": _f("str"),
            "symbol": _f("str"),
            "side": _f("str", doc="buy | sell"),
            "fill_id": _f("str", req=True),
            "price": _f("decimal", "account currency"),
            "quantity": _f("decimal", "shares/units"),
            "commission": _f("decimal", "account currency"),
        },
        "fills_missing": {
            "client_order_id": _f("str", req=True),
            "intent_id": _f("str"),
            "filled_quantity": _f("decimal", "shares/units", "the order's, as recorded"),
            "missing": _f("decimal", "shares/units", "filled but without a recorded fill"),
            "cycles": _f("int", doc="cycles its fills were asked for"),
        },
        "order_failed": {
            "client_order_id": _f("str", req=True),
            "intent_id": _f("str"),
            "broker": _BROKER,
            "call": _f("str", doc="lookup | fills", req=True),
            "error": _f("str", doc="the exception, type and message", req=True),
        },
    },
    "resilience": {
        k: _RESILIENCE
        for k in (
            "breaker_opened",
            "breaker_half_open",
            "breaker_closed",
            "degrade_entered",
            "degrade_exited",
            "cooldown",
            "incident",
        )
    },
    "routing": {
        k: _ROUTING
        for k in ("failover", "failback", "held", "unhealthy", "healthy", "disabled", "enabled")
    },
    "control": {
        k: _CONTROL
        for k in ("paused", "resumed", "kill_switch", "trading_state", "mode", "conflict")
    },
    "report": {
        "cycle": {
            "as_of": _f("timestamp", doc="the cycle's market time"),
            "mode": _f("str", doc="paper | shadow | live"),
            "cycles": _f("int", "count"),
            "candidates": _f("int", "count"),
            "intents": _f("int", "count"),
            "blocked": _f("int", "count"),
            "pending": _f("int", "count"),
            "approved": _f("int", "count"),
            "submitted": _f("int", "count"),
            "failed": _f("int", "count"),
            "denials": _f("dict", "count", "guard reason code -> denials this cycle"),
            "approvals": _f("int", "count"),
            "orders": _f("int", "count"),
            "fills": _f("int", "count"),
            "hold_reason": _f("str"),
            "degraded": _f("bool"),
            "equity": _f("decimal", "account currency"),
            "cash": _f("decimal", "account currency"),
            "realized_pnl": _f("decimal", "account currency"),
            "unrealized_pnl": _f("decimal", "account currency"),
        }
    },
    "notify": {k: _NOTIFY for k in ("delivered", "failed", "dedup_suppressed", "rate_limited")},
    "console": {k: _CONSOLE for k in ("started", "login", "login_failed", "logout")},
    "alerts": {"fired": _ALERTS, "resolved": _ALERTS},
    "ops": {"batch": _OPS},
    "slo": {"burn_rate": _SLO, "recovered": _SLO, "status": _SLO, "clock_step": _SLO},
    "incident": {
        k: _INCIDENT
        for k in ("opened", "updated", "escalated", "acknowledged", "resolved", "unreadable")
    },
    "deploy": {
        "release_created": {"release": _RELEASE, "note": _f("str"), "actor": _f("str")},
        "release_activated": {
            "release": _RELEASE,
            "previous": _f("str", doc="the release active before (none: none)"),
            "rollback": _f("bool", doc="true for release rollback"),
            "stages": _f("dict", doc="strategist -> the stage restored (none: no stage)"),
            "actor": _f("str"),
            "reason": _f("str"),
        },
        "readiness": {
            "result": _f("str", doc="passed | failed", req=True),
            "target": _f("str", doc="the mode checked: live | paper"),
            "failed": _f("list", doc="names of the failed items"),
            "release": _f("str", doc="the active release"),
            "report": _f("str", doc="where the signed report was written"),
        },
    },
    "broker": {
        "request_retried": {
            "broker": _BROKER,
            "method": _f("str", doc="HTTP method"),
            "path": _f("str", doc="the endpoint, without query (or the venue call)"),
            "status": _f("int", doc="HTTP status of the failed attempt (none: no answer)"),
            "error": _f("str", doc="why there was no answer (timeout, connection)"),
            "attempt": _f("int", "count", "the attempt that failed, 1 for the first"),
            "wait_s": _f("number", "s", "wait before the next attempt"),
        },
        "rate_limit": {
            "broker": _BROKER,
            "remaining": _f("int", "requests", "budget left in the venue's window"),
            "limit": _f("int", "requests", "the venue's budget per window"),
            "reset_s": _f("number", "s", "until the window resets"),
            "status": _f("int", doc="HTTP status of the answer that reported it (429)"),
        },
        "unknown_status": {
            "broker": _BROKER,
            "client_order_id": _f("str"),
            "status": _f("str", doc="the venue's status, treated as working", req=True),
        },
        "outcome_unknown": {
            "broker": _BROKER,
            "client_order_id": _f("str"),
            "reason": _f("str", doc="why the answer is unknown (timeout, HTTP 503, ...)"),
        },
        "clock_distrusted": {
            "broker": _BROKER,
            "reason": _f("str", doc="what makes the venue's clock implausible"),
            "is_open": _f("bool", doc="what the clock said"),
            "next_open": _f("str", doc="the clock's next open (RFC 3339)"),
            "next_close": _f("str", doc="the clock's next close (RFC 3339)"),
        },
        "fill_mismatch": {
            "broker": _BROKER,
            "client_order_id": _f("str", req=True),
            "broker_order_id": _f("str"),
            "reason": _f("str", doc="how the execution disagrees with its order"),
            "trade_id": _f("str", doc="the venue's trade id (none: the order as a whole)"),
        },
        "order_conflict": {
            "broker": _BROKER,
            "client_order_id": _f("str", req=True),
            "broker_order_id": _f("str"),
            "reason": _f("str", doc="how the order under the id differs from the request"),
        },
        "order_replaced": {
            "broker": _BROKER,
            "client_order_id": _f("str", req=True),
            "broker_order_id": _f("str"),
            "replaced_by": _f("str", doc="the venue's id of the replacement order"),
        },
        "fill_pages_exhausted": {
            "broker": _BROKER,
            "client_order_id": _f("str", doc="the order, when one was asked about"),
            "pages": _f("int", "pages", "pages read (the configured maximum)"),
            "orders": _f("int", "count", "orders whose fills were not all found"),
        },
        "filled_qty_decreased": {
            "broker": _BROKER,
            "client_order_id": _f("str", req=True),
            "broker_order_id": _f("str"),
            "filled_quantity": _f("decimal", "shares/units", "what the venue says now"),
            "previous": _f("decimal", "shares/units", "the higher figure read before, kept"),
        },
    },
    "policy": {
        "loaded": {
            "guard": _f("str", doc="the policy guard's name", req=True),
            "name": _f("str", doc="the policy's name"),
            "version": _f("str", doc="the policy's version"),
            "label": _f("str", doc="what verdicts record: version@sha256 prefix"),
            "sha256": _f("str", doc="SHA-256 of the policy file"),
            "signer": _f("str", doc='who signed it (name and key id), or "unsigned"'),
            "key_id": _f("str", doc="the signing key's id"),
            "file": _f("str", doc="the policy file"),
            "reload": _f("bool", doc="a running agent picked up a changed file"),
        },
        "load_failed": {
            "guard": _f("str", doc="the policy guard's name", req=True),
            "file": _f("str", doc="the policy file"),
            "error": _f("str", doc="why it did not load (one line)"),
            "kept": _f("str", doc="the label of the policy still in force"),
        },
        "record_failed": {
            "guard": _f("str", doc="the policy guard's name", req=True),
            "file": _f("str", doc="the record database (policy.db)"),
            "error": _f("str", doc="why the write failed (one line)"),
        },
        "signature_dropped": {
            "guard": _f("str", doc="the policy guard's name", req=True),
            "file": _f("str", doc="the policy file"),
            "was": _f("str", doc="who had signed the policy it replaces"),
            "label": _f("str", doc="the label of the unsigned policy now in force"),
        },
    },
    "guard": {
        "adaptive_limit": {
            "guard": _f("str", doc="the adaptive guard's name", req=True),
            "symbol": _f("str", req=True),
            "ceiling": _f("decimal", "account currency", "the configured maximum"),
            "limit": _f("decimal", "account currency", "the limit now in force"),
            "previous": _f("decimal", "account currency", "the limit before"),
            "volatility": _f("number", doc="stdev of the bars' log returns (absent: too few)"),
            "vol_reference": _f("number", doc="volatility up to which the ceiling applies"),
            "bars": _f("int", "count", "bars the volatility was measured on"),
            "drawdown": _f("number", "fraction", "below the peak equity seen"),
            "peak_equity": _f("decimal", "account currency"),
            "equity": _f("decimal", "account currency"),
            "ratio": _f("number", "fraction", "limit / ceiling"),
        },
    },
    "heal": {
        k: {
            "playbook": _f("str", doc="the playbook that acted", req=True),
            "action": _f("str", doc="what it did"),
            "attempt": _f("int", "count", "the attempt number"),
            "outcome": _f("str", doc="ok | failed | waiting | escalated"),
            "reason": _f("str"),
            "actor": _f("str", doc='always "auto"'),
            "intent_id": _f("str"),
            "opens": _f("int", "count", "breaker openings within the window"),
            "strategist": _f(
                "str", doc="the strategist whose own degrade was left, or breaker latched"
            ),
        }
        for k in ("acted", "gave_up", "escalated")
    },
    "lease": {
        k: {
            "namespace": _f(
                "str", doc="this agent's namespace (a label: the lease covers the store)", req=True
            ),
            "epoch": _f("int", doc="the lease's fencing token (grows at every acquisition)"),
            "host": _f("str", doc="the holder's host"),
            "pid": _f("int", doc="the holder's process id"),
            "ttl_s": _f("number", "s", "how long the lease lives without a renewal"),
            "late_s": _f("number", "s", "how late the latest late renewal came"),
            "count": _f("int", "count", "late renewals since the last check"),
            "previous_holder": _f("str", doc="who held the expired lease taken over"),
            "previous_namespace": _f("str", doc="the namespace of the holder taken over"),
            "previous_epoch": _f("int", doc="the epoch of the lease taken over"),
            "previous_heartbeat": _f("timestamp", doc="its last renewal"),
            "reason": _f("str"),
        }
        for k in ("acquired", "taken_over", "renewed_late", "lost", "released")
    },
    "budget": {
        "exhausted": {
            "scope": _f("str", doc="tokens | usd", req=True),
            "used": _f("decimal", "tokens or USD"),
            "limit": _f("decimal", "tokens or USD"),
            "estimate": _f("decimal", "tokens or USD", "what the refused call would need"),
            "strategist": _f("str"),
        },
        "node_over": {
            "node": _f("str", doc="the graph node over its [budgets.nodes] budget", req=True),
            "elapsed_ms": _f("number", "ms", "the node's time, retries included", req=True),
            "budget_ms": _f("number", "ms", "its budget", req=True),
        },
        "nodes": {
            "timed": _f("int", "count", "budgeted nodes timed this cycle", req=True),
            "over": _f("list", doc="the nodes over budget (empty: a good cycle)", req=True),
            "elapsed_ms": _f("dict", "ms", "node -> its latest time this cycle"),
            "budget_ms": _f("dict", "ms", "node -> its budget"),
        },
        "broker_refused": {
            "broker": _f("str", doc="the broker instance", req=True),
            "method": _f("str", doc="the call refused (submit: an order held)"),
            "used": _f("int", "requests", "calls over the last minute"),
            "limit": _f("int", "requests", "the budget per minute"),
            "refused": _f("int", "count", "calls refused since the last such event"),
        },
        "read_skipped": {
            "node": _f("str", doc="the node (or start) that skipped the read", req=True),
            "broker": _f("str", doc="the broker instance", req=True),
            "method": _f("str", doc="the call not sent"),
            "reason": _f("str", doc="the refusal"),
        },
        "broker_usage": {
            "broker": _f("str", doc="the broker instance", req=True),
            "limit": _f("int", "requests", "the budget per minute", req=True),
            "used": _f("int", "requests", "calls over the last minute", req=True),
            "remaining": _f("int", "requests"),
            "reserve": _f("int", "requests", "kept for orders"),
            "refused": _f("int", "count", "calls refused by this process so far"),
            "calls": _f("dict", "count", "method -> calls by this process so far"),
        },
        "prompt_trimmed": {
            "strategist": _f("str", req=True),
            "prompt_version": _f("str"),
            "tokens_before": _f("int", "tokens", "estimated, before trimming", req=True),
            "tokens_after": _f("int", "tokens", "estimated, as sent"),
            "limit": _f("int", "tokens", "[budgets] prompt_tokens", req=True),
            "dropped": _f("list", doc="what was dropped, in order (bars:SYM, candidate:SYM)"),
            "fits": _f("bool", doc="false: still too large, the decision is a hold"),
        },
    },
}
"""stage -> kind -> field -> :class:`FieldSpec`. Fields not listed are allowed (additive);
listed fields must have their type when present and not null."""


def _is_decimal(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return Decimal(repr(value) if isinstance(value, float) else value).is_finite()
    if isinstance(value, str):
        try:
            return Decimal(value).is_finite()
        except InvalidOperation:
            return False
    return False


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "decimal": _is_decimal,
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
    "timestamp": _is_timestamp,
    "any": lambda v: True,
}


def validate_event(data: Mapping[str, Any]) -> list[str]:
    """Every problem with one recorded event (a JSON object); empty when it is valid.

    Checks the envelope (all keys present, no others, right types, ``schema`` is
    ``event.v1``, ``ts`` carries a timezone, snake_case stage and kind, a known
    severity) and, for catalogued stages, that the kind is known and its fields fit.
    """
    if not isinstance(data, Mapping):
        return [f"expected a JSON object, got {type(data).__name__}"]
    problems = [f"missing envelope key {key!r}" for key in ENVELOPE if key not in data]
    problems += [f"unknown envelope key {key!r}" for key in data if key not in ENVELOPE]
    schema = data.get("schema")
    if "schema" in data and schema != EVENT_SCHEMA:
        problems.append(f"schema: expected {EVENT_SCHEMA!r}, got {schema!r}")
    if "ts" in data and not _is_timestamp(data["ts"]):
        problems.append(f"ts: expected an ISO-8601 time with a timezone, got {data['ts']!r}")
    for key in ("run_id", "cycle_id"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key}: expected a string, got {data[key]!r}")
    for key in ("stage", "kind"):
        if key in data and not (isinstance(data[key], str) and SNAKE_CASE.match(data[key])):
            problems.append(f"{key}: expected a non-empty snake_case name, got {data[key]!r}")
    if "severity" in data and data["severity"] not in SEVERITIES:
        problems.append(
            f"severity: expected one of {', '.join(SEVERITIES)}, got {data['severity']!r}"
        )
    fields = data.get("fields")
    if "fields" in data and not isinstance(fields, dict):
        problems.append(f"fields: expected a JSON object, got {fields!r}")
    if problems:
        return problems
    return _catalogue_problems(data["stage"], data["kind"], fields)


def _catalogue_problems(stage: str, kind: str, fields: dict[str, Any]) -> list[str]:
    if PLUGIN_STAGE.match(stage):
        return []
    kinds = CATALOGUE.get(stage)
    if kinds is None:
        return [
            f"stage {stage!r} is not in the event.v1 catalogue "
            "(third-party plugins use a stage named x_<plugin>)"
        ]
    specs = kinds.get(kind)
    if specs is None:
        return [f"kind {kind!r} is not in the event.v1 catalogue for stage {stage!r}"]
    problems = []
    for name, spec in specs.items():
        value = fields.get(name)
        if value is None:
            if spec.required:
                problems.append(f"{stage}.{kind}: required field {name!r} is missing")
            continue
        if not _CHECKS[spec.type](value):
            problems.append(f"{stage}.{kind}: field {name!r}: expected {spec.type}, got {value!r}")
    return problems


def field_specs(stage: str, kind: str) -> dict[str, FieldSpec]:
    """The catalogued fields of ``stage``/``kind`` (empty for unknown or plugin stages)."""
    return CATALOGUE.get(stage, {}).get(kind, {})
