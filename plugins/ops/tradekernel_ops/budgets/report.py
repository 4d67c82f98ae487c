"""``budget report``: the tuning report over the last N days, streamed over the recorded
events (memory bounded whatever N: histograms, per-version sums, and the decision
cache's replay keeping only the prompts still inside the longest TTL tried).

* cost per decision and per trade (orders sent, ``executor.submitted``), tokens by
  prompt version, the decision cache's hit rate as it ran;
* latency by node (p50/p95/p99, from the ``commander`` events: ``[runtime] trace =
  "full"``), each within 2% (log-spaced buckets);
* the recommendation the data supports: the recorded decisions (their ``prompt_digest``,
  the cache key) replayed against a cache of each TTL in :data:`TTLS`, the share of
  tokens and dollars it would have saved (only decisions that reached the provider, and
  actual cache hits, are replayed); with fewer than :data:`MIN_DECISIONS` digests, "not
  enough data".
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from tradekernel.api import read_events

from .status import decision_cost, provider_call
from .timer import NodeTimer

TTLS = (60.0, 300.0, 900.0, 3600.0)
"""Cache TTLs (seconds) the replay tries."""
MIN_DECISIONS = 20
"""Decisions with a prompt digest needed before the cache replay recommends anything."""
MIN_NODE_SAMPLES = 20
"""Timings of a node needed before a recommendation names it."""
WORTH = 0.05
"""The smallest saving (a share of tokens) worth recommending a cache for."""
PRUNE_EVERY = 1000
"""Decisions between two prunes of the replay's remembered prompts."""
GROWTH = 1.02
"""Ratio between histogram buckets (percentiles within 2%)."""
MAX_NODES = 200
"""Nodes the report times at most (a graph has about ten)."""


class Histogram:
    """Milliseconds in log-spaced buckets: bounded memory, percentiles within 2%."""

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0

    def add(self, ms: float) -> None:
        index = math.floor(math.log(max(ms, 0.001)) / math.log(GROWTH))
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1): the upper edge of its bucket, ``None`` when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return round(GROWTH ** (index + 1), 3)
        return None  # pragma: no cover - rank <= count


class CacheReplay:
    """A decision cache of each TTL replayed over the recorded decisions: a prompt seen
    again within the TTL of the call that filled it would have been a hit (as the
    strategist's cache: a hit does not refresh the entry; only a valid answer fills it)."""

    def __init__(self, ttls: tuple[float, ...] = TTLS) -> None:
        self.ttls = ttls
        self.filled: list[dict[str, datetime]] = [{} for _ in ttls]
        self.saved_tokens = [0.0] * len(ttls)
        self.saved_usd = [0.0] * len(ttls)
        self.hits = [0] * len(ttls)
        self.decisions = 0
        self.tokens = 0.0
        self.usd = 0.0
        self._known: dict[str, tuple[float, float | None]] = {}

    def observe(
        self,
        ts: datetime,
        digest: str,
        ok: bool,
        cost: tuple[float, float | None],
        *,
        hit: bool = False,
    ) -> None:
        """One recorded decision of prompt ``digest`` that reached the provider and cost
        ``(tokens, usd)``, or an actual cache ``hit`` (it cost nothing: its prompt's last
        known cost is used instead). Holds decided before asking are not replayed."""
        tokens, usd = cost
        if hit and digest in self._known:
            tokens, usd = self._known[digest]
        elif tokens > 0:
            self._known[digest] = (tokens, usd)
        self.decisions += 1
        self.tokens += tokens
        self.usd += usd or 0.0
        for i, ttl in enumerate(self.ttls):
            filled = self.filled[i]
            at = filled.get(digest)
            if at is not None and (ts - at).total_seconds() <= ttl:
                self.hits[i] += 1
                self.saved_tokens[i] += tokens
                self.saved_usd[i] += usd or 0.0
            elif ok:
                filled[digest] = ts
        if self.decisions % PRUNE_EVERY == 0:
            self.prune(ts)

    def prune(self, now: datetime) -> None:
        """Forget the prompts no TTL can hit any more (and costs not seen within the
        longest TTL)."""
        for i, ttl in enumerate(self.ttls):
            horizon = now - timedelta(seconds=ttl)
            self.filled[i] = {d: at for d, at in self.filled[i].items() if at >= horizon}
        alive = set().union(*self.filled)
        self._known = {d: c for d, c in self._known.items() if d in alive}

    def rows(self) -> list[dict[str, Any]]:
        """Per TTL: hits and the shares of tokens and dollars they would have saved."""
        return [
            {
                "ttl_s": ttl,
                "hits": self.hits[i],
                "saved_tokens": round(self.saved_tokens[i]),
                "saved_tokens_pct": _pct(self.saved_tokens[i], self.tokens),
                "saved_usd_pct": _pct(self.saved_usd[i], self.usd),
            }
            for i, ttl in enumerate(self.ttls)
        ]


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 2) if whole > 0 else None


def _ratio(value: float, count: int, digits: int = 6) -> float | None:
    return round(value / count, digits) if count else None


def tuning_report(settings: Any, now: datetime, days: int) -> dict[str, Any]:
    """The tuning report over the ``days`` days before ``now`` (see the module)."""
    since = now - timedelta(days=days)
    histograms: dict[str, Histogram] = {}

    def timed(node: str, seconds: float) -> None:
        histogram = histograms.get(node)
        if histogram is None:
            if len(histograms) >= MAX_NODES:  # a hostile log naming endless nodes
                return
            histogram = histograms[node] = Histogram()
        histogram.add(seconds * 1000)

    timer = NodeTimer({}, timed)
    replay = CacheReplay()
    decisions = calls = cache_hits = trades = 0
    tokens = 0.0
    usd = 0.0
    priced = False
    versions: dict[str, dict[str, Any]] = {}
    for event in read_events(settings, since=since, until=now + timedelta(seconds=1)):
        stage, kind = event.stage, event.kind
        if stage == "commander":
            timer.observe(event)
            continue
        fields = event.fields if isinstance(event.fields, dict) else {}
        if stage == "executor" and kind == "submitted":
            trades += 1
        elif stage == "strategist_llm" and kind == "decision":
            decisions += 1
            cost = decision_cost(fields)
            tokens += cost[0]
            if cost[1] is not None:
                usd += cost[1]
                priced = True
            hit = fields.get("cache_hit") is True
            reached = provider_call(fields, cost)
            cache_hits += hit
            calls += reached
            version = fields.get("prompt_version")
            version = version if isinstance(version, str) and len(versions) < 100 else "other"
            row = versions.setdefault(
                version, {"prompt_version": version, "decisions": 0, "tokens": 0}
            )
            row["decisions"] += 1
            row["tokens"] += int(cost[0])
            digest = fields.get("prompt_digest")
            if isinstance(digest, str) and digest and (hit or reached):
                replay.observe(event.ts, digest, fields.get("ok") is True, cost, hit=hit)
    for row in versions.values():
        row["tokens_per_decision"] = _ratio(row["tokens"], row["decisions"], 1)
    nodes = [
        {
            "node": node,
            "samples": h.count,
            "p50_ms": h.percentile(0.50),
            "p95_ms": h.percentile(0.95),
            "p99_ms": h.percentile(0.99),
            "budget_ms": _budget_ms(settings, node),
        }
        for node, h in sorted(histograms.items())
    ]
    cache = {
        "configured_ttl_s": _configured_ttl(settings),
        "hit_rate": _ratio(cache_hits, decisions, 4),
        "replayed": replay.decisions,
        "ttls": replay.rows(),
    }
    return {
        "now": now.isoformat(),
        "since": since.isoformat(),
        "days": days,
        "decisions": decisions,
        "calls": calls,
        "trades": trades,
        "tokens": round(tokens),
        "usd": round(usd, 6) if priced else None,
        "cost_per_decision_usd": _ratio(usd, decisions) if priced else None,
        "cost_per_trade_usd": _ratio(usd, trades) if priced else None,
        "tokens_per_decision": _ratio(tokens, decisions, 1),
        "tokens_per_trade": _ratio(tokens, trades, 1),
        "prompt_versions": sorted(versions.values(), key=lambda r: r["prompt_version"]),
        "cache": cache,
        "nodes": nodes,
        "recommendations": _recommend(replay, cache, nodes),
    }


def _budget_ms(settings: Any, node: str) -> float | None:
    limit = settings.budgets.nodes.get(node)
    return None if limit is None else round(float(limit) * 1000, 3)


def _configured_ttl(settings: Any) -> float | None:
    for name, table in settings.component_sections.get("strategist", {}).items():
        if isinstance(table, dict) and table.get("use", name) == "llm":
            value = table.get("cache_ttl")
            if value is None:
                return 0.0
            try:
                from tradekernel.api import Duration

                return float(Duration.parse(value))
            except ValueError:
                return None
    return None


def _ttl_text(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds / 60:g}m"


def _recommend(
    replay: CacheReplay, cache: dict[str, Any], nodes: list[dict[str, Any]]
) -> list[str]:
    out: list[str] = []
    if replay.decisions < MIN_DECISIONS:
        out.append(
            f"decision cache: not enough data ({replay.decisions} decisions with a prompt "
            f"digest; {MIN_DECISIONS} needed)"
        )
    else:
        best = max(cache["ttls"], key=lambda r: (r["saved_tokens_pct"] or 0, -r["ttl_s"]))
        saved = best["saved_tokens_pct"] or 0.0
        if saved < WORTH * 100:
            out.append(
                f"decision cache: would save under {WORTH:.0%} of tokens at any TTL up to "
                f"{_ttl_text(max(replay.ttls))} ({replay.decisions} decisions replayed)"
            )
        else:
            usd = best["saved_usd_pct"]
            money = f", {usd:g}% of the cost" if usd is not None else ""
            current = cache["configured_ttl_s"]
            now = f" (cache_ttl is {current:g}s now)" if current is not None else ""
            out.append(
                f"decision cache: would have saved {saved:g}% of tokens{money} at TTL "
                f"{_ttl_text(best['ttl_s'])}{now} ({replay.decisions} decisions replayed)"
            )
    for row in nodes:
        budget, p95 = row["budget_ms"], row["p95_ms"]
        if budget is None or p95 is None:
            continue
        if row["samples"] < MIN_NODE_SAMPLES:
            out.append(f"node {row['node']}: not enough data ({row['samples']} timings)")
        elif p95 > budget:
            out.append(
                f"node {row['node']}: p95 {p95:g} ms is over its budget {budget:g} ms: "
                f"raise the budget to about {row['p99_ms']:g} ms or make the node faster"
            )
    return out
