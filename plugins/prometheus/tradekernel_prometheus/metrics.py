"""The Prometheus metrics built from ``event.v1`` events, and the event -> metric mapping.

Every metric lives in a private :class:`CollectorRegistry` per sink instance, so several
sinks (or tests) never collide. Names follow Prometheus conventions: ``_total`` for
counters, base units (seconds, USD) in the name. See docs/events.md for the list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from tradekernel.api import Event

NS = "tradekernel"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
NOT_STATES = frozenset({"recorded"})
"""Approval and executor event kinds that change no intent's state (``approval.recorded``:
one approval of a quorum, the intent stays pending): not counted in ``intents_total``."""
BREAKER_STATES = {"breaker_closed": 0, "breaker_half_open": 1, "breaker_opened": 2}


def _number(value: Any) -> float | None:
    """A float from an int, float or decimal string; None for anything else."""
    kind = type(value)
    if kind is float:  # the common case, without the text round trip
        return value if value == value else None
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return None
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None
    return result if result == result else None  # NaN is not a number here


LABEL_MAX_CHARS = 128
"""A label value longer than this is cut (an event's text is outside input)."""
LABEL_MAX_VALUES = 100
"""At most this many values of one label (``node``, ``broker``, ...) across the families
that share it; the ones after are counted under :data:`OTHER`. Events carry names from
the graph, brokers' answers and plugins: a runaway or hostile source must not mint
series without end."""
OTHER = "_other"


def _label(value: Any, default: str = "") -> str:
    """``value`` as a label value: text with every character that is not printable
    written as its Python escape (a lone surrogate would make the whole exposition
    unencodable, a terminal escape would reach whoever reads it), at most
    :data:`LABEL_MAX_CHARS` characters. The text format's own escaping (``\\``, ``"``,
    newline) is prometheus_client's."""
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if type(value) is str else str(value)
    if len(text) <= LABEL_MAX_CHARS and text.isprintable():
        return text
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text[:LABEL_MAX_CHARS]


def _count(value: Any) -> float | None:
    """A finite amount above zero to add to a counter, else None."""
    number = _number(value)
    return number if number is not None and 0 < number < math.inf else None


def _level(value: Any) -> float | None:
    """A finite amount of zero or more (a count, a duration), else None."""
    number = _number(value)
    return number if number is not None and 0 <= number < math.inf else None


def _seconds(ms: Any) -> float | None:
    """Seconds from a ``*_ms`` field (:func:`_level`), else None."""
    number = _level(ms)
    return None if number is None else number / 1000


class BoundedLabels:
    """Label values with at most :data:`LABEL_MAX_VALUES` values per label name: a value
    seen before is itself, a new one past the limit is :data:`OTHER`."""

    def __init__(self, limit: int = LABEL_MAX_VALUES) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}

    def __call__(self, name: str, value: Any, default: str = "") -> str:
        text = _label(value, default)
        seen = self._seen.get(name)
        if seen is None:
            seen = self._seen[name] = set()
        if text in seen:
            return text
        if len(seen) >= self.limit:
            return OTHER
        seen.add(text)
        return text


SLO_WINDOWS = ("5m", "30m", "1h", "6h")
"""The ``burn_rates`` windows of ``slo.status`` (a label value from anything else would
let a recorded event mint labels)."""


class EventMetrics:
    """The metric families of one sink, and :meth:`observe` to update them from an event."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            f"{NS}_events_total", "Events emitted.", ["stage", "kind", "severity"], registry=r
        )
        self.llm_requests = Counter(
            f"{NS}_strategist_llm_requests_total",
            "LLM strategist requests, by provider, model and outcome.",
            ["provider", "model", "ok"],
            registry=r,
        )
        self.llm_latency = Histogram(
            f"{NS}_strategist_llm_latency_seconds",
            "LLM strategist request latency (all attempts).",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            f"{NS}_strategist_llm_tokens_total",
            "LLM tokens used, by type (prompt, completion).",
            ["type"],
            registry=r,
        )
        self.llm_cost = Counter(
            f"{NS}_strategist_llm_cost_usd_total", "Estimated LLM cost in USD.", registry=r
        )
        self.strategist_decisions = Counter(
            f"{NS}_strategist_decisions_total",
            "Strategist decisions, by strategist and outcome (intents or hold).",
            ["strategist", "outcome"],
            registry=r,
        )
        self.intents = Counter(
            f"{NS}_intents_total",
            "Intent state changes seen in approval and executor events, by state.",
            ["state"],
            registry=r,
        )
        self.orders = Counter(
            f"{NS}_orders_total", "Order status updates, by status.", ["status"], registry=r
        )
        self.fills = Counter(f"{NS}_fills_total", "Fills received.", registry=r)
        self.guard_denials = Counter(
            f"{NS}_guard_denials_total",
            "Guard denials, by guard and code.",
            ["guard", "code"],
            registry=r,
        )
        self.breaker = Gauge(
            f"{NS}_breaker_state",
            "Circuit breaker state: 0 closed, 1 half open, 2 open.",
            ["breaker"],
            registry=r,
        )
        self.degraded = Gauge(f"{NS}_degraded", "1 while the runtime is degraded.", registry=r)
        self.paused = Gauge(f"{NS}_trading_paused", "1 while trading is paused.", registry=r)
        self.kill_switch = Counter(f"{NS}_kill_switch_total", "Kill switch events.", registry=r)
        self.resilience = Counter(
            f"{NS}_resilience_events_total", "Resilience events, by kind.", ["kind"], registry=r
        )
        self.notifications = Counter(
            f"{NS}_notifications_total",
            "Notification outcomes, by notifier and status.",
            ["notifier", "status"],
            registry=r,
        )
        self.cycles = Counter(f"{NS}_cycles_total", "Runtime cycles reported.", registry=r)
        self.equity = Gauge(
            f"{NS}_account_equity", "Account equity at the last cycle report.", registry=r
        )
        self.skill_latency = Histogram(
            f"{NS}_skill_latency_seconds",
            "Skill call latency during hydration.",
            ["skill"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.skill_calls = Counter(
            f"{NS}_skill_calls_total",
            "Skill calls, by skill and outcome.",
            ["skill", "ok"],
            registry=r,
        )
        self.alerts = Counter(
            f"{NS}_alerts_total",
            "Alert rule transitions, by rule and kind.",
            ["rule", "kind"],
            registry=r,
        )
        self.budget_exhausted = Counter(
            f"{NS}_budget_exhausted_total", "Budget exhaustion, by scope.", ["scope"], registry=r
        )
        self.slo_budget = Gauge(
            f"{NS}_slo_budget_remaining",
            "Share of an SLO's error budget left over its window (negative: overspent).",
            ["objective"],
            registry=r,
        )
        self.slo_burn = Gauge(
            f"{NS}_slo_burn_rate",
            "An SLO's burn rate (bad share / error budget) over a window.",
            ["objective", "window"],
            registry=r,
        )
        self.node_over = Counter(
            f"{NS}_budget_node_over_total",
            "Graph nodes over their [budgets.nodes] latency budget, by node.",
            ["node"],
            registry=r,
        )
        self.node_seconds = Gauge(
            f"{NS}_budget_node_seconds",
            "A budgeted node's latest time (its attempts included).",
            ["node"],
            registry=r,
        )
        self.node_limit = Gauge(
            f"{NS}_budget_node_limit_seconds",
            "A node's [budgets.nodes] latency budget.",
            ["node"],
            registry=r,
        )
        self.broker_refused = Counter(
            f"{NS}_budget_broker_refused_total",
            "Broker calls refused by the broker's [budgets.brokers] request budget.",
            ["broker"],
            registry=r,
        )
        self.read_skipped = Counter(
            f"{NS}_budget_read_skipped_total",
            "Broker reads a node skipped because the request budget refused them.",
            ["broker", "node"],
            registry=r,
        )
        self.broker_used = Gauge(
            f"{NS}_budget_broker_requests_used",
            "Calls to a broker over the last minute, at the latest cycle's end.",
            ["broker"],
            registry=r,
        )
        self.broker_limit = Gauge(
            f"{NS}_budget_broker_requests_limit",
            "A broker's [budgets.brokers] request budget per minute.",
            ["broker"],
            registry=r,
        )
        self.prompt_trimmed = Counter(
            f"{NS}_budget_prompt_trimmed_total",
            "LLM prompts over [budgets] prompt_tokens, by outcome (trimmed, hold).",
            ["strategist", "outcome"],
            registry=r,
        )
        self._node_gauges: dict[tuple[Gauge, str], Any] = {}
        self.label = BoundedLabels()
        """Label values from event fields, escaped and bounded (:class:`BoundedLabels`)."""
        self._budget_kinds: dict[str, Callable[[Event, dict[str, Any]], None]] = {
            "exhausted": self._exhausted,
            "node_over": self._node_over,
            "nodes": self._nodes,
            "broker_refused": self._broker_refused,
            "read_skipped": self._read_skipped,
            "broker_usage": self._broker_usage,
            "prompt_trimmed": self._prompt_trimmed,
        }
        self._handlers: dict[str, Callable[[Event, dict[str, Any]], None]] = {
            "strategist_llm": self._strategist_llm,
            "strategist": self._strategist,
            "approval": self._intent_state,
            "executor": self._intent_state,
            "risk": self._risk,
            "monitor": self._monitor,
            "resilience": self._resilience,
            "control": self._control,
            "notify": self._notify,
            "report": self._report,
            "hydrate": self._hydrate,
            "alerts": self._alerts,
            "budget": self._budget,
            "slo": self._slo,
        }

    def observe(self, event: Event) -> None:
        """Update the metrics from one event."""
        self.events.labels(event.stage, event.kind, str(event.severity.value)).inc()
        handler = self._handlers.get(event.stage)
        if handler is not None:
            handler(event, event.fields)

    # -- per stage -------------------------------------------------------------------

    def _strategist_llm(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind != "decision":
            return
        label = self.label
        provider, model = label("provider", f.get("provider")), label("model", f.get("model"))
        self.llm_requests.labels(provider, model, _label(bool(f.get("ok")))).inc()
        latency = _number(f.get("latency_ms"))
        if latency is not None:
            self.llm_latency.labels(provider, model).observe(latency / 1000)
        for kind in ("prompt", "completion"):
            tokens = _number(f.get(f"{kind}_tokens"))
            if tokens and tokens > 0:
                self.llm_tokens.labels(kind).inc(tokens)
        cost = _number(f.get("estimated_cost_usd"))
        if cost and cost > 0:
            self.llm_cost.inc(cost)

    def _strategist(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind == "decision":
            intents = _number(f.get("intents")) or 0
            outcome = "error" if f.get("error_type") else ("intents" if intents > 0 else "hold")
            self.strategist_decisions.labels(
                self.label("strategist", f.get("strategist")), outcome
            ).inc()

    def _intent_state(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind in NOT_STATES:
            return
        self.intents.labels(event.kind).inc()

    def _risk(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind == "verdict" and f.get("allow") is False:
            guard, code = self.label("guard", f.get("guard")), self.label("code", f.get("code"))
            self.guard_denials.labels(guard, code).inc()

    def _monitor(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind == "order_status":
            self.orders.labels(self.label("status", f.get("status"), "unknown")).inc()
        elif event.kind == "fill":
            self.fills.inc()

    def _resilience(self, event: Event, f: dict[str, Any]) -> None:
        self.resilience.labels(event.kind).inc()
        if event.kind in BREAKER_STATES:
            name = f.get("breaker") or f.get("node") or f.get("name") or "runtime"
            self.breaker.labels(self.label("breaker", name)).set(BREAKER_STATES[event.kind])
        elif event.kind == "degrade_entered":
            self.degraded.set(1)
        elif event.kind == "degrade_exited":
            self.degraded.set(0)

    def _control(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind == "paused":
            self.paused.set(1)
        elif event.kind == "resumed":
            self.paused.set(0)
        elif event.kind == "kill_switch":
            self.kill_switch.inc()

    def _notify(self, event: Event, f: dict[str, Any]) -> None:
        self.notifications.labels(self.label("notifier", f.get("notifier")), event.kind).inc()

    def _report(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind == "cycle":
            self.cycles.inc()
            equity = _number(f.get("equity"))
            if equity is not None:
                self.equity.set(equity)

    def _hydrate(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind != "skill":
            return
        skill = self.label("skill", f.get("skill"))
        self.skill_calls.labels(skill, _label(bool(f.get("ok")))).inc()
        latency = _number(f.get("latency_ms"))
        if latency is not None:
            self.skill_latency.labels(skill).observe(latency / 1000)

    def _alerts(self, event: Event, f: dict[str, Any]) -> None:
        self.alerts.labels(self.label("rule", f.get("rule")), event.kind).inc()

    def _budget(self, event: Event, f: dict[str, Any]) -> None:
        handler = self._budget_kinds.get(event.kind)
        if handler is not None:
            handler(event, f)

    def _exhausted(self, event: Event, f: dict[str, Any]) -> None:
        self.budget_exhausted.labels(self.label("scope", f.get("scope"))).inc()

    def _node_over(self, event: Event, f: dict[str, Any]) -> None:
        node = self.label("node", f.get("node"))
        self.node_over.labels(node).inc()
        self._node_time(node, f.get("elapsed_ms"), f.get("budget_ms"))

    def _nodes(self, event: Event, f: dict[str, Any]) -> None:
        times, limits = f.get("elapsed_ms"), f.get("budget_ms")
        if not isinstance(times, dict):
            return
        limits = limits if isinstance(limits, dict) else {}
        for node, elapsed in times.items():
            self._node_time(self.label("node", node), elapsed, limits.get(node))

    def _node_time(self, node: str, elapsed_ms: Any, budget_ms: Any) -> None:
        for gauge, value in ((self.node_seconds, elapsed_ms), (self.node_limit, budget_ms)):
            seconds = _seconds(value)
            if seconds is None:
                continue
            # labels() costs three times set(), and a cycle sets two per node: the
            # children are kept (bounded, as node labels are)
            child = self._node_gauges.get((gauge, node))
            if child is None:
                child = self._node_gauges[(gauge, node)] = gauge.labels(node)
            child.set(seconds)

    def _broker_refused(self, event: Event, f: dict[str, Any]) -> None:
        # one event a minute at most: ``refused`` counts the calls since the last one
        calls = _count(f.get("refused")) or 1
        self.broker_refused.labels(self.label("broker", f.get("broker"))).inc(calls)

    def _read_skipped(self, event: Event, f: dict[str, Any]) -> None:
        broker, node = self.label("broker", f.get("broker")), self.label("node", f.get("node"))
        self.read_skipped.labels(broker, node).inc()

    def _broker_usage(self, event: Event, f: dict[str, Any]) -> None:
        broker = self.label("broker", f.get("broker"))
        used, limit = _level(f.get("used")), _level(f.get("limit"))
        if used is not None:
            self.broker_used.labels(broker).set(used)
        if limit is not None:
            self.broker_limit.labels(broker).set(limit)

    def _prompt_trimmed(self, event: Event, f: dict[str, Any]) -> None:
        # warning: a hold (fits false, or every candidate dropped); info: trimmed and sent
        held = f.get("fits") is False or str(event.severity.value) != "info"
        strategist = self.label("strategist", f.get("strategist"))
        self.prompt_trimmed.labels(strategist, "hold" if held else "trimmed").inc()

    def _slo(self, event: Event, f: dict[str, Any]) -> None:
        if event.kind != "status":
            return
        objective = self.label("objective", f.get("objective"))
        remaining = _number(f.get("budget_remaining"))
        if remaining is not None:
            self.slo_budget.labels(objective).set(remaining)
        rates = f.get("burn_rates")
        for window in SLO_WINDOWS:
            rate = _number(rates.get(window)) if isinstance(rates, dict) else None
            if rate is not None:
                self.slo_burn.labels(objective, window).set(rate)
