"""``budget status``: every budget with its use, from the configuration and the events
recorded over the last day (one streamed pass; nothing is needed before the first run).

Recorded events are outside input: every field is read defensively (a count that is not
a finite non-negative number is skipped, and so are one decision's tokens above
:data:`MAX_TOKENS` or cost above :data:`MAX_USD`: sums of bounded values stay finite).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from tradekernel.api import read_events

LOOKBACK = timedelta(hours=24)
"""How far back the status reads the events."""
RECENT = timedelta(hours=1)
"""A refusal or an overrun this recent counts as a problem now (exit 4)."""
MAX_TOKENS = 1e12
"""The most tokens one decision may record; more is unreadable (skipped)."""
MAX_USD = 1e9
"""The most dollars one decision may record; more is unreadable (skipped)."""
HELD_BEFORE_ASKING = frozenset(
    {"prompt_over_budget", "prompt_no_candidates", "budget_exhausted", "replay_miss"}
)
"""Decisions held before anything was asked (no provider call, whatever the model)."""


def number(value: Any, most: float = math.inf) -> float | None:
    """``value`` as a finite non-negative number up to ``most``, else ``None`` (booleans
    too)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        out = float(value)
    except (ValueError, OverflowError):
        return None
    return out if math.isfinite(out) and 0 <= out <= most else None


def finite(data: Any) -> Any:
    """``data`` with every non-finite float made ``None`` (strict JSON: no NaN or
    Infinity)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


def provider_call(fields: dict[str, Any], cost: tuple[float, float | None]) -> bool:
    """Whether one ``strategist_llm.decision`` reached the provider: not a cache hit, and
    ``attempts`` above 0 (or, in events without it, tokens or a cost recorded and not a
    hold decided before asking). A configured model alone says nothing."""
    if fields.get("cache_hit") is True or fields.get("error_type") in HELD_BEFORE_ASKING:
        return False
    attempts = number(fields.get("attempts"))
    if attempts is not None:
        return attempts > 0
    return cost[0] > 0 or (cost[1] or 0.0) > 0


def llm_limits(settings: Any) -> dict[str, float | None]:
    """The daily token and dollar budgets of the LLM strategist, read from its raw
    ``[strategist.<name>]`` table (``use = "llm"`` or named ``llm``): the smallest of each
    when several instances set one. Read as data: this plugin does not import the LLM's."""
    out: dict[str, float | None] = {"token_limit": None, "usd_limit": None}
    tables = settings.component_sections.get("strategist", {})
    for name, table in tables.items():
        if not isinstance(table, dict) or table.get("use", name) != "llm":
            continue
        for key, field in (
            ("budget_daily_tokens", "token_limit"),
            ("budget_daily_usd", "usd_limit"),
        ):
            value = number(table.get(key))
            if value is not None and value > 0:
                current = out[field]
                out[field] = value if current is None else min(current, value)
    return out


def decision_cost(fields: dict[str, Any]) -> tuple[float, float | None]:
    """``(tokens, usd)`` of one ``strategist_llm.decision`` (usd ``None`` when unpriced):
    the provider's reported cost first, else the estimate from the configured prices."""
    total = number(fields.get("total_tokens"), MAX_TOKENS)
    if total is None:
        total = (number(fields.get("prompt_tokens"), MAX_TOKENS) or 0.0) + (
            number(fields.get("completion_tokens"), MAX_TOKENS) or 0.0
        )
    usd = number(fields.get("reported_cost_usd"), MAX_USD)
    if usd is None:
        usd = number(fields.get("estimated_cost_usd"), MAX_USD)
    return total, usd


def budget_status(settings: Any, now: datetime) -> dict[str, Any]:
    """Every budget: ``nodes``, ``brokers``, ``prompt`` and ``llm`` (today's tokens and
    dollars against the daily budgets), and ``problems`` (what is spent or over now)."""
    budgets = settings.budgets
    nodes = {
        node: {
            "node": node,
            "budget_ms": round(float(limit) * 1000, 3),
            "over": 0,
            "over_last_hour": 0,
            "worst_ms": None,
            "last_over": None,
        }
        for node, limit in sorted(budgets.nodes.items())
    }
    brokers = {
        name: {
            "broker": name,
            "limit": limit,
            "used": None,
            "remaining": None,
            "refused": 0,
            "refused_last_hour": 0,
            "seen": None,
        }
        for name, limit in sorted(budgets.brokers.items())
    }
    prompt = {"limit": budgets.prompt_tokens, "trimmed": 0, "held": 0, "last_dropped": None}
    limits = llm_limits(settings)
    day = now.date()
    llm = {
        "day": day.isoformat(),
        "decisions": 0,
        "calls": 0,
        "tokens": 0,
        "usd": 0.0,
        **limits,
        "exhausted": 0,
    }
    recent = now - RECENT
    for event in read_events(settings, since=now - LOOKBACK, until=now + timedelta(seconds=1)):
        stage, kind = event.stage, event.kind
        fields = event.fields if isinstance(event.fields, dict) else {}
        if stage == "budget":
            _budget_event(kind, fields, event.ts, recent, nodes, brokers, prompt, llm, day)
        elif stage == "strategist_llm" and kind == "decision" and event.ts.date() == day:
            llm["decisions"] += 1
            tokens, usd = decision_cost(fields)
            llm["calls"] += provider_call(fields, (tokens, usd))
            llm["tokens"] += int(tokens)
            llm["usd"] += usd or 0.0
    llm["usd"] = round(llm["usd"], 6)
    llm["tokens_left"] = (
        None if llm["token_limit"] is None else max(0, int(llm["token_limit"]) - llm["tokens"])
    )
    llm["usd_left"] = (
        None if llm["usd_limit"] is None else round(max(0.0, llm["usd_limit"] - llm["usd"]), 6)
    )
    problems = _problems(nodes, brokers, prompt, llm)
    return {
        "now": now.isoformat(),
        "since": (now - LOOKBACK).isoformat(),
        "nodes": list(nodes.values()),
        "brokers": list(brokers.values()),
        "prompt": prompt,
        "llm": llm,
        "problems": problems,
    }


def _budget_event(
    kind: str,
    fields: dict[str, Any],
    ts: datetime,
    recent: datetime,
    nodes: dict[str, dict[str, Any]],
    brokers: dict[str, dict[str, Any]],
    prompt: dict[str, Any],
    llm: dict[str, Any],
    day: Any,
) -> None:
    if kind in ("prompt_trimmed", "exhausted"):
        _llm_event(kind, ts, prompt, llm, day, fields)
        return
    name = fields.get("node") if kind == "node_over" else fields.get("broker")
    if not isinstance(name, str):
        return
    if kind == "node_over":
        row = nodes.get(name)
        elapsed = number(fields.get("elapsed_ms"))
        if row is None:
            return
        row["over"] += 1
        row["over_last_hour"] += ts >= recent
        row["last_over"] = ts.isoformat()
        if elapsed is not None and (row["worst_ms"] is None or elapsed > row["worst_ms"]):
            row["worst_ms"] = elapsed
    elif kind in ("broker_usage", "broker_refused"):
        row = brokers.get(name)
        if row is None:
            return
        if kind == "broker_refused":
            refused = int(number(fields.get("refused")) or 1)
            row["refused"] += refused
            if ts >= recent:
                row["refused_last_hour"] += refused
        else:
            used = number(fields.get("used"))
            if used is not None:
                row["used"] = int(used)
                row["remaining"] = max(0, row["limit"] - int(used))
                row["seen"] = ts.isoformat()


def _llm_event(
    kind: str,
    ts: datetime,
    prompt: dict[str, Any],
    llm: dict[str, Any],
    day: Any,
    fields: dict[str, Any],
) -> None:
    if kind == "prompt_trimmed":
        if fields.get("fits") is False:
            prompt["held"] += 1
        else:
            prompt["trimmed"] += 1
        dropped = fields.get("dropped")
        if isinstance(dropped, list):
            prompt["last_dropped"] = [str(d) for d in dropped[:20]]
    elif kind == "exhausted" and ts.date() == day:
        llm["exhausted"] += 1


def _problems(
    nodes: dict[str, dict[str, Any]],
    brokers: dict[str, dict[str, Any]],
    prompt: dict[str, Any],
    llm: dict[str, Any],
) -> list[str]:
    out = [
        f"node {n}: over its budget {row['over_last_hour']} time(s) in the last hour"
        for n, row in nodes.items()
        if row["over_last_hour"]
    ]
    out += [
        f"broker {b}: {row['refused_last_hour']} call(s) refused in the last hour"
        for b, row in brokers.items()
        if row["refused_last_hour"]
    ]
    if prompt["held"]:
        out.append(f"prompt: {prompt['held']} decision(s) held, too large even trimmed")
    if llm["tokens_left"] == 0:
        out.append("llm: today's token budget is spent")
    if llm["usd_left"] == 0:
        out.append("llm: today's dollar budget is spent")
    return out
