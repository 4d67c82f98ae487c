"""Report sections about deciding: the LLM strategist, budget refusals, every strategist's
decisions and the skills hydrated for them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from tradekernel.api import ORDER_CONSTRAINT_CODES, Event

from .stats import (
    counter,
    dec_sum,
    is_number,
    iso,
    latency_summary,
    money,
    percentile,
    ratio,
)


def of(events: Sequence[Event], stage: str, kind: str | None = None) -> list[Event]:
    """The events of ``stage`` (and ``kind``), in order."""
    return [e for e in events if e.stage == stage and (kind is None or e.kind == kind)]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _tokens(fields: dict[str, Any]) -> tuple[int, int, int]:
    prompt = _int(fields.get("prompt_tokens"))
    completion = _int(fields.get("completion_tokens"))
    total = fields.get("total_tokens")
    return prompt, completion, _int(total) if total is not None else prompt + completion


def strategist_llm(events: Sequence[Event]) -> dict[str, Any]:
    """The ``strategist_llm`` section, from ``strategist_llm.decision`` events."""
    calls = of(events, "strategist_llm", "decision")
    fields = [e.fields for e in calls]
    ok = sum(1 for f in fields if f.get("ok") is True)
    tokens = [_tokens(f) for f in fields]
    return {
        "calls": len(calls),
        "ok": ok,
        "failed": len(calls) - ok,
        "success_rate": ratio(ok, len(calls)),
        "latency_ms": latency_summary(f.get("latency_ms") for f in fields),
        "attempts": counter(f.get("attempts") for f in fields),
        "error_types": counter(f.get("error_type") for f in fields),
        "fallback_reasons": counter(f.get("fallback_reason") for f in fields),
        "prompt_version_total": counter(f.get("prompt_version") for f in fields),
        "schema_version_total": counter(f.get("schema_version") for f in fields),
        "models": counter(_model(f) for f in fields),
        "tokens": {
            "prompt": sum(t[0] for t in tokens),
            "completion": sum(t[1] for t in tokens),
            "total": sum(t[2] for t in tokens),
        },
        "estimated_cost_usd": money(dec_sum(f.get("estimated_cost_usd") for f in fields)),
        "reported_cost_usd": money(dec_sum(f.get("reported_cost_usd") for f in fields)),
        "cache_hits": sum(1 for f in fields if f.get("cache_hit") is True),
        "intents": sum(_int(f.get("intents")) for f in fields),
        "hourly": _hourly(calls),
    }


def _model(fields: dict[str, Any]) -> str:
    return f"{fields.get('provider') or '?'}/{fields.get('model') or '-'}"


def _hourly(calls: Sequence[Event]) -> list[dict[str, Any]]:
    buckets: dict[int, list[Event]] = defaultdict(list)
    for event in calls:
        buckets[event.ts.astimezone(UTC).hour].append(event)
    out = []
    for hour in range(24):
        bucket = buckets.get(hour, [])
        lat = [
            float(e.fields["latency_ms"]) for e in bucket if is_number(e.fields.get("latency_ms"))
        ]
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        out.append(
            {
                "hour": hour,
                "calls": len(bucket),
                "ok": sum(1 for e in bucket if e.fields.get("ok") is True),
                "latency_p50_ms": None if p50 is None else round(p50, 3),
                "latency_p95_ms": None if p95 is None else round(p95, 3),
                "tokens": sum(_tokens(e.fields)[2] for e in bucket),
                "estimated_cost_usd": money(
                    dec_sum(e.fields.get("estimated_cost_usd") for e in bucket)
                ),
            }
        )
    return out


def budget(events: Sequence[Event]) -> dict[str, Any]:
    """The ``budget`` section, from ``budget.exhausted`` events."""
    refusals = of(events, "budget", "exhausted")
    return {
        "exhausted": len(refusals),
        "by_scope": counter(e.fields.get("scope") for e in refusals),
        "events": [
            {
                "ts": iso(e.ts),
                "scope": e.fields.get("scope"),
                "used": money(dec_sum([e.fields.get("used")])),
                "limit": money(dec_sum([e.fields.get("limit")])),
                "strategist": e.fields.get("strategist"),
            }
            for e in refusals
        ],
    }


def strategist(events: Sequence[Event]) -> dict[str, Any]:
    """The ``strategist`` section, from ``strategist.decision`` and ``dropped_intent``."""
    decisions = [e.fields for e in of(events, "strategist", "decision")]
    holds = [f for f in decisions if _int(f.get("intents")) == 0]
    dropped = [e.fields for e in of(events, "strategist", "dropped_intent")]
    return {
        "decisions": len(decisions),
        "by_strategist": counter(f.get("strategist") for f in decisions),
        "with_intents": len(decisions) - len(holds),
        "holds": len(holds),
        "holds_by_reason": counter(f.get("hold_reason") or "unspecified" for f in holds),
        "error_types": counter(f.get("error_type") for f in decisions),
        "intents": sum(_int(f.get("intents")) for f in decisions),
        "latency_ms": latency_summary(f.get("latency_ms") for f in decisions),
        "dropped_intents": {
            "total": len(dropped),
            "by_reason": counter(f.get("reason") or "unspecified" for f in dropped),
        },
    }


def skills(events: Sequence[Event]) -> dict[str, Any]:
    """The ``skills`` section, from ``hydrate.skill`` events (one per skill and cycle)."""
    by_skill: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in of(events, "hydrate", "skill"):
        by_skill[str(event.fields.get("skill") or "?")].append(event.fields)
    out = {}
    for name in sorted(by_skill):
        calls = by_skill[name]
        ok = sum(1 for f in calls if f.get("ok") is True)
        fallbacks = [f for f in calls if f.get("ok") is not True]
        out[name] = {
            "calls": len(calls),
            "ok": ok,
            "success_rate": ratio(ok, len(calls)),
            "fallbacks": len(fallbacks),
            "fallback_reasons": counter(
                f.get("fallback_reason") or "unspecified" for f in fallbacks
            ),
            "latency_ms": latency_summary(f.get("latency_ms") for f in calls),
        }
    return {
        "calls": sum(s["calls"] for s in out.values()),
        "fallbacks": sum(s["fallbacks"] for s in out.values()),
        "by_skill": out,
    }


def data_quality(events: Sequence[Event]) -> dict[str, Any]:
    """The ``data_quality`` section, from ``hydrate.data_quality`` (one per rejected bar or
    quote) and the order-constraint drops among ``strategist.dropped_intent``."""
    rejected = [e.fields for e in of(events, "hydrate", "data_quality")]
    dropped = [
        e.fields
        for e in of(events, "strategist", "dropped_intent")
        if e.fields.get("reason") in ORDER_CONSTRAINT_CODES
    ]
    return {
        "rejections": len(rejected),
        "by_code": counter(f.get("code") or "unspecified" for f in rejected),
        "by_symbol": counter(f.get("symbol") or "?" for f in rejected),
        "below_minimum": {
            "total": len(dropped),
            "by_reason": counter(f.get("reason") for f in dropped),
        },
    }


def notifications(events: Sequence[Event]) -> dict[str, Any]:
    """The ``notifications`` section, from ``notify.*`` events (``delivered`` = sent)."""
    names = {
        "delivered": "sent",
        "failed": "failed",
        "dedup_suppressed": "dedup_suppressed",
        "rate_limited": "rate_limited",
    }
    totals = dict.fromkeys(names.values(), 0)
    bypassed = 0
    by_notifier: dict[str, dict[str, int]] = {}
    for event in of(events, "notify"):
        key = names.get(event.kind)
        if key is None:
            continue
        totals[key] += 1
        bypassed += bool(event.fields.get("rate_limit_bypassed"))
        notifier = str(event.fields.get("notifier") or "?")
        by_notifier.setdefault(notifier, dict.fromkeys(names.values(), 0))[key] += 1
    return {
        **totals,
        "rate_limit_bypassed": bypassed,
        "by_notifier": {k: by_notifier[k] for k in sorted(by_notifier)},
    }
