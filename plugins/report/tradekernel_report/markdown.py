"""Render a ``report.v1`` dict as a readable Markdown report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradekernel.api import format_money, format_quantity, inert

from .compliance_render import section_markdown
from .html import LLM_COST_PLACES


def _v(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _cell(value: Any) -> str:
    """A table cell: inert (outside text such as a reason cannot add lines or escape
    sequences, see ``tradekernel.display``) with its pipes escaped for Markdown."""
    return inert(_v(value)).replace("|", "\\|")


def _money(value: Any) -> str:
    """Account money to the cent for reading (the JSON form keeps every digit)."""
    return format_money(value)


def _usd(value: Any) -> str:
    """An LLM cost in USD, to :data:`~tradekernel_report.html.LLM_COST_PLACES` places."""
    return format_money(value, LLM_COST_PLACES)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _lat(summary: Mapping[str, Any]) -> str:
    if not summary.get("count"):
        return "-"
    return (
        f"p50 {_v(summary['p50'])} ms · p95 {_v(summary['p95'])} ms · max {_v(summary['max'])} ms"
    )


def _dist(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {_v(v)}" for k, v in counts.items()) or "-"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _kv(pairs: list[tuple[str, Any]]) -> list[str]:
    return _table(["metric", "value"], [[k, v] for k, v in pairs])


def _section(title: str, pairs: list[tuple[str, Any]]) -> list[str]:
    return [title, "", *_kv(pairs)]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The whole report as Markdown (one ``#`` title, a ``##`` per section)."""
    r = report
    out = [f"# tradekernel daily report — {r['date']}", ""]
    out.append(
        f"Window {r['window']['start']} → {r['window']['end']} (UTC) · source `{r['source']}` · "
        f"{r['events']['total']} events from {r['events']['runs']} run(s) · schema `{r['schema']}`"
    )
    out.append("")
    if r.get("note"):
        out += [f"> **Note:** {inert(r['note'])}", ""]
    out += _account(r["account"]) + _strategies(r["strategies"])
    out += _llm(r["strategist_llm"], r["budget"])
    out += _strategist(r["strategist"]) + _skills(r["skills"])
    out += _data_quality(r["data_quality"])
    out += _intents(r["intents"]) + _orders(r["orders"]) + _resilience(r["resilience"])
    out += _notifications(r["notifications"])
    out += _slo(r.get("slo"))
    out += section_markdown(r["compliance"])
    return "\n".join(out).rstrip() + "\n"


def _account(a: Mapping[str, Any]) -> list[str]:
    return _section(
        "## Account and P&L",
        [
            ("cycles reported", a["cycles"]),
            ("mode", a["mode"]),
            ("equity", _money(a["equity"])),
            ("cash", _money(a["cash"])),
            ("exposure (equity - cash)", _money(a["exposure"])),
            ("realized P&L", _money(a["realized_pnl"])),
            ("unrealized P&L", _money(a["unrealized_pnl"])),
            ("equity at first cycle", _money(a["start_equity"])),
            ("equity change", _money(a["equity_change"])),
            ("equity min / max", f"{_money(a['equity_min'])} / {_money(a['equity_max'])}"),
        ],
    )


def _strategies(section: Mapping[str, Any]) -> list[str]:
    rows = section["strategies"]
    if not rows:
        return []
    out = [
        "## Strategies",
        "",
        "| strategy | state | budget | P&L | realized | unrealized | commissions | gross "
        "exposure | fills | budget denials |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in rows:
        cells = [
            s["strategy"],
            s.get("state") or "active",
            _money(s.get("budget")),
            _money(s.get("pnl")),
            _money(s.get("realized_pnl")),
            _money(s.get("unrealized_pnl")),
            _money(s.get("commissions")),
            _money(s.get("gross_exposure")),
            s.get("fills", 0),
            _dist(s.get("budget_denials") or {}),
        ]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if (p := section.get("portfolio")) is not None:
        cells = ["**portfolio**", "", "", _money(p["pnl"]), _money(p["realized_pnl"])]
        cells += [_money(p["unrealized_pnl"]), _money(p["commissions"])]
        cells += [_money(p["gross_exposure"]), "", ""]
        out.append("| " + " | ".join(c if c.startswith("**") else _cell(c) for c in cells) + " |")
    return [*out, ""]


def _llm(s: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    if not s["calls"] and not b.get("exhausted"):
        return ["## Strategist LLM", "", "No LLM calls this day.", ""]
    t = s["tokens"]
    return _section(
        "## Strategist LLM",
        [
            ("calls", s["calls"]),
            ("ok / failed", f"{s['ok']} / {s['failed']}"),
            ("success rate", _pct(s["success_rate"])),
            ("latency", _lat(s["latency_ms"])),
            ("attempts", _dist(s["attempts"])),
            ("error types", _dist(s["error_types"])),
            ("fallback reasons", _dist(s["fallback_reasons"])),
            ("prompt versions", _dist(s["prompt_version_total"])),
            ("schema versions", _dist(s["schema_version_total"])),
            ("models", _dist(s["models"])),
            (
                "tokens (prompt + completion = total)",
                f"{t['prompt']} + {t['completion']} = {t['total']}",
            ),
            ("estimated cost (USD)", _usd(s["estimated_cost_usd"])),
            ("reported cost (USD)", _usd(s["reported_cost_usd"])),
            ("cache hits", s["cache_hits"]),
            ("budget exhausted", f"{b['exhausted']} ({_dist(b['by_scope'])})"),
        ],
    )


def _strategist(s: Mapping[str, Any]) -> list[str]:
    return _section(
        "## Strategist decisions",
        [
            ("decisions", s["decisions"]),
            ("by strategist", _dist(s["by_strategist"])),
            ("with intents / holds", f"{s['with_intents']} / {s['holds']}"),
            ("holds by reason", _dist(s["holds_by_reason"])),
            ("error types", _dist(s["error_types"])),
            ("intents proposed", s["intents"]),
            (
                "dropped intents",
                f"{s['dropped_intents']['total']} ({_dist(s['dropped_intents']['by_reason'])})",
            ),
            ("latency", _lat(s["latency_ms"])),
        ],
    )


def _data_quality(q: Mapping[str, Any]) -> list[str]:
    return _section(
        "## Data quality",
        [
            ("bars and quotes rejected", q["rejections"]),
            ("by code", _dist(q["by_code"])),
            ("by symbol", _dist(q["by_symbol"])),
            (
                "intents below the broker's minimum",
                f"{q['below_minimum']['total']} ({_dist(q['below_minimum']['by_reason'])})",
            ),
        ],
    )


def _skills(s: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            name,
            k["calls"],
            k["ok"],
            k["fallbacks"],
            _dist(k["fallback_reasons"]),
            _lat(k["latency_ms"]),
        ]
        for name, k in s["by_skill"].items()
    ]
    header = ["skill", "calls", "ok", "fallbacks", "fallback reasons", "latency"]
    return ["## Skill hydration", "", *_table(header, rows)]


def _intents(i: Mapping[str, Any]) -> list[str]:
    a, d = i["approvals"], i["denials"]
    out = ["## Intents", "", f"{i['total']} intents seen.", ""]
    out += _table(["final state", "intents"], [[k, v] for k, v in i["by_final_state"].items()])
    out += _section(
        "### Approvals",
        [
            ("manual approvals", a["manual"]),
            ("auto approvals", a["auto"]),
            ("parked for approval", a["pending"]),
            ("rejected / expired", f"{a['rejected']} / {a['expired']}"),
            ("by actor", _dist(a["by_actor"])),
            ("approvals below a quorum", a["recorded"]),
            ("approved by a quorum", a["quorum_approved"]),
            ("approvals by approver", _dist(a["approvers"])),
            ("time to approve", _lat(a["time_to_approve_ms"])),
        ],
    )
    out += ["### Guard denials", "", f"{d['total']} denials.", ""]
    out += _table(["reason code", "denials"], [[k, v] for k, v in d["by_code"].items()])
    return out


def _orders(o: Mapping[str, Any]) -> list[str]:
    f = o["fills"]
    out = _section(
        "## Orders and fills",
        [
            (
                "submitted",
                o["submitted"]
                if len(by := o.get("submitted_by_broker", {})) < 2
                else f"{o['submitted']} ({_dist(by)})",
            ),
            ("failed", f"{o['failed']} ({_dist(o['failed_by_reason'])})"),
            (
                "unknown outcome / claim conflicts / reconciled",
                f"{o['unknown_outcome']} / {o['claim_conflicts']} / {o['reconciled']}",
            ),
            ("conflicts (critical)", _dist(o.get("conflicts_by_code", {}))),
            ("proposals abandoned by a crash", o.get("abandoned_proposals", 0)),
            ("cycles with execution skipped", o["skipped_cycles"]),
            ("orders by last status", _dist(o["by_status"])),
            ("fills", f"{f['count']} ({_dist(f['by_side'])})"),
            ("filled quantity", format_quantity(f["quantity"])),
            ("filled notional", _money(f["notional"])),
            ("commission", _money(f["commission"])),
        ],
    )
    rows = [
        [s, r["count"], format_quantity(r["quantity"]), _money(r["notional"])]
        for s, r in f["by_symbol"].items()
    ]
    return out + _table(["symbol", "fills", "quantity", "notional"], rows)


def _routing(g: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The broker failover line, when any routing decision was made."""
    if not g["decisions"] and not g["unhealthy_by_broker"]:
        return []
    return [
        (
            "broker failovers / failbacks / held intents",
            f"{g['failovers']} / {g['failbacks']} / {g['held_intents']}"
            + (
                f" (unhealthy: {_dist(g['unhealthy_by_broker'])})"
                if g["unhealthy_by_broker"]
                else ""
            ),
        )
    ]


def _resilience(r: Mapping[str, Any]) -> list[str]:
    b, d = r["breaker"], r["degrade"]
    out = _section(
        "## Resilience",
        [
            (
                "breaker opened / half-open / closed",
                f"{b['opened']} / {b['half_open']} / {b['closed']}",
            ),
            (
                "breaker time open",
                f"{b['time_open_ms']} ms" + (" (open at end)" if b["open_at_end"] else ""),
            ),
            (
                "degrade periods",
                f"{len(d['periods'])}, {d['time_ms']} ms"
                + (" (degraded at end)" if d["degraded_at_end"] else ""),
            ),
            ("cooldowns", r["cooldowns"]["count"]),
            ("incidents", r["incidents"]["count"]),
            ("operator interventions", r["interventions"]["count"]),
            (
                "node retries",
                f"{r['node_retries']['count']} ({_dist(r['node_retries']['by_node'])})",
            ),
            (
                "node cancels",
                f"{r['node_cancels']['count']} "
                f"({r['node_cancels']['intents_cancelled']} intents cancelled)",
            ),
            ("cycles waiting on cooldown", r["cooldown_waits"]),
            ("cycles skipped while paused", r["paused_cycles"]),
            *_routing(r["routing"]),
        ],
    )
    rows = [
        [p["start"], p["end"], p["duration_ms"], p["ended_by"], p["reason"]] for p in b["periods"]
    ]
    out += ["### Breaker periods", ""]
    out += _table(["opened", "ended", "ms", "ended by", "reason"], rows)
    rows = [
        [p["start"], p["end"], p["duration_ms"], p["ended_by"], p["reason"]] for p in d["periods"]
    ]
    out += ["### Degrade periods", ""]
    out += _table(["entered", "ended", "ms", "ended by", "reason"], rows)
    heal, adaptive = r.get("self_healing"), r.get("adaptive_limits")
    if heal and heal["count"]:
        rows = [
            [h["ts"], h["playbook"], h["kind"], h["action"], h["reason"]] for h in heal["items"]
        ]
        out += ["### Self-healing", ""]
        out += _table(["time", "playbook", "kind", "action", "reason"], rows)
    if adaptive and adaptive["count"]:
        rows = [
            [a["ts"], a["symbol"], a["ceiling"], a["limit"], a["volatility"], a["drawdown"]]
            for a in adaptive["items"]
        ]
        out += ["### Adaptive limits", ""]
        out += _table(["time", "symbol", "ceiling", "limit", "volatility", "drawdown"], rows)
    rows = [
        [e["ts"], e["kind"], e["actor"], e["value"], e["reason"]]
        for e in r["interventions"]["items"]
    ]
    out += ["### Operator interventions", ""]
    return out + _table(["time", "action", "actor", "value", "reason"], rows)


def _notifications(n: Mapping[str, Any]) -> list[str]:
    rows = [
        [name, c["sent"], c["failed"], c["dedup_suppressed"], c["rate_limited"]]
        for name, c in n["by_notifier"].items()
    ]
    out = ["## Notifications", ""]
    out.append(
        f"sent {n['sent']} · failed {n['failed']} · dedup suppressed {n['dedup_suppressed']} · "
        f"rate limited {n['rate_limited']}"
        + (
            f" · critical over the rate limit {n['rate_limit_bypassed']}"
            if n.get("rate_limit_bypassed")
            else ""
        )
    )
    out.append("")
    return out + _table(["notifier", "sent", "failed", "dedup suppressed", "rate limited"], rows)


def _slo(s: Mapping[str, Any] | None) -> list[str]:
    from .slo import HEADER, rows

    if not s or not s["objectives"]:
        return []
    out = ["## SLOs", "", *_table(HEADER, rows(s))]
    alerts = [[a["ts"], a["objective"], a["kind"], a["alert"], a["burn_rate"]] for a in s["alerts"]]
    return out + _table(["time", "objective", "event", "alert", "burn rate"], alerts)
