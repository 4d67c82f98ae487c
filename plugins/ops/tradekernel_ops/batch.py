"""Scheduled operations: ``tradekernel ops batch`` (what cron or a systemd timer runs).

The batch runs its steps in order under an exclusive lock (``state_dir/ops.lock``), each
isolated (one failing does not stop the others), and writes a status artifact
(``ops-status.v1``, default ``state_dir/ops-status.json``) atomically at the start and
at the end. See docs/operations.md, "ops batch".
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import define, field
from tradekernel.api import (
    EXIT_FAILED,
    EXIT_GATE,
    EXIT_OK,
    RUN_LOCK,
    LockHeld,
    atomic_write,
    exclusive,
    refuse_lost,
    utcnow,
)

STATUS_SCHEMA = "ops-status.v1"
LOCK_FILE = "ops.lock"
STATUS_FILE = "ops-status.json"
REPORTS_DIR = "reports"
RESULTS = ("ok", "failed", "skipped", "firing")
"""Step results; ``firing`` only for the alerts step (it ran, and a rule fires)."""


@define
class BatchContext:
    """What a step gets: the settings, the kernel (built on first use) and the time."""

    settings: Any
    kernel_factory: Callable[[], Any]
    now: datetime
    _kernel: Any = None

    def kernel(self) -> Any:
        if self._kernel is None:
            self._kernel = self.kernel_factory()
        return self._kernel


@define
class StepOutcome:
    """One step of a batch as recorded in the status artifact."""

    name: str
    result: str
    detail: str = ""
    started: str = ""
    duration_ms: float = 0.0
    data: dict[str, Any] = field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "result": self.result,
            "detail": self.detail,
            "started": self.started,
            "duration_ms": self.duration_ms,
            "data": self.data,
        }


StepResult = tuple[str, str, dict[str, Any]]
"""What a step function returns: ``(result, detail, data)``."""
Step = Callable[[BatchContext], StepResult]


# -- the steps ------------------------------------------------------------------------


def step_reconcile(ctx: BatchContext) -> StepResult:
    """Resolve intents stuck in ``executing``, each on the broker it was claimed on (every
    configured broker, as ``intents reconcile`` does; a disabled one is skipped). Fails
    when a broker could not answer for one of them (it stays ``executing``); skipped while
    the agent runs, which owns its executing intents and reconciles them at its start
    (reconciling under its feet could fail an order it is submitting right now), here or,
    on a store shared by several hosts, on another host (it holds the namespace's lease)."""
    from tradekernel.api import LeaseHeld, agent_lease, open_store, reconcile_brokers

    kernel = ctx.kernel()

    try:
        with (
            exclusive(ctx.settings.state_dir / RUN_LOCK, "tradekernel run"),
            agent_lease(kernel, "tradekernel ops batch", settings=ctx.settings) as fence,
            open_store(
                ctx.settings,
                on_transition=kernel.dispatch_transition,
                redact=getattr(ctx.settings, "redact", None),
            ) as store,
        ):
            results, skipped = reconcile_brokers(
                kernel, store, actor="ops", settings=ctx.settings, fence=fence
            )
    except LockHeld:
        return "skipped", "the agent is running (it reconciles at its own start)", {}
    except LeaseHeld:
        return "skipped", "the agent runs on another host (it reconciles at its own start)", {}
    actions: dict[str, int] = {}
    for r in results:
        actions[r.action] = actions.get(r.action, 0) + 1
    data = {"reconciled": len(results), "actions": actions, "skipped_brokers": skipped}
    if not results:
        note = f" (disabled, skipped: {', '.join(skipped)})" if skipped else ""
        return "ok", f"nothing to reconcile{note}", data
    summary = ", ".join(f"{action} {n}" for action, n in sorted(actions.items()))
    unknown = [r.intent_id for r in results if r.action == "still_unknown"]
    if unknown:
        return "failed", f"{summary}; the broker did not answer for {', '.join(unknown)}", data
    return "ok", f"{len(results)} reconciled: {summary}", data


def step_alerts(ctx: BatchContext) -> StepResult:
    """``alerts check`` for today: ``firing`` when a rule fires."""
    from .alerts import check_alerts

    check = check_alerts(ctx.kernel(), ctx.now.date(), now=ctx.now)
    data = {
        "firing": [r.name for r in check.firing],
        "resolved": check.resolved,
        "deliveries": {
            status: sum(1 for d in check.deliveries if d["status"] == status)
            for status in sorted({d["status"] for d in check.deliveries})
        },
    }
    if check.firing:
        names = ", ".join(r.name for r in check.firing)
        return "firing", f"{len(check.firing)} of {len(check.results)} rules firing: {names}", data
    return "ok", f"{len(check.results)} rules ok", data


def step_incidents(ctx: BatchContext) -> StepResult:
    """Send the escalation steps that fell due (and move trading to ``reducing`` for a
    critical incident left unacknowledged), as the agent does at its cycle boundaries:
    whichever runs first sends a step, once. Skipped when there are no incidents."""
    from .incidents.store import DB_FILE

    if not ctx.settings.incidents.active:
        return "skipped", "incidents are off ([incidents] enabled, escalation)", {}
    if not (Path(ctx.settings.state_dir) / DB_FILE).exists():
        return "ok", "no incidents", {"open": 0, "actions": []}
    from .incidents.observer import build

    service = build(ctx.kernel(), clock=lambda: ctx.now)
    try:
        actions = service.tick(ctx.now)
        open_ = len(service.list())
    finally:
        service.close()
    data = {"open": open_, "actions": actions}
    return "ok", f"{open_} open incident(s), {len(actions)} escalation action(s)", data


def step_report(ctx: BatchContext) -> StepResult:
    """Write today's daily report as JSON and HTML to ``state_dir/reports/`` (skipped
    when the ``tradekernel-report`` distribution is not installed)."""
    if importlib.util.find_spec("tradekernel_report") is None:
        return "skipped", "tradekernel-report is not installed", {}
    from tradekernel_report import daily_report, render

    day = ctx.now.date()
    report = daily_report(ctx.settings, day, now=ctx.now)
    out = Path(ctx.settings.state_dir) / REPORTS_DIR
    written = []
    for fmt in ("json", "html"):
        path = out / f"{day.isoformat()}.{fmt}"
        atomic_write(path, render(report, fmt))
        written.append(str(path))
    detail = f"wrote {', '.join(written)} ({report['events']['total']} events)"
    return "ok", detail, {"files": written, "events": report["events"]["total"]}


STEPS: list[tuple[str, Step]] = [
    ("reconcile", step_reconcile),
    ("alerts", step_alerts),
    ("incidents", step_incidents),
    ("report", step_report),
]
"""The batch, in order. Looked up at run time (tests replace it)."""


# -- lock and artifact ----------------------------------------------------------------


def ops_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """The batch's lock: a second ``ops batch`` is refused at once (exit 3)."""
    return exclusive(path, "ops batch")


@define
class BatchResult:
    """The outcome of one batch (the status artifact's content)."""

    started: str
    status_file: Path
    steps: list[StepOutcome] = field(factory=list)
    finished: str | None = None
    duration_ms: float | None = None

    @property
    def failed(self) -> list[str]:
        return [s.name for s in self.steps if s.result == "failed"]

    @property
    def result(self) -> str:
        if self.finished is None:
            return "running"
        if self.failed:
            return "failed"
        return "firing" if any(s.result == "firing" for s in self.steps) else "ok"

    @property
    def exit_code(self) -> int:
        """1 when a step failed, else 4 when alerts fired, else 0."""
        return {"failed": EXIT_FAILED, "firing": EXIT_GATE}.get(self.result, EXIT_OK)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": STATUS_SCHEMA,
            "started": self.started,
            "finished": self.finished,
            "duration_ms": self.duration_ms,
            "pid": os.getpid(),
            "result": self.result,
            "exit_code": None if self.finished is None else self.exit_code,
            "failed": self.failed,
            "steps": [s.as_dict() for s in self.steps],
        }

    def write(self) -> None:
        atomic_write(self.status_file, json.dumps(self.as_dict(), indent=2) + "\n")


def _run_step(
    name: str, step: Step, ctx: BatchContext, redact: Callable[[str], str]
) -> StepOutcome:
    started = utcnow()
    t0 = time.monotonic()
    try:
        result, detail, data = step(ctx)
    except Exception as exc:  # one step's failure must not stop the others
        result, detail, data = "failed", redact(f"{type(exc).__name__}: {exc}"), {}
    return StepOutcome(
        name=name,
        result=result if result in RESULTS else "failed",
        detail=" ".join(str(detail).split()),
        started=started.isoformat(),
        duration_ms=round((time.monotonic() - t0) * 1000, 3),
        data=data,
    )


def run_batch(
    settings: Any,
    kernel_factory: Callable[[], Any],
    *,
    status_file: str | Path | None = None,
    clock: Callable[[], datetime] = utcnow,
    steps: list[tuple[str, Step]] | None = None,
) -> BatchResult:
    """Run the batch under ``state_dir/ops.lock`` and write the status artifact.

    Raises :class:`RefusedError` (exit 3) at once when another batch holds the lock, and
    :class:`StateLost` (exit 2) before anything is written when the journal anchor says
    the state database was lost; otherwise never raises for a step: a step that raises
    is recorded as ``failed``. ``kernel_factory`` builds the kernel on first use (a
    kernel that cannot be built fails the steps that need it)."""
    state_dir = Path(settings.state_dir)
    refuse_lost(state_dir)
    path = Path(status_file) if status_file is not None else state_dir / STATUS_FILE
    redact = getattr(settings, "redact", lambda s: s)
    with ops_lock(state_dir / LOCK_FILE):
        now = clock()
        batch = BatchResult(started=now.isoformat(), status_file=path)
        batch.write()
        t0 = time.monotonic()
        ctx = BatchContext(settings=settings, kernel_factory=kernel_factory, now=now)
        for name, step in STEPS if steps is None else steps:
            batch.steps.append(_run_step(name, step, ctx, redact))
        batch.finished = clock().isoformat()
        batch.duration_ms = round((time.monotonic() - t0) * 1000, 3)
        batch.write()
        _announce(ctx, batch)
    return batch


def _announce(ctx: BatchContext, batch: BatchResult) -> None:
    severity = {"failed": "error", "firing": "warning"}.get(batch.result, "info")
    # No duration here: identical outcomes render identically and are deduplicated.
    with contextlib.suppress(Exception):
        ctx.kernel().emit(
            "ops",
            "batch",
            severity=severity,
            result=batch.result,
            exit_code=batch.exit_code,
            steps={s.name: s.result for s in batch.steps},
            failed=batch.failed,
            status_file=str(batch.status_file),
        )
