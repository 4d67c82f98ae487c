"""The ``strategies`` section of ``report.v1``: each strategy's book and the portfolio's.

Books come from the store's fills up to the window's end (the kernel's per-strategy
ledger: fills attributed to the intent's strategy, FIFO per strategy; see
docs/portfolio.md), each symbol marked at its last fill price in that span. Budget
denials, drawdown-stop state changes and allocations come from the day's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from tradekernel.api import Event, NotFoundError, StrategyLedger, open_store, strategy_shares

from .stats import counter


def from_events(events: Sequence[Event]) -> dict[str, dict[str, Any]]:
    """Per strategy: budget denials by code, its state changes, its last budget."""
    out: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        return out.setdefault(
            name, {"budget": None, "state": None, "state_changes": [], "budget_denials": {}}
        )

    denials: dict[str, list[str]] = {}
    for e in events:
        if e.stage != "portfolio":
            continue
        if e.kind == "budget_denied" and (name := e.fields.get("strategy")):
            denials.setdefault(str(name), []).append(str(e.fields.get("code")))
        elif e.kind == "strategy_state" and (name := e.fields.get("strategy")):
            r = row(str(name))
            r["state"] = e.fields.get("state")
            r["state_changes"].append({"ts": e.ts.isoformat(), "state": e.fields.get("state")})
        elif e.kind == "allocation":
            for name, amount in (e.fields.get("budgets") or {}).items():
                row(str(name))["budget"] = str(amount)
    for name, codes in denials.items():
        row(name)["budget_denials"] = counter(codes)
    return out


def books(settings: Any, end: datetime) -> dict[str, Any] | None:
    """The ledger report (strategies and portfolio) of the fills before ``end``;
    ``None`` when there is no state to read."""
    try:
        store = open_store(settings, create=False)
    except NotFoundError:
        return None
    with store:
        fills = [f for f in store.fills() if f.ts < end]
        marks: dict[str, Decimal] = {}
        for fill in fills:
            marks[fill.symbol] = fill.price
        ledger = StrategyLedger().apply_all(fills, partial(strategy_shares, store))
        report = ledger.report(marks)
    report["marks"] = {s: str(p) for s, p in sorted(marks.items())}
    return report


def section(events: Sequence[Event], ledger: dict[str, Any] | None) -> dict[str, Any]:
    """``strategies``: one row per strategy (its book merged with its events) and the
    portfolio's sums."""
    extra = from_events(events)
    rows: dict[str, dict[str, Any]] = {}
    for book in (ledger or {}).get("strategies", []):
        rows[book["strategy"]] = dict(book)
    for name in extra:
        rows.setdefault(name, {"strategy": name})
    strategies = [{**rows[n], **extra.get(n, {})} for n in sorted(rows)]
    for s in strategies:
        s.setdefault("budget", None)
        s.setdefault("state", None)
        s.setdefault("state_changes", [])
        s.setdefault("budget_denials", {})
    return {
        "strategies": strategies,
        "portfolio": (ledger or {}).get("portfolio"),
        "marks": (ledger or {}).get("marks", {}),
    }
