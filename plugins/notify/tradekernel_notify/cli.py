"""``tradekernel notify``: the notification delivery log and a test send."""

from __future__ import annotations

from datetime import datetime

import click
from tradekernel.api import AppContext, TradekernelError, echo_json, inert, json_option, pass_app

STATUS_CHOICES = ["sent", "failed", "dedup_suppressed", "rate_limited", "pending"]


@click.group()
def notify() -> None:
    """Notification deliveries: the log, and test messages."""


def _service(app: AppContext):
    from .service import Notifications

    return Notifications(app.kernel())


def _day(value: str | None) -> str | None:
    if value in (None, "today"):
        return value
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD or 'today', got {value!r}") from None


def _describe(record) -> str:
    parts = [record.status]
    if record.http_status is not None:
        parts.append(f"http {record.http_status}")
    if record.attempts:
        parts.append(f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}")
    if record.latency_ms is not None:
        parts.append(f"{record.latency_ms:.0f} ms")
    if record.rate_limit_bypassed:
        parts.append("critical: rate limit bypassed")
    text = ", ".join(parts)
    return f"{text}: {inert(record.error)}" if record.error else text


@notify.command("log")
@click.option("--date", "day", help="Only this UTC day (YYYY-MM-DD or 'today').")
@click.option("--status", type=click.Choice(STATUS_CHOICES), help="Only records with this status.")
@click.option("--notifier", help="Only this notifier.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the most recent N records.")
@json_option
@pass_app
def log_cmd(
    app: AppContext,
    day: str | None,
    status: str | None,
    notifier: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show notification deliveries, oldest first, with a count per status."""
    day = _day(day)
    service = _service(app)
    try:
        records = service.log(day, status, notifier=notifier, limit=limit)
    finally:
        service.close()
    if as_json:
        echo_json(records)
        return
    if not records:
        click.echo("no notification deliveries")
        return
    for r in records:
        notifier, kind = inert(r.notifier), inert(r.event_kind)
        click.echo(f"{r.ts:%Y-%m-%d %H:%M:%S}  {notifier:<10} {kind:<28} {_describe(r)}")
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    if bypassed := sum(r.rate_limit_bypassed for r in records):
        counts["rate_limit_bypassed"] = bypassed
    click.echo("# " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@notify.command("test")
@click.argument("notifier")
@json_option
@pass_app
def test_cmd(app: AppContext, notifier: str, as_json: bool) -> None:
    """Send a test message through NOTIFIER (no dedup or rate limit; logged). Exit 1 when
    the delivery failed, or when it could not be logged (the store unreachable: deploy
    readiness will not count it)."""
    # An unknown name or a configuration error (e.g. its webhook variable is unset) is
    # exit 2, before anything is sent or logged.
    app.kernel().component("notifier", notifier)
    service = _service(app)
    try:
        record = service.test(notifier)
    finally:
        service.close()
    if as_json:
        echo_json(record)
    else:
        click.echo(f"{inert(notifier)}: {_describe(record)}")
    if record.status != "sent":
        raise TradekernelError(f"the test notification through {notifier} was not delivered")
    if not record.id:
        raise TradekernelError(
            f"the test notification through {notifier} was delivered but not logged (the "
            "store is unreachable): deploy readiness will not count it"
        )
