"""The alert rules: each measures one thing over :class:`Observations` and compares it
with its threshold from the :class:`Policy`. Rules never raise for missing data: they
report ``no_data``."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from attrs import frozen
from tradekernel.api import ALERT_RULES, Duration, Event, decimal_or_none, format_money

from .observe import Observations
from .policy import Policy

STATUSES = ("ok", "firing", "no_data")


@frozen
class RuleResult:
    """The outcome of one rule: it fires when ``value <comparison> threshold``."""

    name: str
    status: str
    """``ok``, ``firing`` or ``no_data``."""
    value: float | int | None
    threshold: float | int
    comparison: str
    """``>`` (fires above the threshold) or ``<`` (fires below it)."""
    unit: str
    """``ratio``, ``ms``, ``s``, ``count`` or ``currency``."""
    severity: str
    """Severity of the ``alerts.fired`` event: ``warning`` or ``error``."""
    detail: str

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "value": self.value,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "unit": self.unit,
            "severity": self.severity,
            "detail": self.detail,
        }


def _result(
    name: str,
    value: float | None,
    threshold: float,
    comparison: str,
    unit: str,
    severity: str,
    detail: str,
) -> RuleResult:
    if value is None:
        status = "no_data"
    elif comparison == ">":
        status = "firing" if value > threshold else "ok"
    else:
        status = "firing" if value < threshold else "ok"
    return RuleResult(name, status, value, threshold, comparison, unit, severity, detail)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank ``p``-th percentile (the daily report uses the same definition)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


# -- the strategist -------------------------------------------------------------------


def strategist_window(policy: Policy, obs: Observations) -> tuple[list[tuple[bool, Any]], str]:
    """``(succeeded, latency_ms)`` of the last ``strategist_window`` decisions of the day,
    and what they were taken from: ``strategist_llm.decision`` events when the day has
    any (``ok``), else ``strategist.decision`` (success: no ``error_type``)."""
    llm = obs.of("strategist_llm", "decision")
    if llm:
        calls = [(e.fields.get("ok") is True, e.fields.get("latency_ms")) for e in llm]
        source = "strategist_llm.decision"
    else:
        calls = [
            (not e.fields.get("error_type"), e.fields.get("latency_ms"))
            for e in obs.of("strategist", "decision")
        ]
        source = "strategist.decision"
    return calls[-int(policy.get("strategist_window")) :], source


def _too_few(policy: Policy, obs: Observations, calls: list, source: str) -> str | None:
    if obs.events is None:
        return obs.unavailable
    need = int(policy.get("strategist_min_calls"))
    if len(calls) < need:
        return f"{len(calls)} {source} event(s) today, fewer than strategist_min_calls ({need})"
    return None


def rule_strategist_success_rate(policy: Policy, obs: Observations) -> RuleResult:
    threshold = float(policy.get("strategist_success_rate_min"))
    calls, source = strategist_window(policy, obs)
    name = "strategist_success_rate"
    if (why := _too_few(policy, obs, calls, source)) is not None:
        return _result(name, None, threshold, "<", "ratio", "warning", why)
    ok = sum(1 for succeeded, _ in calls if succeeded)
    rate = round(ok / len(calls), 4)
    detail = f"{ok} of the last {len(calls)} {source} calls succeeded"
    return _result(name, rate, threshold, "<", "ratio", "warning", detail)


def rule_strategist_latency_p95(policy: Policy, obs: Observations) -> RuleResult:
    threshold = float(policy.get("strategist_latency_p95_ms"))
    calls, source = strategist_window(policy, obs)
    name = "strategist_latency_p95"
    latencies = [n for _, lat in calls if (n := _number(lat)) is not None]
    if (why := _too_few(policy, obs, latencies, source)) is not None:
        return _result(name, None, threshold, ">", "ms", "warning", why)
    p95 = round(percentile(latencies, 95) or 0.0, 1)
    detail = f"p95 of the last {len(latencies)} {source} latencies; max {max(latencies):.1f} ms"
    return _result(name, p95, threshold, ">", "ms", "warning", detail)


# -- runtime state --------------------------------------------------------------------

_BREAKER_KINDS = {
    "breaker_opened": "open",
    "breaker_half_open": "half_open",
    "breaker_closed": "closed",
}


def rule_breaker_open(policy: Policy, obs: Observations) -> RuleResult:
    name = "breaker_open"
    controls = obs.controls or {}
    snap = controls.get("breaker")
    # several strategists: one breaker each (control ``breaker:<strategist>``)
    own = {k[len("breaker:") :]: v for k, v in controls.items() if k.startswith("breaker:")}
    own = {k: v for k, v in own.items() if isinstance(v, dict) and v.get("state")}
    if obs.current and own:
        opened = sorted(k for k, v in own.items() if v["state"] == "open")
        state = "open" if opened else "closed"
        shown = ", ".join(f"{k} {v['state']}" for k, v in sorted(own.items()))
        detail = f"strategy breakers: {shown} (store control state)"
    elif obs.current and isinstance(snap, dict) and snap.get("state"):
        state = str(snap["state"])
        since = f" since {snap['opened_at']}" if state == "open" and snap.get("opened_at") else ""
        detail = f"breaker is {state}{since} (store control state)"
    else:
        events = [e for e in obs.of("resilience") if e.kind in _BREAKER_KINDS]
        if events:
            last = events[-1]
            state = _BREAKER_KINDS[last.kind]
            detail = f"breaker {state} by the last {last.stage}.{last.kind} at {last.ts:%H:%M:%S}"
        elif obs.events is None and obs.controls is None:
            return _result(name, None, 0, ">", "count", "error", obs.unavailable)
        else:
            state, detail = "closed", "no breaker state recorded (closed)"
    return _result(name, 1 if state == "open" else 0, 0, ">", "count", "error", detail)


def rule_stuck_intents(policy: Policy, obs: Observations) -> RuleResult:
    name = "stuck_intents"
    after = float(policy.get("stuck_after"))
    if not obs.current:
        detail = "store state is current: only evaluated for today"
        return _result(name, None, after, ">", "s", "error", detail)
    if obs.executing is None and obs.store_unavailable:
        return _result(name, None, after, ">", "s", "error", obs.store_unavailable)
    if not obs.executing:
        return _result(name, 0, after, ">", "s", "error", "no intent is executing")
    ages = {
        intent_id: max(0.0, (obs.now - since).total_seconds()) if since else 0.0
        for intent_id, since in obs.executing
    }
    stuck = sorted(i for i, age in ages.items() if age > after)
    oldest = round(max(ages.values()), 1)
    if stuck:
        detail = f"{len(stuck)} intent(s) executing longer than {Duration(after)}: " + ", ".join(
            stuck
        )
    else:
        detail = f"{len(ages)} intent(s) executing, the oldest for {oldest:g}s"
    return _result(name, oldest, after, ">", "s", "error", detail)


# -- counts over the day --------------------------------------------------------------


def _count_rule(
    name: str,
    obs: Observations,
    threshold: int,
    severity: str,
    count: Callable[[list[Event]], tuple[int, str]],
) -> RuleResult:
    if obs.events is None:
        return _result(name, None, threshold, ">", "count", severity, obs.unavailable)
    value, detail = count(obs.events)
    return _result(name, value, threshold, ">", "count", severity, detail)


def _breakdown(counter: Counter) -> str:
    return ", ".join(f"{k} {n}" for k, n in counter.most_common(5))


def rule_guard_denials(policy: Policy, obs: Observations) -> RuleResult:
    def count(_: list[Event]) -> tuple[int, str]:
        denied = [e for e in obs.of("risk", "verdict") if e.fields.get("allow") is False]
        codes = Counter(
            f"{e.fields.get('guard') or '?'}:{e.fields.get('code') or '?'}" for e in denied
        )
        detail = f"{len(denied)} risk.verdict denial(s) today"
        return len(denied), detail + (f" ({_breakdown(codes)})" if codes else "")

    return _count_rule("guard_denials", obs, int(policy.get("guard_denials_max")), "warning", count)


def rule_notify_failures(policy: Policy, obs: Observations) -> RuleResult:
    name, threshold = "notify_failures", int(policy.get("notify_failures_max"))
    if obs.notify_failed is not None:
        detail = f"{obs.notify_failed} failed delivery(ies) today in the notification log"
        return _result(name, obs.notify_failed, threshold, ">", "count", "warning", detail)

    def count(_: list[Event]) -> tuple[int, str]:
        failed = obs.of("notify", "failed")
        by = Counter(str(e.fields.get("notifier") or "?") for e in failed)
        detail = f"{len(failed)} notify.failed event(s) today"
        return len(failed), detail + (f" ({_breakdown(by)})" if by else "")

    return _count_rule(name, obs, threshold, "warning", count)


def rule_skill_fallbacks(policy: Policy, obs: Observations) -> RuleResult:
    required = set(obs.required_skills)

    def count(_: list[Event]) -> tuple[int, str]:
        fell = [
            e
            for e in obs.of("hydrate", "skill")
            if e.fields.get("ok") is not True and e.fields.get("skill") in required
        ]
        by = Counter(str(e.fields.get("skill")) for e in fell)
        detail = f"{len(fell)} required skill fallback(s) today"
        return len(fell), detail + (f" ({_breakdown(by)})" if by else "")

    threshold = int(policy.get("skill_fallbacks_max"))
    return _count_rule("skill_fallbacks", obs, threshold, "warning", count)


def rule_data_quality_rejections(policy: Policy, obs: Observations) -> RuleResult:
    def count(_: list[Event]) -> tuple[int, str]:
        rejected = obs.of("hydrate", "data_quality")
        codes = Counter(str(e.fields.get("code") or "?") for e in rejected)
        detail = f"{len(rejected)} bar(s) or quote(s) rejected today (hydrate.data_quality)"
        return len(rejected), detail + (f" ({_breakdown(codes)})" if codes else "")

    threshold = int(policy.get("data_quality_rejections_max"))
    return _count_rule("data_quality_rejections", obs, threshold, "warning", count)


def rule_invalid_events(policy: Policy, obs: Observations) -> RuleResult:
    name, threshold = "invalid_events", int(policy.get("invalid_events_max"))
    if obs.invalid_events is None:
        return _result(name, None, threshold, ">", "count", "warning", obs.unavailable)
    detail = f"{obs.invalid_events} recorded event(s) break event.v1 (tradekernel events validate)"
    return _result(name, obs.invalid_events, threshold, ">", "count", "warning", detail)


# -- the account ----------------------------------------------------------------------


def _equity_change(obs: Observations) -> tuple[Decimal, Decimal, str] | None:
    """``(first, last, what)`` of the day's ``report.cycle`` equity, else of realized +
    unrealized P&L; None when neither was recorded."""
    cycles = obs.of("report", "cycle")
    equity = [v for e in cycles if (v := decimal_or_none(e.fields.get("equity"))) is not None]
    if equity:
        return equity[0], equity[-1], "equity"
    pnl = []
    for e in cycles:
        realized, unrealized = (
            decimal_or_none(e.fields.get(k)) for k in ("realized_pnl", "unrealized_pnl")
        )
        if realized is not None or unrealized is not None:
            pnl.append((realized or Decimal(0)) + (unrealized or Decimal(0)))
    return (pnl[0], pnl[-1], "realized + unrealized P&L") if pnl else None


def rule_daily_loss(policy: Policy, obs: Observations) -> RuleResult:
    name, threshold = "daily_loss", float(policy.get("daily_loss_ratio"))
    if obs.events is None:
        return _result(name, None, threshold, ">", "ratio", "error", obs.unavailable)
    change = _equity_change(obs)
    if change is None or change[2] != "equity" or change[0] <= 0:
        detail = "no report.cycle equity recorded today"
        return _result(name, None, threshold, ">", "ratio", "error", detail)
    first, last, _ = change
    loss = round(float((first - last) / first), 6)
    detail = (
        f"equity {format_money(first)} at the day's first cycle, "
        f"{format_money(last)} at the last ({loss:.2%} loss)"
    )
    return _result(name, loss, threshold, ">", "ratio", "error", detail)


def rule_daily_loss_amount(policy: Policy, obs: Observations) -> RuleResult:
    name, threshold = "daily_loss_amount", float(policy.get("daily_loss_amount"))
    if obs.events is None:
        return _result(name, None, threshold, ">", "currency", "error", obs.unavailable)
    change = _equity_change(obs)
    if change is None:
        detail = "no report.cycle equity or P&L recorded today"
        return _result(name, None, threshold, ">", "currency", "error", detail)
    first, last, what = change
    loss = float(first - last)
    detail = (
        f"{what} {format_money(first)} at the day's first cycle, {format_money(last)} at the last"
    )
    return _result(name, loss, threshold, ">", "currency", "error", detail)


def rule_broker_failovers(policy: Policy, obs: Observations) -> RuleResult:
    def count(_: list[Event]) -> tuple[int, str]:
        moved = [e for e in obs.of("routing") if e.kind in ("failover", "held")]
        by = Counter(
            f"{e.kind}:{'intent' if e.fields.get('intent_id') else e.fields.get('primary')}"
            for e in moved
        )
        detail = f"{len(moved)} routing failover/held event(s) today"
        return len(moved), detail + (f" ({_breakdown(by)})" if by else "")

    threshold = int(policy.get("broker_failovers_max"))
    return _count_rule("broker_failovers", obs, threshold, "error", count)


RULES: dict[str, tuple[Callable[[Policy, Observations], RuleResult], str]] = {
    "strategist_success_rate": (rule_strategist_success_rate, "strategist_success_rate_min"),
    "strategist_latency_p95": (rule_strategist_latency_p95, "strategist_latency_p95_ms"),
    "breaker_open": (rule_breaker_open, "breaker_open"),
    "stuck_intents": (rule_stuck_intents, "stuck_after"),
    "guard_denials": (rule_guard_denials, "guard_denials_max"),
    "notify_failures": (rule_notify_failures, "notify_failures_max"),
    "daily_loss": (rule_daily_loss, "daily_loss_ratio"),
    "daily_loss_amount": (rule_daily_loss_amount, "daily_loss_amount"),
    "skill_fallbacks": (rule_skill_fallbacks, "skill_fallbacks_max"),
    "invalid_events": (rule_invalid_events, "invalid_events_max"),
    "data_quality_rejections": (rule_data_quality_rejections, "data_quality_rejections_max"),
    "broker_failovers": (rule_broker_failovers, "broker_failovers_max"),
}
"""Rule name -> (evaluation, the threshold key that switches it on), in ALERT_RULES order."""
assert tuple(RULES) == ALERT_RULES


def active_rules(policy: Policy) -> list[str]:
    """The rules the policy evaluates: not disabled, threshold set (and not false)."""
    return [
        name
        for name, (_, key) in RULES.items()
        if policy.enabled(name) and policy.get(key) is not None and policy.get(key) is not False
    ]


def evaluate(policy: Policy, obs: Observations) -> list[RuleResult]:
    """Every active rule's result, in rule order."""
    return [RULES[name][0](policy, obs) for name in active_rules(policy)]
