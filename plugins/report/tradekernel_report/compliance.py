"""The compliance report (``compliance.v1``) of one UTC day: every intent the journal
touched that day with the policy version and the rule that decided it, its quorum and
approvers; the operator overrides (kill switch, trading state, mode, pause, strategy
states); and the policy changes with their signer. See docs/reports.md, "Compliance".

Intents, approvals, overrides and policy loads come from the store's journal (each
change is a hash-chained row naming its actor; a policy load is the control
``policy:<guard>``, docs/policy.md), policy loads that failed from the day's
``policy.load_failed`` events. Every text is masked for secrets (``Settings.redact``) before it is
returned; renderers make it inert on a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from tradekernel.api import (
    Event,
    NotFoundError,
    event_log_source,
    is_approval_row,
    open_store,
    read_events,
    recorded_quorum,
    utcnow,
)

from .stats import counter, iso

COMPLIANCE_SCHEMA = "compliance.v1"
OVERRIDE_KEYS = ("kill_switch", "trading_state", "mode", "paused")
"""Control keys an operator (or a fail-safe) sets to override trading."""
OVERRIDE_PREFIXES = ("strategy:",)
"""Control key prefixes of overrides: a strategy's state (``strategy:<name>``)."""
POLICY_PREFIX = "policy:"
"""Control keys of policy loads: ``policy:<guard>`` (docs/policy.md)."""
POLICY_STAGE = "policy"

Redact = Callable[[str], str]


def _when(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return None


def _json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _verdict(v: Any) -> dict[str, Any]:
    return {
        "guard": v.guard,
        "allow": v.allow,
        "code": v.code,
        "rule": v.rule or None,
        "version": v.version or None,
        "approvals": v.approvals,
    }


def decided_by(verdicts: Sequence[Any]) -> dict[str, Any] | None:
    """The verdict that decided: the first deny, else the first that names a rule (a
    rule-based guard's allow), else ``None`` (every guard allowed, no rule named)."""
    chosen = next((v for v in verdicts if not v.allow), None)
    chosen = chosen or next((v for v in verdicts if v.rule), None)
    if chosen is None:
        return None
    return {k: _verdict(chosen)[k] for k in ("guard", "rule", "code", "allow", "version")}


def intent_row(record: Any, rows: Sequence[Any]) -> dict[str, Any]:
    """One intent's compliance row from its record and its journal rows up to the end of
    the day (``rows``)."""
    intent = record.intent
    verdicts = list(record.verdicts)
    approvals = [
        {"actor": r.actor, "ts": r.ts, "reason": r.reason or None}
        for r in rows
        if is_approval_row(r.from_state, r.to_state)
    ]
    rejected = next((r for r in rows if r.to_state == "rejected"), None)
    last = rows[-1]
    version = next((v.version for v in verdicts if v.version), None)
    return {
        "intent_id": record.id,
        "created_at": record.created_at.isoformat(),
        "symbol": intent.symbol,
        "side": str(intent.side),
        "quantity": None if intent.quantity is None else str(intent.quantity),
        "notional": None if intent.notional is None else str(intent.notional),
        "strategist": intent.strategist,
        "broker": record.broker,
        "state": last.to_state,
        "policy_version": version,
        "decided_by": decided_by(verdicts),
        "verdicts": [_verdict(v) for v in verdicts],
        "approvals_required": recorded_quorum(rows, verdicts),
        "approvals": approvals,
        "approvers": list(dict.fromkeys(a["actor"] for a in approvals)),
        "rejected_by": None
        if rejected is None
        else {"actor": rejected.actor, "ts": rejected.ts, "reason": rejected.reason or None},
        "last_change": {
            "state": last.to_state,
            "actor": last.actor,
            "ts": last.ts,
            "reason": last.reason or None,
        },
    }


def is_override(key: str) -> bool:
    return key in OVERRIDE_KEYS or key.startswith(OVERRIDE_PREFIXES)


def override_row(row: Any) -> dict[str, Any]:
    """One journaled control change as an override."""
    key = row.entity.removeprefix("control:")
    return {
        "ts": row.ts,
        "seq": row.seq,
        "key": key,
        "from": _json_value(row.from_state),
        "to": row.payload.get("value", _json_value(row.to_state)),
        "actor": row.actor,
        "reason": row.reason or None,
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def policy_from_journal(row: Any) -> dict[str, Any]:
    """A policy load: the control ``policy:<guard>`` whose value names the policy."""
    value = row.payload.get("value") if isinstance(row.payload, dict) else None
    p = value if isinstance(value, dict) else {}
    return {
        "ts": row.ts,
        "source": "journal",
        "seq": row.seq,
        "guard": row.entity.removeprefix("control:" + POLICY_PREFIX),
        "name": _text(p.get("name")),
        "version": _text(p.get("version")),
        "label": _text(p.get("label")),
        "sha256": _text(p.get("sha256")),
        "signer": _text(p.get("signer")),
        "key_id": _text(p.get("key_id")),
        "file": _text(p.get("file")),
        "actor": row.actor,
        "detail": row.reason or None,
    }


def policy_from_event(event: Event) -> dict[str, Any]:
    """A ``policy.load_failed`` event: a changed policy that did not verify or compile
    (the old one was kept: ``label`` is the one still in force)."""
    f = event.fields
    return {
        "ts": event.ts.isoformat(),
        "source": f"event:{event.kind}",
        "seq": None,
        "guard": _text(f.get("guard")),
        "name": None,
        "version": None,
        "label": _text(f.get("kept")),
        "sha256": None,
        "signer": None,
        "key_id": None,
        "file": _text(f.get("file")),
        "actor": None,
        "detail": _text(f.get("error")),
    }


def masked(value: Any, redact: Redact) -> Any:
    """``value`` with every string value passed through ``redact`` (the keys are the
    schema's: a partly masked secret must not rename one)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: masked(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, redact) for v in value]
    return value


def build(
    journal: Iterable[Any],
    records: Callable[[str], Any],
    events: Iterable[Event],
    window: tuple[datetime, datetime],
    *,
    verified: dict[str, Any] | None = None,
    redact: Redact = str,
) -> dict[str, Any]:
    """The sections of ``compliance.v1`` from the journal rows (in seq order), a lookup
    of intent records by id and the day's events, every text passed through ``redact``
    before anything is counted by it."""
    by_entity: dict[str, list[Any]] = {}
    touched: dict[str, None] = {}
    overrides, policy = [], []
    for row in journal:
        when = _when(row.ts)
        if when is None or when >= window[1]:
            continue
        today = when >= window[0]
        entity = row.entity
        if entity.startswith("control:"):
            key = entity.removeprefix("control:")
            if today and key.startswith(POLICY_PREFIX):
                policy.append(policy_from_journal(row))
            elif today and is_override(key):
                overrides.append(override_row(row))
        elif ":" not in entity:  # an intent
            by_entity.setdefault(entity, []).append(row)
            if today:
                touched.setdefault(entity)
    policy += [
        policy_from_event(e)
        for e in events
        if (e.stage, e.kind) == (POLICY_STAGE, "load_failed") and window[0] <= e.ts < window[1]
    ]
    policy.sort(key=lambda p: p["ts"])
    intents = []
    for intent_id in touched:
        record = records(intent_id)
        if record is not None:
            intents.append(intent_row(record, by_entity[intent_id]))
    intents.sort(key=lambda i: (i["created_at"], i["intent_id"]))
    intents, overrides, policy = masked([intents, overrides, policy], redact)
    return {
        "journal": masked(verified, redact),
        "summary": {
            "intents": len(intents),
            "by_state": counter(i["state"] for i in intents),
            "by_policy_version": counter(i["policy_version"] or "none" for i in intents),
            "by_rule": counter((i["decided_by"] or {}).get("rule") or "none" for i in intents),
            "needing_quorum": sum(1 for i in intents if i["approvals_required"] > 0),
            "approvals": sum(len(i["approvals"]) for i in intents),
            "approvers": counter(a for i in intents for a in i["approvers"]),
            "overrides": len(overrides),
            "policy_changes": len(policy),
        },
        "intents": intents,
        "overrides": overrides,
        "policy_changes": policy,
    }


def section(
    settings: Any, window: tuple[datetime, datetime], events: Iterable[Event]
) -> dict[str, Any]:
    """The compliance sections of the day in ``window`` from the store under ``[kernel]
    state_dir`` and ``events``, masked; empty lists when there is no state."""
    events = list(events)
    try:
        store = open_store(settings, create=False)
    except NotFoundError:
        return build([], lambda _id: None, events, window, redact=settings.redact)
    with store:
        result = store.verify_journal()
        verified = {
            "ok": result.ok,
            "rows_checked": result.rows_checked,
            "problem": result.problem,
        }
        return build(
            store.journal_rows(),
            store.find,
            events,
            window,
            verified=verified,
            redact=settings.redact,
        )


def compliance_report(
    settings: Any,
    day: date,
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The ``compliance.v1`` report of UTC ``day`` (see docs/reports.md)."""
    from .daily import day_window

    now = now or utcnow()
    window = day_window(day, now)
    settings = getattr(settings, "settings", settings)
    source = source or event_log_source(settings)
    events = read_events(settings, date=day, source=source, stage=POLICY_STAGE)
    body = section(settings, window, events)
    note = None
    if not (settings.state_dir / "state.db").exists():
        note = f"no state recorded under {settings.state_dir}"
    return {
        "schema": COMPLIANCE_SCHEMA,
        "date": day.isoformat(),
        "generated_at": iso(now),
        "window": {"start": iso(window[0]), "end": iso(window[1])},
        "source": source,
        "note": masked(note, settings.redact),
        **body,
    }
