"""The notification service: routing, noise control, timed delivery and the delivery log."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from loguru import logger
from tradekernel.api import ConfigError, DeliveryResult, Notification, Notifier, utcnow

from .render import digest
from .routing import SEVERITY_ORDER, Router, severity_rank
from .store import STATUSES, Claim, DeliveryRecord, NotifyStore

EVENT_KINDS = {
    "sent": "delivered",
    "failed": "failed",
    "dedup_suppressed": "dedup_suppressed",
    "rate_limited": "rate_limited",
}
"""Final record status -> ``notify.*`` event kind."""


class _Delivery:
    """One ``notifier.send`` running in its own daemon thread, so that a notifier that
    hangs can be abandoned (the thread is left to finish or die with the process)."""

    def __init__(self, name: str, notifier: Notifier, notification: Notification) -> None:
        self.result: DeliveryResult | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(notifier, notification), name=f"notify-{name}", daemon=True
        )
        self._thread.start()

    def _run(self, notifier: Notifier, notification: Notification) -> None:
        try:
            self.result = notifier.send(notification)
        except Exception as exc:  # the contract says "never raise"; a plugin may still
            self.error = f"notifier raised {type(exc).__name__}: {exc}"
        finally:
            self.finished = time.monotonic()
            self._done.set()

    def wait(self, seconds: float) -> bool:
        return self._done.wait(max(seconds, 0.0))


class Notifications:
    """Publish notifications to notifiers with dedup, rate limits, timeouts and a log.

    ``Notifications(kernel)`` uses the kernel's settings, its ``[components] notifiers``
    (built on first use) and emits ``notify.*`` events through the kernel.
    ``Notifications(settings, {"name": notifier, ...})`` uses the given notifiers (no
    events unless ``emit`` is passed). State lives in the store's database
    (:mod:`tradekernel_notify.store`): ``state_dir/state.db`` with the SQLite store, the
    server with the postgres store. A lost, foreign or newer state, or a server that
    refuses the connection, is refused here (a ``ConfigError``) unless ``refuse`` is
    false; a store that cannot be reached (a server down, a lock held too long) is not:
    deliveries go out without noise control, unlogged, until it answers again. The
    kernel's dispatcher passes ``refuse=False``: a state it cannot open must never
    silence an alert.
    """

    def __init__(
        self,
        source: Any,
        notifiers: Mapping[str, Notifier] | None = None,
        *,
        emit: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
        refuse: bool = True,
    ) -> None:
        if hasattr(source, "component") and hasattr(source, "settings"):  # a Kernel
            settings = source.settings
            selected = list(source.selected("notifier"))
            self._resolve: Callable[[str], Notifier] = lambda name: source.component(
                "notifier", name
            )
            self._emit = emit if emit is not None else source.emit
        else:
            settings = source
            given = dict(notifiers or {})
            selected = list(given)
            self._resolve = given.__getitem__
            self._emit = emit
        self.settings = settings
        self.config = settings.notify
        self.router = Router(self.config.routes, selected)
        self._redact: Callable[[str], str] = getattr(settings, "redact", lambda s: s)
        self.clock = clock
        # The claim and the log write run on the caller's (the cycle's) thread: a locked
        # database may hold them no longer than a small share of the delivery timeout.
        self._busy = max(0.5, min(10.0, float(settings.notify.timeout) / 4))
        self._store: NotifyStore | None = None
        try:
            self._open()
        except ConfigError as exc:
            if refuse:
                raise  # a lost, foreign or newer state, a bad [store] url: refused
            logger.error(
                "notify: the notification state is refused ({}); notifications are sent "
                "without noise control and are not logged until it can be opened",
                self._redact(str(exc)),
            )
        except Exception as exc:  # unreachable now: publish tries again
            logger.debug("notify: state unavailable for now: {}", self._redact(str(exc)))

    @property
    def store(self) -> NotifyStore:
        """The notification state (opened on first use; raises when it cannot be)."""
        return self._open()

    def _open(self) -> NotifyStore:
        if self._store is None:
            self._store = NotifyStore(self.settings, busy_timeout=self._busy)
            try:
                self._store.prune(now=self.clock(), older_than=float(self.config.dedup_window))
            except Exception as exc:
                logger.warning("notify: could not prune dedup claims: {}", self._redact(str(exc)))
        return self._store

    def close(self) -> None:
        """Close the connection to the notification state (opened again on next use)."""
        store, self._store = self._store, None
        if store is not None:
            store.close()

    # -- publishing ---------------------------------------------------------------------

    def publish(
        self,
        notification: Notification,
        *,
        notifiers: Iterable[str] | None = None,
        force: bool = False,
    ) -> list[DeliveryRecord]:
        """Deliver ``notification`` and return one record per notifier.

        Without ``notifiers`` the ``[notify] routes`` pick them by kind and severity
        (nothing when ``[notify] enabled = false``). ``force`` bypasses dedup and rate
        limits; the deliveries are logged all the same. Never raises for a delivery
        problem: failures, timeouts and suppressions are records. A ``critical``
        notification is sent even when the rate limit is used up (dedup still applies);
        its record says ``rate_limit_bypassed``."""
        if notifiers is None:
            if not self.config.enabled:
                return []
            names = self.router.route(notification.kind, notification.severity)
        else:
            names = list(dict.fromkeys(notifiers))
        if not names:
            return []
        key = notification.dedup_key or digest(
            notification.kind, notification.title, notification.body
        )
        now = self.clock()
        critical = severity_rank(notification.severity) >= SEVERITY_ORDER["critical"]
        store = self._reachable()
        records: list[DeliveryRecord] = []
        running: list[tuple[str, Claim, _Delivery]] = []
        for name in names:
            claim = self._claim(store, name, key, notification.kind, now, force, critical)
            if claim.status != "pending":
                records.append(
                    self._record(claim.record_id, now, name, notification, key, claim.status)
                )
                continue
            try:
                notifier = self._resolve(name)
            except Exception as exc:
                error = f"notifier unavailable: {type(exc).__name__}: {exc}"
                records.append(
                    self._finish(
                        claim,
                        now,
                        name,
                        notification,
                        key,
                        DeliveryResult(ok=False, status="failed", attempts=0, error=error),
                        0.0,
                    )
                )
                continue
            running.append((name, claim, _Delivery(name, notifier, notification)))
        deadline = time.monotonic() + float(self.config.timeout)
        for name, claim, delivery in running:
            if delivery.wait(deadline - time.monotonic()):
                result = delivery.result or DeliveryResult(
                    ok=False, status="failed", attempts=0, error=delivery.error or "no result"
                )
                latency = ((delivery.finished or time.monotonic()) - delivery.started) * 1000
            else:
                result = DeliveryResult(ok=False, status="failed", attempts=0, error="timeout")
                latency = (time.monotonic() - delivery.started) * 1000
                logger.warning(
                    "notify: {} did not answer within {}s: abandoned", name, self.config.timeout
                )
            records.append(self._finish(claim, now, name, notification, key, result, latency))
        order = {name: i for i, name in enumerate(names)}
        records.sort(key=lambda r: order[r.notifier])
        return records

    def test(self, notifier: str) -> DeliveryRecord:
        """Send a test message through ``notifier`` (bypassing dedup and rate limits)."""
        notification = Notification(
            kind="notify.test",
            title="tradekernel test notification",
            body=f"If you can read this, the {notifier} notifier works.",
            severity="info",
            fields={"notifier": notifier},
            dedup_key=f"notify.test:{uuid.uuid4().hex}",
        )
        return self.publish(notification, notifiers=[notifier], force=True)[0]

    def route(self, key: str, severity: str = "info") -> list[str]:
        """The notifiers a ``stage.kind`` at ``severity`` is routed to."""
        return self.router.route(key, severity)

    # -- the log -------------------------------------------------------------------------

    def log(
        self,
        date: date | str | None = None,
        status: str | None = None,
        *,
        notifier: str | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRecord]:
        """Delivery records, oldest first; ``date`` is a UTC day (``date`` or
        ``"YYYY-MM-DD"``, or ``"today"``), ``status`` one of sent, failed,
        dedup_suppressed, rate_limited (or pending)."""
        if status is not None and status not in (*STATUSES, "pending"):
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        if date == "today":
            date = self.clock().date()
        elif isinstance(date, str):
            date = datetime.strptime(date, "%Y-%m-%d").date()
        return self.store.records(day=date, status=status, notifier=notifier, limit=limit)

    def counts(self, date: date | None = None) -> dict[str, int]:
        """Number of log records per status."""
        return self.store.counts(day=date)

    # -- internals -----------------------------------------------------------------------

    def _rate_limit(self, name: str) -> Any:
        return self.config.rate_limits.get(name, self.config.rate_limit)

    def _reachable(self) -> NotifyStore | None:
        """The state, opened now if it was not reachable before (one try per publish);
        ``None`` when it still cannot be opened (warned)."""
        try:
            return self._open()
        except Exception as exc:  # an unreachable state must not silence alerts
            logger.warning(
                "notify: state unavailable ({}); sending without noise control",
                self._redact(str(exc)),
            )
            return None

    def _claim(
        self,
        store: NotifyStore | None,
        name: str,
        key: str,
        kind: str,
        now: datetime,
        force: bool,
        critical: bool,
    ) -> Claim:
        if store is None:
            return Claim(record_id=0, status="pending")
        limit = self._rate_limit(name)
        try:
            return store.claim(
                notifier=name,
                dedup_key=key,
                event_kind=kind,
                now=now,
                dedup_window=float(self.config.dedup_window),
                rate_count=limit.count,
                rate_per=float(limit.per),
                force=force,
                critical=critical,
            )
        except Exception as exc:  # an unusable state must not silence alerts
            logger.warning(
                "notify: state unavailable ({}); sending without noise control",
                self._redact(str(exc)),
            )
            return Claim(record_id=0, status="pending")

    def _finish(
        self,
        claim: Claim,
        now: datetime,
        name: str,
        notification: Notification,
        key: str,
        result: DeliveryResult,
        latency_ms: float,
    ) -> DeliveryRecord:
        status = "sent" if result.ok else "failed"
        error = self._redact(result.error) if result.error else None
        if claim.record_id:
            try:
                self.store.finish(
                    claim.record_id,
                    status=status,
                    http_status=result.http_status,
                    attempts=result.attempts,
                    latency_ms=latency_ms,
                    error=error,
                )
            except Exception as exc:
                logger.warning("notify: could not log a delivery: {}", self._redact(str(exc)))
        return self._record(
            claim.record_id,
            now,
            name,
            notification,
            key,
            status,
            http_status=result.http_status,
            attempts=result.attempts,
            latency_ms=round(latency_ms, 3),
            error=error,
            rate_limit_bypassed=claim.rate_limit_bypassed,
        )

    def _record(
        self,
        record_id: int,
        now: datetime,
        name: str,
        notification: Notification,
        key: str,
        status: str,
        **outcome: Any,
    ) -> DeliveryRecord:
        record = DeliveryRecord(
            id=record_id,
            ts=now,
            notifier=name,
            event_kind=notification.kind,
            dedup_key=key,
            status=status,
            **outcome,
        )
        self._announce(record)
        return record

    def _announce(self, record: DeliveryRecord) -> None:
        if self._emit is None:
            return
        extra: dict[str, Any] = {"rate_limit_bypassed": True} if record.rate_limit_bypassed else {}
        if not record.id and record.status in ("sent", "failed"):
            extra["unlogged"] = True  # the state could not be opened or written
        try:
            self._emit(
                "notify",
                EVENT_KINDS[record.status],
                severity="warning" if record.status in ("failed", "rate_limited") else "info",
                notifier=record.notifier,
                event_kind=record.event_kind,
                dedup_key=record.dedup_key,
                http_status=record.http_status,
                attempts=record.attempts,
                latency_ms=record.latency_ms,
                error=record.error,
                **extra,
            )
        except Exception as exc:
            logger.warning("notify: could not emit a notify event: {}", exc)
