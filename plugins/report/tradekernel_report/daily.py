"""Build the ``report.v1`` daily report from the recorded events of one UTC day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tradekernel.api import Event, event_log_source, read_events, utcnow

from . import compliance as compliance_
from . import resilience, slo, strategies, strategy, trading
from .stats import counter, iso

REPORT_SCHEMA = "report.v1"


def day_window(day: date, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The report window of ``day``: its UTC midnight to the next one, cut at ``now`` when
    the day is not over yet (periods still open are counted up to the window's end)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    if now is not None:
        end = min(end, max(start, now.astimezone(UTC)))
    return start, end


def aggregate(
    events: Iterable[Event],
    day: date,
    *,
    now: datetime | None = None,
    source: str | None = None,
    ledger: dict[str, Any] | None = None,
    compliance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``report.v1`` dict for ``day`` from ``events`` (events of other days are
    ignored; the rest are ordered by time, ties keeping their recorded order) and, for
    the ``strategies`` section, ``ledger`` (:func:`.strategies.books`) when given; the
    ``compliance`` section (:func:`.compliance.section`) when given, else empty."""
    window = day_window(day, now)
    start, next_day = window[0], window[0] + timedelta(days=1)
    day_events = sorted((e for e in events if start <= e.ts < next_day), key=lambda e: e.ts)
    note = None if day_events else f"no events recorded for {day.isoformat()}"
    return {
        "schema": REPORT_SCHEMA,
        "date": day.isoformat(),
        "generated_at": iso(now or utcnow()),
        "window": {"start": iso(window[0]), "end": iso(window[1])},
        "source": source,
        "note": note,
        "events": {
            "total": len(day_events),
            "runs": len({e.run_id for e in day_events if e.run_id}),
            "by_stage": counter(e.stage for e in day_events),
        },
        "strategist_llm": strategy.strategist_llm(day_events),
        "budget": strategy.budget(day_events),
        "strategist": strategy.strategist(day_events),
        "skills": strategy.skills(day_events),
        "data_quality": strategy.data_quality(day_events),
        "resilience": resilience.resilience(day_events, window),
        "intents": trading.intents(day_events),
        "orders": trading.orders(day_events),
        "account": trading.account(day_events),
        "strategies": strategies.section(day_events, ledger),
        "notifications": strategy.notifications(day_events),
        "slo": slo.section(day_events),
        "compliance": compliance or compliance_.build([], lambda _id: None, day_events, window),
    }


def daily_report(
    kernel_or_settings: Any,
    day: date,
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Read the events of ``day`` from the enabled sink's log and aggregate them."""
    source = source or event_log_source(kernel_or_settings)
    events = read_events(kernel_or_settings, date=day, source=source)
    now = now or utcnow()
    settings = getattr(kernel_or_settings, "settings", kernel_or_settings)
    events = list(events)
    window = day_window(day, now)
    ledger = strategies.books(settings, window[1])
    compliance = compliance_.section(settings, window, events)
    return aggregate(events, day, now=now, source=source, ledger=ledger, compliance=compliance)
