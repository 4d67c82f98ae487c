"""What each page shows, read through the kernel's public API (and the report and ops
plugins' package APIs when they are installed). Plain dicts and lists for the templates;
nothing here writes."""

from __future__ import annotations

import importlib.util
from datetime import date
from typing import Any

from tradekernel.api import IntentState, NotFoundError, format_money, unstructure

from .app import Shown
from .service import PENDING, Console

MAX_ROWS = 1000
CONTROL_KEYS = ("paused", "kill_switch", "trading_state", "mode", "degrade", "incidents")


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (found without importing it)."""
    return importlib.util.find_spec(package) is not None


def quorum(preview: Any) -> dict[str, Any] | None:
    """Approvals so far and how many are needed when a quorum applies (two or more
    distinct approvals: the preview's ``approvals_required`` and ``approvals``), else
    ``None`` (one approval, the usual gate)."""
    if preview.approvals_required < 2 and not preview.approvals:
        return None
    return {
        "required": preview.approvals_required,
        "approvals": [(a["actor"], a["ts"]) for a in preview.approvals],
    }


def _preview_row(service: Any, record: Any) -> dict[str, Any]:
    preview = service.preview(record.id)
    row = preview.to_dict()
    row["version"] = record.version  # read before the preview: a newer view only 409s
    row["quorum"] = quorum(preview)
    row["estimated"] = format_money(preview.estimated_notional)
    return row


def pending(console: Console, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """Every pending intent (oldest first), as the operator approves it: the preview with
    every verdict, age and expiry, approvals so far, and the version the form submits."""
    try:
        with console.store() as store:
            service = console.approvals(store)
            records = store.list_intents(state=PENDING, limit=limit)
            return [_preview_row(service, r) for r in records]
    except NotFoundError:
        return []


def intent(console: Console, intent_id: str) -> dict[str, Any]:
    """One intent: its preview, its journal rows, its orders and fills."""
    with console.store() as store:
        record = store.get(intent_id)
        row = _preview_row(console.approvals(store), record)
        row["record_state"] = record.state.value
        row["reason"] = record.reason
        row["journal"] = [unstructure(r) for r in store.journal_rows(intent_id)]
        row["orders"] = [unstructure(o) for o in store.orders(intent_id=intent_id)]
        row["pending"] = record.state is IntentState.PENDING_APPROVAL
    return row


def intents(
    console: Console,
    *,
    state: str | None = None,
    symbol: str | None = None,
    strategy: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Recent intents, newest first, filtered by state, symbol and strategy."""
    try:
        with console.store() as store:
            records = store.list_intents(state=state)
    except NotFoundError:
        return []
    out = []
    for record in reversed(records):
        intent = record.intent
        if symbol and intent.symbol != symbol:
            continue
        if strategy and intent.strategist != strategy:
            continue
        out.append(
            {
                "id": record.id,
                "state": record.state.value,
                "version": record.version,
                "symbol": intent.symbol,
                "side": str(intent.side),
                "quantity": intent.quantity,
                "notional": intent.notional,
                "strategist": intent.strategist,
                "reason": record.reason,
                "broker": record.broker,
                "order_status": record.order_status,
                "updated_at": record.updated_at.isoformat(),
            }
        )
        if len(out) >= limit:
            break
    return out


def orders(
    console: Console, *, status: str | None = None, symbol: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Recorded orders, newest first, filtered by status and symbol."""
    try:
        with console.store() as store:
            found = store.orders()
    except NotFoundError:
        return []
    out = []
    for order in reversed(found):
        if status and str(order.status) != status:
            continue
        if symbol and order.symbol != symbol:
            continue
        out.append(unstructure(order))
        if len(out) >= limit:
            break
    return out


def positions(console: Console) -> dict[str, Any]:
    """Each configured broker's positions and account, or why it could not be read."""
    selection = console.settings.components
    names = list(selection.brokers) or [selection.broker]
    out = []
    for name in names:
        entry: dict[str, Any] = {"broker": name, "error": None, "positions": [], "account": None}
        try:
            broker = console.broker(name)
            if broker is None:
                raise RuntimeError("the broker could not be built (see `tradekernel config check`)")
            entry["account"] = unstructure(broker.account())
            entry["positions"] = [
                {**unstructure(p), "market_value": p.market_value} for p in broker.positions()
            ]
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out.append(entry)
    return {"brokers": out}


def control(console: Console) -> dict[str, Any]:
    """The control status, the mode and the safer ones, and the latest control changes."""
    with console.store(create=True) as store:
        ctl = console.control(store)
        ctl.refresh()
        status = ctl.status()
        mode, source = console.current_mode(ctl)
        rows = []
        for key in CONTROL_KEYS:
            rows.extend(store.journal_rows(f"control:{key}")[-10:])
        safer = console.safer_modes(ctl)
    rows.sort(key=lambda r: r.seq, reverse=True)
    return {
        "status": status,
        "mode": mode,
        "mode_source": source,
        "safer_modes": safer,
        "history": [unstructure(r) for r in rows[:20]],
    }


def alerts(console: Console) -> dict[str, Any]:
    """The alert rules evaluated now (``tradekernel-ops``, without announcing anything)
    and the incident state: incidents, cooldown, degrade and the strategist breaker."""
    data: dict[str, Any] = {"rules": None, "error": None, "ops": installed("tradekernel_ops")}
    try:
        with console.store(create=True) as store:
            ctl = console.control(store)
            ctl.refresh()
            data["incidents"] = ctl.status()
    except Exception as exc:
        data["incidents"] = None
        data["error"] = f"state: {exc}"
    if data["ops"]:
        try:
            from tradekernel_ops.alerts import check_alerts

            check = check_alerts(console.kernel(), announce=False)
            data["rules"] = [r.as_dict() for r in check.results]
            data["profile"] = check.policy.profile
        except Exception as exc:
            data["error"] = f"alerts: {type(exc).__name__}: {exc}"
        data["open_incidents"] = open_incidents(console)
    return data


def open_incidents(console: Console) -> list[dict[str, Any]]:
    """The open and acknowledged incidents (``tradekernel-ops``), oldest first; nothing
    when there is no ``incidents.db`` yet (it is not created by a page)."""
    from pathlib import Path

    from tradekernel_ops.incidents.service import Incidents
    from tradekernel_ops.incidents.store import DB_FILE

    if not (Path(console.settings.state_dir) / DB_FILE).exists():
        return []
    incidents = Incidents(console.settings)
    try:
        return [i.as_dict() for i in incidents.list()]
    finally:
        incidents.close()


def report(console: Console, day: date) -> dict[str, Any]:
    """The daily report of ``day`` as Markdown lines (``tradekernel-report``)."""
    if not installed("tradekernel_report"):
        return {"installed": False, "lines": [], "note": None}
    import tradekernel_report

    result = tradekernel_report.daily_report(console.settings, day)
    text = tradekernel_report.render(result, "md")
    # the report's text is already inert (its escapes shown): the page only escapes it
    lines = [Shown(line) for line in text.splitlines()]
    return {"installed": True, "lines": lines, "note": result.get("note")}


def report_html(console: Console, day: date) -> str | None:
    """The daily report's HTML dashboard, or ``None`` without ``tradekernel-report``."""
    if not installed("tradekernel_report"):
        return None
    import tradekernel_report

    return tradekernel_report.render(tradekernel_report.daily_report(console.settings, day), "html")
