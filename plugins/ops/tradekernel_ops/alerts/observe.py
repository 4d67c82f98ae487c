"""What the alert rules look at: the recorded events of one UTC day, plus (for today) the
state store's current control state and executing intents, and the notification log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from attrs import define, field
from loguru import logger
from tradekernel.api import (
    ConfigError,
    Event,
    NotFoundError,
    Settings,
    event_log_source,
    iter_records,
    read_events,
    validate_event,
)


@define
class Observations:
    """Inputs of one policy evaluation. ``None`` means "not available" (the rule reports
    ``no_data`` with ``unavailable`` as the reason)."""

    day: date
    now: datetime
    events: list[Event] | None
    """The day's events in time order; None when no event log is recorded."""
    source: str | None = None
    unavailable: str = ""
    """Why ``events`` is None."""
    current: bool = True
    """Whether ``day`` is today: store state (breaker, executing intents) is current."""
    controls: dict[str, Any] | None = None
    executing: list[tuple[str, datetime | None]] | None = None
    """``(intent id, executing_since)`` of every intent in ``executing``."""
    notify_failed: int | None = None
    """Failed deliveries of the day in the notification log (None: no log)."""
    invalid_events: int | None = None
    store_unavailable: str = ""
    """Why the store's state (controls, executing intents, the notification log) could
    not be read (the server down): those inputs are None, the event rules still run."""
    required_skills: list[str] = field(factory=list)

    def of(self, stage: str, kind: str | None = None) -> list[Event]:
        """The day's events of ``stage`` (and ``kind``), in time order."""
        return [
            e for e in self.events or [] if e.stage == stage and (kind is None or e.kind == kind)
        ]


def collect(
    settings: Settings, day: date, now: datetime, *, validate: bool = False
) -> Observations:
    """Read everything the rules need for ``day`` (``validate``: also count the records
    that break ``event.v1``, which reads the day's log a second time)."""
    obs = Observations(
        day=day,
        now=now,
        events=None,
        current=day == now.astimezone(UTC).date(),
        required_skills=list(settings.components.required_skills),
    )
    start = datetime.combine(day, time(0), tzinfo=UTC)
    try:
        obs.source = event_log_source(settings)
    except ConfigError as exc:
        obs.unavailable = str(exc)
    else:
        events = read_events(settings, date=day, source=obs.source)
        end = start + timedelta(days=1)
        obs.events = sorted((e for e in events if start <= e.ts < end), key=lambda e: e.ts)
        if validate:
            obs.invalid_events = sum(
                1
                for r in iter_records(settings, date=day, source=obs.source)
                if r.data is None or validate_event(r.data)
            )
    _read_store(settings, obs)
    return obs


def _read_store(settings: Settings, obs: Observations) -> None:
    from tradekernel.api import Tables, open_store
    from tradekernel_notify.store import NotifyStore

    try:
        store = open_store(settings, create=False)
    except NotFoundError:
        return
    except ConfigError:
        raise  # a lost, foreign or newer state, a refused connection: reported as such
    except Exception as exc:  # the server down: the event rules must still be evaluated
        obs.store_unavailable = f"the store is unavailable: {exc}"
        logger.warning("alerts: {}; evaluating the event rules only", obs.store_unavailable)
        return
    with store:
        if obs.current:
            obs.controls = store.controls()
            obs.executing = [
                (r.id, r.executing_since) for r in store.list_intents(state="executing")
            ]
        # the delivery log lives in the store's database (tradekernel_notify.store)
        log = NotifyStore(Tables(store.conn, store.dialect), create=False)
        obs.notify_failed = log.counts(day=obs.day).get("failed", 0)
