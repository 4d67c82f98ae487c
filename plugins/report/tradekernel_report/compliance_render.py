"""Render the compliance report (``compliance.v1``) or the daily report's ``compliance``
section as plain text or Markdown. Every value from outside (actors, reasons, rules,
symbols) is made inert (``tradekernel.display``): it cannot add lines or escape
sequences; secrets were masked when the report was built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradekernel.api import inert


def _v(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "-" if value is None or value == "" else inert(str(value))


def _approvals(i: Mapping[str, Any]) -> str:
    """``1 of 2 (alice)`` for an intent with a quorum, ``1 (alice)`` without one."""
    need = i["approvals_required"]
    who = ", ".join(_v(a) for a in i["approvers"]) or "none"
    return f"{len(i['approvals'])}{f' of {need}' if need else ''} ({who})"


def _decision(i: Mapping[str, Any]) -> str:
    d = i["decided_by"]
    if d is None:
        return "all guards allowed"
    mark = "allow" if d["allow"] else "deny"
    rule = f" rule {_v(d['rule'])}" if d["rule"] else ""
    return f"{_v(d['guard'])} {mark} {_v(d['code'])}{rule}"


def _amount(i: Mapping[str, Any]) -> str:
    if i["quantity"] is not None:
        return f"qty {_v(i['quantity'])}"
    if i["notional"] is not None:
        return f"notional {_v(i['notional'])}"
    return "unsized"


def _journal(j: Mapping[str, Any] | None) -> str:
    if j is None:
        return "not verified (no state)"
    if j["ok"]:
        return f"verified ({j['rows_checked']} rows)"
    return f"FAILED verification: {_v(j['problem'])}"


def _change(c: Mapping[str, Any]) -> str:
    if c["source"] != "journal":  # a load that failed: the old policy was kept
        return (
            f"{_v(c['ts'])} guard {_v(c['guard'])}: {_v(c['file'])} did not load, "
            f"kept {_v(c['label'])} ({_v(c['source'])}){_reason(c['detail'])}"
        )
    sha = (c["sha256"] or "")[:16] or "-"
    return (
        f"{_v(c['ts'])} guard {_v(c['guard'])}: {_v(c['name'])} version {_v(c['version'])} "
        f"sha256 {_v(sha)} signed by {_v(c['signer'])} ({_v(c['file'])}){_reason(c['detail'])}"
    )


def _reason(text: Any) -> str:
    return f": {_v(text)}" if text else ""


def render_text(report: Mapping[str, Any]) -> str:
    """The compliance report as plain text, one line per intent, override and change."""
    r = report
    out = [
        f"compliance report {r['date']} (window {r['window']['start']} -> {r['window']['end']} "
        f"UTC, schema {r['schema']})"
    ]
    if r.get("note"):
        out.append(f"note: {_v(r['note'])}")
    out += section_text(r)
    return "\n".join(out) + "\n"


def section_text(s: Mapping[str, Any]) -> list[str]:
    """The compliance sections as text lines."""
    out = [f"journal: {_journal(s['journal'])}", f"intents: {len(s['intents'])}"]
    for i in s["intents"]:
        out.append(
            f"  {_v(i['intent_id'])}  {_v(i['state'])}  {_v(i['side'])} {_v(i['symbol'])} "
            f"{_amount(i)}  policy {_v(i['policy_version'])}  decided by {_decision(i)}  "
            f"approvals {_approvals(i)}"
        )
        if i["rejected_by"]:
            rb = i["rejected_by"]
            out.append(
                f"    rejected by {_v(rb['actor'])} at {_v(rb['ts'])}{_reason(rb['reason'])}"
            )
    out.append(f"overrides: {len(s['overrides'])}")
    for o in s["overrides"]:
        out.append(
            f"  {_v(o['ts'])}  {_v(o['key'])}: {_v(o['from'])} -> {_v(o['to'])}  by "
            f"{_v(o['actor'])}{_reason(o['reason'])}"
        )
    out.append(f"policy changes: {len(s['policy_changes'])}")
    out += [f"  {_change(c)}" for c in s["policy_changes"]]
    return out


def _cell(value: Any) -> str:
    return _v(value).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def section_markdown(s: Mapping[str, Any], level: str = "##") -> list[str]:
    """The compliance sections as Markdown lines (headings at ``level``)."""
    out = [f"{level} Compliance", "", f"Journal: {_journal(s['journal'])}.", ""]
    out += [f"{level}# Intents", ""]
    out += _table(
        ["intent", "state", "order", "policy version", "decided by", "approvals", "rejected by"],
        [
            [
                i["intent_id"],
                i["state"],
                f"{i['side']} {i['symbol']} {_amount(i)}",
                i["policy_version"],
                _decision(i),
                _approvals(i),
                (i["rejected_by"] or {}).get("actor"),
            ]
            for i in s["intents"]
        ],
    )
    out += [f"{level}# Overrides", ""]
    out += _table(
        ["time", "control", "from", "to", "actor", "reason"],
        [[o["ts"], o["key"], o["from"], o["to"], o["actor"], o["reason"]] for o in s["overrides"]],
    )
    out += [f"{level}# Policy changes", ""]
    out += _table(
        ["time", "guard", "policy", "version", "sha256", "signer", "file", "source", "detail"],
        [
            [
                c["ts"],
                c["guard"],
                c["name"],
                c["version"] or c["label"],
                c["sha256"],
                c["signer"],
                c["file"],
                c["source"],
                c["detail"],
            ]
            for c in s["policy_changes"]
        ],
    )
    return out


def render_markdown(report: Mapping[str, Any]) -> str:
    """The compliance report as Markdown."""
    r = report
    out = [f"# tradekernel compliance report — {r['date']}", ""]
    out += [
        f"Window {r['window']['start']} → {r['window']['end']} (UTC) · schema `{r['schema']}`",
        "",
    ]
    if r.get("note"):
        out += [f"> **Note:** {_v(r['note'])}", ""]
    out += section_markdown(r)
    return "\n".join(out).rstrip() + "\n"
