"""Render a ``report.v1`` dict as a self-contained HTML dashboard.

Everything is inline (CSS, SVG charts, one small script); a Content-Security-Policy
forbids any network access at view time. Each chart is a ``<figure class="chart">`` with
an ``id`` and a title; ``data-state`` is ``rendered`` or ``empty``. The script at the end
checks each chart once the page is laid out and writes its verdict into the DOM
(``data-render`` on the figure and one ``<li>`` per chart in ``#render-check``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from itertools import pairwise
from typing import Any

from tradekernel.api import format_money, format_quantity, inert

from . import svg
from .svg import PALETTE, Series

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

CHARTS: tuple[tuple[str, str], ...] = (
    ("chart-equity", "Equity over the day"),
    ("chart-pnl", "Realized and unrealized P&L"),
    ("chart-llm-latency", "Strategist LLM latency per hour (ms)"),
    ("chart-llm-success", "Strategist LLM calls per hour: ok and failed"),
    ("chart-llm-tokens", "Strategist LLM tokens per hour"),
    ("chart-llm-cost", "Strategist LLM estimated cost per hour (USD)"),
    ("chart-intents", "Intents by final state"),
    ("chart-denials", "Guard denials by reason code"),
)
"""Every chart of the dashboard: (element id, title), in page order."""

LLM_COST_PLACES = 4
"""Places of an LLM cost in USD: one call costs fractions of a cent, so the cent would
read ``0.00``; account money is shown to the cent."""

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 color:#0f172a;background:#f1f5f9}
header{background:#0f172a;color:#f8fafc;padding:16px 24px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#cbd5e1;font-size:13px}
main{padding:16px 24px;max-width:1400px;margin:0 auto}
.note{background:#fef3c7;border:1px solid #f59e0b;border-radius:6px;padding:10px 14px;
 margin:0 0 16px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin-bottom:16px}
.kpi{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.kpi .label{font-size:12px;color:#64748b}.kpi .value{font-size:18px;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
figure.chart{margin:0;background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px #0001}
figure.chart h3{margin:0 0 6px;font-size:15px}
section.tables{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px;margin-top:16px}
.panel{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px #0001;overflow-x:auto}
.panel h2{margin:0 0 8px;font-size:15px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e2e8f0;vertical-align:top}
th{color:#475569;font-weight:600}
#render-check{display:none}
"""

CHECK_JS = """
(function () {
  var list = document.getElementById('render-check');
  document.querySelectorAll('figure.chart').forEach(function (fig) {
    var svgEl = fig.querySelector('svg'), status = 'broken';
    if (svgEl && fig.getAttribute('data-state') === 'empty') {
      status = svgEl.querySelector('.no-data') ? 'empty' : 'broken';
    } else if (svgEl) {
      var marks = svgEl.querySelectorAll('.series'), drawn = 0;
      marks.forEach(function (m) {
        var box = m.getBBox();
        if (box.width > 0 || box.height > 0) { drawn += 1; }
      });
      status = marks.length > 0 && drawn === marks.length ? 'rendered' : 'broken';
    }
    fig.setAttribute('data-render', status);
    var item = document.createElement('li');
    item.textContent = fig.id + ':' + status;
    list.appendChild(item);
  });
  document.body.setAttribute('data-charts-checked', String(list.children.length));
})();
"""


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _figure(chart_id: str, title: str, body: str) -> str:
    state = "empty" if 'class="no-data"' in body else "rendered"
    return (
        f'<figure class="chart" id="{chart_id}" data-state="{state}">'
        f"<h3>{escape(title)}</h3>{body}</figure>"
    )


AXIS_CAPTIONS = {
    "market": "market time (UTC)",
    "cycle": "cycle",
    "wall": "wall-clock time (UTC)",
}
"""The x-axis caption of the equity and P&L charts for each clock :func:`curve_clock`
chooses."""


def _instant(value: Any) -> datetime | None:
    try:
        ts = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=UTC)


def curve_clock(curve: Sequence[Mapping[str, Any]]) -> tuple[str, list[datetime] | None]:
    """The x-axis of the equity and P&L charts: ``("market", as_of times)`` when every
    point carries the cycle's market time and it never goes back (a replay or a demo runs
    hundreds of market days in seconds of wall clock, which would draw a vertical line);
    ``("cycle", None)`` (the cycle index) when market times are recorded but cannot order
    the points (a replay restarted, or a clock that did not move); ``("wall", ts times)``
    for events without a market time."""
    market = [_instant(p.get("as_of")) for p in curve]
    if any(m is not None for m in market):
        present = [m for m in market if m is not None]
        ordered = all(a <= b for a, b in pairwise(present))
        if (
            len(present) == len(market)
            and ordered
            and (len(present) == 1 or present[0] < present[-1])
        ):
            return "market", present
        return "cycle", None
    return "wall", [datetime.fromisoformat(p["ts"]) for p in curve]


def charts(report: Mapping[str, Any]) -> dict[str, str]:
    """chart id -> its SVG, for every chart in :data:`CHARTS`."""
    titles = dict(CHARTS)
    curve = report["account"]["equity_curve"]
    clock, times = curve_clock(curve)

    def over_time(title: str, series: list[Series]) -> str:
        if times is None:
            return svg.index_line_chart(title, series, "account currency", AXIS_CAPTIONS[clock])
        return svg.time_line_chart(title, times, series, "account currency", AXIS_CAPTIONS[clock])

    hourly = report["strategist_llm"]["hourly"]

    def col(key: str) -> list[float | None]:
        return [_num(h[key]) for h in hourly]

    intents = report["intents"]["by_final_state"]
    denials = report["intents"]["denials"]["by_code"]
    return {
        "chart-equity": over_time(
            titles["chart-equity"], [Series("equity", [_num(p["equity"]) for p in curve])]
        ),
        "chart-pnl": over_time(
            titles["chart-pnl"],
            [
                Series("realized", [_num(p["realized_pnl"]) for p in curve], PALETTE[2]),
                Series("unrealized", [_num(p["unrealized_pnl"]) for p in curve], PALETTE[3]),
            ],
        ),
        "chart-llm-latency": svg.hourly_chart(
            titles["chart-llm-latency"],
            [
                Series("p50", col("latency_p50_ms")),
                Series("p95", col("latency_p95_ms"), PALETTE[1]),
            ],
            "ms",
            kind="line",
        ),
        "chart-llm-success": svg.hourly_chart(
            titles["chart-llm-success"],
            [
                Series("ok", col("ok"), PALETTE[2]),
                Series(
                    "failed",
                    [c - o for c, o in zip(col("calls"), col("ok"), strict=True)],
                    PALETTE[1],
                ),
            ],
            "calls",
            stacked=True,
        ),
        "chart-llm-tokens": svg.hourly_chart(
            titles["chart-llm-tokens"], [Series("tokens", col("tokens"), PALETTE[4])], "tokens"
        ),
        "chart-llm-cost": svg.hourly_chart(
            titles["chart-llm-cost"],
            [Series("estimated USD", col("estimated_cost_usd"), PALETTE[3])],
            "USD",
        ),
        "chart-intents": svg.hbar_chart(
            titles["chart-intents"], [(k, float(v)) for k, v in intents.items()], PALETTE[0]
        ),
        "chart-denials": svg.hbar_chart(
            titles["chart-denials"], [(k, float(v)) for k, v in denials.items()], PALETTE[1]
        ),
    }


def _kpis(r: Mapping[str, Any]) -> list[tuple[str, Any]]:
    llm, acct = r["strategist_llm"], r["account"]
    rate = llm["success_rate"]
    return [
        ("Equity", format_money(acct["equity"])),
        ("Realized P&L", format_money(acct["realized_pnl"])),
        ("Unrealized P&L", format_money(acct["unrealized_pnl"])),
        ("Exposure", format_money(acct["exposure"])),
        ("Cycles", acct["cycles"]),
        ("LLM calls", llm["calls"]),
        ("LLM success", None if rate is None else f"{rate * 100:.1f}%"),
        ("LLM p95 latency", _ms(llm["latency_ms"]["p95"])),
        ("Tokens", llm["tokens"]["total"]),
        ("Est. cost (USD)", format_money(llm["estimated_cost_usd"], LLM_COST_PLACES)),
        ("Intents", r["intents"]["total"]),
        ("Guard denials", r["intents"]["denials"]["total"]),
        ("Data rejections", r["data_quality"]["rejections"]),
        ("Orders submitted", r["orders"]["submitted"]),
        ("Fills", r["orders"]["fills"]["count"]),
        ("Breaker time open", _duration(r["resilience"]["breaker"]["time_open_ms"])),
        ("Degraded for", _duration(r["resilience"]["degrade"]["time_ms"])),
        ("Notifications sent", r["notifications"]["sent"]),
    ]


def _ms(value: Any) -> str | None:
    return None if value is None else f"{value:g} ms"


def _duration(ms: float) -> str:
    seconds = round(ms / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def _cell(value: Any) -> str:
    """A table cell: inert (``tradekernel.display``: a bidi override or control character
    in outside text is shown escaped), then HTML-escaped."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return escape(inert(", ".join(f"{k}: {v}" for k, v in value.items()) or "-"))
    return escape(inert(value))


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        body = '<p class="empty">none</p>'
    else:
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "<table><tr>" + head + "</tr>"
        body += "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
        body += "</table>"
    return f'<div class="panel"><h2>{escape(title)}</h2>{body}</div>'


def _lat(s: Mapping[str, Any]) -> str:
    return "-" if not s["count"] else f"{s['p50']:g} / {s['p95']:g} / {s['max']:g}"


def _strategies(section: Mapping[str, Any]) -> str:
    rows = [
        [
            s["strategy"],
            s.get("state") or "active",
            format_money(s.get("budget")),
            format_money(s.get("pnl")),
            format_money(s.get("realized_pnl")),
            format_money(s.get("unrealized_pnl")),
            format_money(s.get("commissions")),
            format_money(s.get("gross_exposure")),
            s.get("budget_denials") or {},
        ]
        for s in section["strategies"]
    ]
    if rows and (p := section.get("portfolio")) is not None:
        rows.append(
            ["portfolio", "", None]
            + [format_money(p[k]) for k in ("pnl", "realized_pnl", "unrealized_pnl")]
            + [format_money(p["commissions"]), format_money(p["gross_exposure"]), {}]
        )
    header = ["strategy", "state", "budget", "P&L", "realized", "unrealized"]
    header += ["commissions", "gross exposure", "budget denials"]
    return _table("Strategies", header, rows)


def _slo(s: Mapping[str, Any] | None) -> list[str]:
    from .slo import HEADER, rows

    if not s or not s["objectives"]:
        return []
    alerts = [[a["ts"], a["objective"], a["kind"], a["alert"], a["burn_rate"]] for a in s["alerts"]]
    return [
        _table("SLOs", HEADER, rows(s)),
        _table("SLO alerts", ["time", "objective", "event", "alert", "burn rate"], alerts),
    ]


def _tables(r: Mapping[str, Any]) -> str:
    llm, res = r["strategist_llm"], r["resilience"]
    out = [
        _strategies(r["strategies"]),
        _table(
            "Strategist LLM",
            ["metric", "value"],
            [
                ["calls / ok / failed", f"{llm['calls']} / {llm['ok']} / {llm['failed']}"],
                ["latency p50 / p95 / max (ms)", _lat(llm["latency_ms"])],
                ["attempts", llm["attempts"]],
                ["error types", llm["error_types"]],
                ["fallback reasons", llm["fallback_reasons"]],
                ["prompt versions", llm["prompt_version_total"]],
                ["schema versions", llm["schema_version_total"]],
                [
                    "tokens prompt / completion / total",
                    "{prompt} / {completion} / {total}".format(**llm["tokens"]),
                ],
                [
                    "estimated / reported cost (USD)",
                    f"{format_money(llm['estimated_cost_usd'], LLM_COST_PLACES)} / "
                    f"{format_money(llm['reported_cost_usd'], LLM_COST_PLACES)}",
                ],
                ["cache hits", llm["cache_hits"]],
                [
                    "budget exhausted",
                    f"{r['budget']['exhausted']} {_cell(r['budget']['by_scope'])}",
                ],
            ],
        ),
        _table(
            "Skill hydration",
            ["skill", "calls", "ok", "fallbacks", "reasons", "p50 / p95 / max ms"],
            [
                [
                    n,
                    s["calls"],
                    s["ok"],
                    s["fallbacks"],
                    s["fallback_reasons"],
                    _lat(s["latency_ms"]),
                ]
                for n, s in r["skills"]["by_skill"].items()
            ],
        ),
        _table(
            "Strategist decisions",
            ["metric", "value"],
            [
                ["decisions", r["strategist"]["decisions"]],
                [
                    "with intents / holds",
                    f"{r['strategist']['with_intents']} / {r['strategist']['holds']}",
                ],
                ["holds by reason", r["strategist"]["holds_by_reason"]],
                [
                    "approvals manual / auto",
                    f"{r['intents']['approvals']['manual']} / {r['intents']['approvals']['auto']}",
                ],
                [
                    "time to approve p50 / p95 / max (ms)",
                    _lat(r["intents"]["approvals"]["time_to_approve_ms"]),
                ],
                ["orders by last status", r["orders"]["by_status"]],
                [
                    "fills quantity / notional / commission",
                    " / ".join(
                        (
                            format_quantity(r["orders"]["fills"]["quantity"]),
                            format_money(r["orders"]["fills"]["notional"]),
                            format_money(r["orders"]["fills"]["commission"]),
                        )
                    ),
                ],
            ],
        ),
        _table(
            "Resilience",
            ["metric", "value"],
            [
                [
                    "breaker opened / half-open / closed",
                    "{opened} / {half_open} / {closed}".format(**res["breaker"]),
                ],
                ["breaker time open (ms)", res["breaker"]["time_open_ms"]],
                [
                    "degrade periods / time (ms)",
                    f"{len(res['degrade']['periods'])} / {res['degrade']['time_ms']}",
                ],
                ["cooldowns", res["cooldowns"]["count"]],
                ["incidents", res["incidents"]["count"]],
                ["node retries", res["node_retries"]["by_node"]],
                ["node cancels", res["node_cancels"]["count"]],
            ],
        ),
        _table(
            "Operator interventions",
            ["time", "action", "actor", "value", "reason"],
            [
                [e["ts"], e["kind"], e["actor"], e["value"], e["reason"]]
                for e in res["interventions"]["items"]
            ],
        ),
        _table(
            "Notifications",
            ["notifier", "sent", "failed", "dedup suppressed", "rate limited"],
            [
                [n, c["sent"], c["failed"], c["dedup_suppressed"], c["rate_limited"]]
                for n, c in r["notifications"]["by_notifier"].items()
            ],
        ),
        *_slo(r.get("slo")),
        *_compliance(r["compliance"]),
    ]
    return '<section class="tables">' + "".join(out) + "</section>"


def _compliance(c: Mapping[str, Any]) -> list[str]:
    """The compliance section: intents with their policy version, deciding rule and
    approvers; overrides; policy changes (docs/reports.md, "compliance")."""
    decided = [i["decided_by"] or {} for i in c["intents"]]
    return [
        _table(
            "Compliance: intents",
            ["intent", "state", "policy version", "decided by rule", "approvals", "approvers"],
            [
                [
                    i["intent_id"],
                    i["state"],
                    i["policy_version"],
                    d.get("rule") or d.get("code"),
                    f"{len(i['approvals'])} of {i['approvals_required']}"
                    if i["approvals_required"]
                    else len(i["approvals"]),
                    ", ".join(i["approvers"]),
                ]
                for i, d in zip(c["intents"], decided, strict=True)
            ],
        ),
        _table(
            "Compliance: overrides",
            ["time", "control", "to", "actor", "reason"],
            [[o["ts"], o["key"], o["to"], o["actor"], o["reason"]] for o in c["overrides"]],
        ),
        _table(
            "Compliance: policy changes",
            ["time", "guard", "version", "signer", "source", "detail"],
            [
                [
                    p["ts"],
                    p["guard"],
                    p["version"] or p["label"],
                    p["signer"],
                    p["source"],
                    p["detail"],
                ]
                for p in c["policy_changes"]
            ],
        ),
    ]


def render_html(report: Mapping[str, Any]) -> str:
    """The dashboard page for ``report`` (one self-contained HTML document)."""
    r = report
    title = f"tradekernel daily report — {r['date']}"
    rendered = charts(r)
    figures = "".join(_figure(cid, t, rendered[cid]) for cid, t in CHARTS)
    kpis = "".join(
        f'<div class="kpi"><div class="label">{escape(k)}</div>'
        f'<div class="value">{_cell(v)}</div></div>'
        for k, v in _kpis(r)
    )
    note = f'<p class="note">{escape(r["note"])}</p>' if r.get("note") else ""
    meta = (
        f"window {r['window']['start']} → {r['window']['end']} · source {r['source']} · "
        f"{r['events']['total']} events · {r['events']['runs']} run(s) · {r['schema']}"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f'<body data-report-schema="{escape(r["schema"])}" data-date="{escape(r["date"])}">'
        f"<header><h1>{escape(title)}</h1><p>{escape(meta)}</p></header>"
        f'<main>{note}<section class="kpis">{kpis}</section>'
        f'<section class="charts">{figures}</section>{_tables(r)}'
        '<ul id="render-check"></ul></main>'
        f"<script>{CHECK_JS}</script></body></html>\n"
    )
