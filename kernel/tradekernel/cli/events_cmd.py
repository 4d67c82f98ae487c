"""``tradekernel events``: list recorded events and check them against ``event.v1``."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

import click

from ..display import inert
from .context import AppContext, echo_json, json_option, pass_app

SUMMARY_WIDTH = 200
_DATE = click.DateTime(formats=["%Y-%m-%d"])
_SOURCE = click.Choice(["jsonl", "sqlite"])


@click.group()
def events() -> None:
    """Query and validate the recorded event log (event.v1)."""


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value else None


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _latency(value: Any) -> str:
    return (
        f"{value:.0f}ms"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else "?ms"
    )


def _llm_summary(f: dict[str, Any]) -> str:
    parts = [f"{f.get('provider', '?')}/{f.get('model', '?')}", "ok" if f.get("ok") else "FAILED"]
    parts.append(_latency(f.get("latency_ms")))
    prompt, completion = f.get("prompt_tokens"), f.get("completion_tokens")
    if prompt is not None or completion is not None:
        parts.append(f"tokens={prompt or 0}+{completion or 0}")
    # what the provider charged (OpenRouter usage.cost) wins over the configured-price estimate
    cost = f.get("reported_cost_usd")
    if cost is None:
        cost = f.get("estimated_cost_usd")
    if cost is not None:
        parts.append(f"cost=${cost}")
    for key in ("attempts", "error_type", "fallback_reason", "cache_hit"):
        if f.get(key) not in (None, "", False):
            parts.append(f"{key}={_fmt(f[key])}")
    return " ".join(parts)


def _commander_summary(f: dict[str, Any]) -> str:
    head = [str(f["node"])] if f.get("node") else []
    if f.get("next"):
        head.append(f"→ {f['next']}")
    if f.get("action"):
        head.append(str(f["action"]))
    rest = {k: v for k, v in f.items() if k not in ("node", "next", "action")}
    return " ".join([*head, *_pairs(rest)])


def _pairs(fields: dict[str, Any]) -> list[str]:
    return [f"{k}={_fmt(v)}" for k, v in fields.items() if v not in (None, "")]


def summary(event: Any) -> str:
    """One line: time, stage.kind, severity and the event's key fields, made inert
    (:func:`tradekernel.display.inert`) before it is cut to ``SUMMARY_WIDTH``."""
    f = event.fields
    if event.stage == "strategist_llm" and event.kind == "decision":
        detail = _llm_summary(f)
    elif event.stage == "commander":
        detail = _commander_summary(f)
    else:
        detail = " ".join(_pairs(f))
    line = (
        f"{event.ts:%Y-%m-%d %H:%M:%S} {event.stage}.{event.kind} {event.severity.value} {detail}"
    )
    line = inert(line.rstrip())
    return line if len(line) <= SUMMARY_WIDTH else line[: SUMMARY_WIDTH - 1] + "…"


@events.command("query")
@click.option("--stage", help="Only this stage.")
@click.option("--kind", help="Only this kind.")
@click.option("--date", "day", type=_DATE, help="Only this UTC day (YYYY-MM-DD).")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Show the most recent N matching events (0: all).",
)
@click.option(
    "--source", type=_SOURCE, help="Read this sink's log (default: sqlite if enabled, else jsonl)."
)
@json_option
@pass_app
def query(
    app: AppContext,
    stage: str | None,
    kind: str | None,
    day: datetime | None,
    limit: int,
    source: str | None,
    as_json: bool,
) -> None:
    """List recorded events, oldest first, one line each."""
    from ..eventlog import event_record, read_events

    found = read_events(app.settings(), date=_day(day), stage=stage, kind=kind, source=source)
    selected = list(deque(found, maxlen=limit or None))
    if as_json:
        echo_json([event_record(e) for e in selected])
        return
    for event in selected:
        click.echo(summary(event))
    if not selected:
        click.echo("no events", err=True)


@events.command("validate")
@click.option("--date", "day", type=_DATE, help="Only this UTC day (YYYY-MM-DD).")
@click.option(
    "--source", type=_SOURCE, help="Check this sink's log (default: sqlite if enabled, else jsonl)."
)
@json_option
@pass_app
def validate(app: AppContext, day: datetime | None, source: str | None, as_json: bool) -> None:
    """Check recorded events against event.v1: exit 0 when all are valid, else 4 naming
    the first bad one (file:line or table rowid)."""
    from ..errors import GateFailed
    from ..event_schema import validate_event
    from ..eventlog import iter_records, source_for

    settings = app.settings()
    source = source or source_for(settings)
    checked = 0
    invalid: list[dict[str, Any]] = []
    for record in iter_records(settings, date=_day(day), source=source):
        checked += 1
        problems = [record.error] if record.data is None else validate_event(record.data)
        if problems:
            invalid.append({"location": record.location, "problems": problems})
    scope = f"{source}" + (f", {_day(day)}" if day else "")
    if as_json:
        echo_json(
            {
                "ok": not invalid,
                "source": source,
                "date": _day(day),
                "checked": checked,
                "invalid": len(invalid),
                "invalid_events": invalid[:50],
            }
        )
    if invalid:
        first = invalid[0]
        if not as_json:
            click.echo(f"{checked} events checked ({scope}): {len(invalid)} invalid")
        raise GateFailed(f"{first['location']}: {'; '.join(first['problems'])}")
    if not as_json:
        click.echo(f"ok: {checked} events valid ({scope})")
