"""``incidents postmortem ID``: a markdown postmortem skeleton from an incident's timeline."""

from __future__ import annotations

import re

from tradekernel.api import inert

from .store import Incident

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#!|~])")


def md(text: object) -> str:
    """Recorded text made inert and escaped for markdown (no links, HTML or headings)."""
    return _MARKDOWN.sub(r"\\\1", inert(str(text)).replace("\n", " "))


def _duration(seconds: float) -> str:
    """A duration; a negative one (the wall clock stepped back) is shown as 0 and named."""
    if seconds < 0:
        return "0m 00s, clock skew: the wall clock stepped back"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


_STEP_STATUS = {"sent": "sent", "failed": "failed", "claimed": "claimed, never delivered"}
_TRADING = {
    "reducing": "moved to reducing",
    "reducing already": "already reducing, left as it was",
    "halted already": "halted, left as it was",
}


def _steps(item: Incident) -> list[str]:
    sent = sum(1 for s in item.steps if s["status"] == "sent")
    lines = [f"- **Escalation steps sent:** {sent} of {len(item.steps)} attempted"]
    for step in item.steps:
        status = _STEP_STATUS.get(step["status"], md(step["status"]))
        lines.append(
            f"  - step {step['step']} ({md(step['notifier'])}): {status}, {md(step['ts'])}"
        )
    return lines


def _trading(item: Incident) -> list[str]:
    if item.reduce_outcome is not None:
        what = _TRADING.get(item.reduce_outcome, md(item.reduce_outcome))
        at = f" at {item.reduced.isoformat()}" if item.reduced is not None else ""
        return [f"- **Trading:** {what}{at}"]
    if item.reduced is not None:
        return ["- **Trading:** the move to reducing was under way, not finished"]
    if any(entry["what"] == "trading" for entry in item.timeline):
        return ["- **Trading:** the move to reducing failed (see the timeline), not done"]
    return []


def postmortem(item: Incident) -> str:
    """The skeleton: summary facts filled from the record, the timeline as a table, and
    the sections a human writes (impact, root cause, what went well, actions)."""
    lines = [
        f"# Postmortem: incident {item.id}",
        "",
        f"- **What opened it:** {md(item.key)}",
        f"- **Title:** {md(item.title)}",
        f"- **Severity:** {item.severity}",
        f"- **Opened:** {item.opened.isoformat()}",
    ]
    if item.acknowledged is not None:
        lines.append(
            f"- **Acknowledged:** {item.acknowledged.isoformat()} by "
            f"{md(item.acknowledged_by or '')} (after "
            f"{_duration((item.acknowledged - item.opened).total_seconds())})"
        )
    else:
        lines.append("- **Acknowledged:** not acknowledged")
    if item.resolved is not None:
        lines.append(
            f"- **Resolved:** {item.resolved.isoformat()} by {md(item.resolved_by or '')} "
            f"(open {_duration((item.resolved - item.opened).total_seconds())})"
        )
    else:
        lines.append("- **Resolved:** still open")
    lines.append(f"- **Alert events:** {item.events}")
    lines += _steps(item)
    lines += _trading(item)
    lines += ["", "## Timeline (UTC)", "", "| time | what | detail |", "|---|---|---|"]
    for entry in item.timeline:
        lines.append(f"| {md(entry['ts'])} | {md(entry['what'])} | {md(entry['detail'])} |")
    lines += [
        "",
        "## Impact",
        "",
        "_Orders, positions and money affected; how long trading was degraded._",
        "",
        "## Root cause",
        "",
        "_What failed, and why the guards, alerts and playbooks let it happen._",
        "",
        "## Detection and response",
        "",
        "_Was the alert timely? Did the escalation reach someone? What slowed the response?_",
        "",
        "## What went well",
        "",
        "## Action items",
        "",
        "| action | owner | due |",
        "|---|---|---|",
        "|  |  |  |",
        "",
    ]
    return "\n".join(lines)
