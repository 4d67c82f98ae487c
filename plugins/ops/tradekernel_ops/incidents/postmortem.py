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
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


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
    lines.append(f"- **Escalation steps sent:** {len(item.steps)}")
    if item.reduced is not None:
        lines.append(f"- **Trading moved to reducing:** {item.reduced.isoformat()}")
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
