"""The backtest's observer plugin: reads fills, guard denials and LLM telemetry off the
event bus (the same ``on_event`` hook every observer uses) and aggregates them as they
happen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradekernel.api import Event, hookimpl

from .metrics import TradeBook

CONSUMED = frozenset(
    {
        ("monitor", "fill"),
        ("strategist", "decision"),
        ("risk", "verdict"),
        ("strategist_llm", "decision"),
        ("portfolio", "budget_denied"),
    }
)
"""The ``(stage, kind)`` of every event :class:`BacktestObserver` reads."""


class BacktestObserver:
    """Feeds ``monitor.fill`` events to a :class:`TradeBook`, counts ``risk.verdict``
    denials by reason code and totals ``strategist_llm.decision`` events (calls, tokens,
    cost, fallbacks)."""

    def __init__(self, book: TradeBook, clock: Callable[[], datetime | None]) -> None:
        self.book = book
        self.clock = clock
        self.bar = 0
        self.llm_calls = 0
        self.llm_provider_calls = 0
        self.llm_fallbacks = 0
        self.llm_tokens = 0
        self.llm_cost = 0.0
        self.strategist_errors = 0
        self.decisions = 0
        self.denials: dict[str, int] = {}
        self.budget_denials: dict[str, dict[str, int]] = {}
        """Per strategy, ``portfolio.budget_denied`` events by code."""
        self.llm_by_strategy: dict[str, dict[str, Any]] = {}
        """Per strategy, the LLM calls made while it was asked (see :meth:`on_event`)."""
        self._pending: list[dict[str, Any]] = []

    def wants_event(self, stage: str, kind: str, severity: object) -> bool:
        """Only the events :meth:`on_event` reads: the kernel builds no event that no
        observer consumes, so a backtest pays nothing for the others."""
        return (stage, kind) in CONSUMED

    @hookimpl
    def on_event(self, event: Event) -> None:
        stage = event.stage
        if stage == "monitor":
            if event.kind == "fill":
                f = event.fields
                self.book.fill(
                    symbol=f["symbol"],
                    side=f["side"],
                    quantity=Decimal(f["quantity"]),
                    price=Decimal(f["price"]),
                    commission=Decimal(f["commission"]),
                    ts=self.clock() or event.ts,
                    bar=self.bar,
                )
        elif stage == "strategist":
            if event.kind != "decision":
                return
            # a strategist's LLM calls are emitted while it is asked, before its decision
            pending, self._pending = self._pending, []
            if name := event.fields.get("strategist"):
                for fields in pending:
                    _add_llm(self.llm_by_strategy.setdefault(str(name), _llm_row()), fields)
            if event.fields.get("hold_reason") != "no_candidates":
                self.decisions += 1
                if event.fields.get("error_type"):
                    self.strategist_errors += 1
        elif stage == "risk":
            if event.kind == "verdict" and event.fields.get("allow") is False:
                code = str(event.fields.get("code") or "unknown")
                self.denials[code] = self.denials.get(code, 0) + 1
        elif stage == "strategist_llm" and event.kind == "decision":
            self._llm(event.fields)
            self._pending.append(event.fields)
        elif stage == "portfolio" and event.kind == "budget_denied":
            codes = self.budget_denials.setdefault(str(event.fields.get("strategy")), {})
            code = str(event.fields.get("code") or "unknown")
            codes[code] = codes.get(code, 0) + 1

    def _llm(self, f: dict[str, Any]) -> None:
        self.llm_calls += 1
        if f.get("attempts"):
            self.llm_provider_calls += 1
        if f.get("error_type"):
            self.llm_fallbacks += 1
        self.llm_tokens += int(f.get("total_tokens") or 0)
        cost = f.get("reported_cost_usd")
        if cost is None:
            cost = f.get("estimated_cost_usd")
        self.llm_cost += float(cost or 0)

    def llm_per_strategy(self) -> dict[str, dict[str, Any]]:
        """Per strategy: LLM calls, tokens, cost, fallbacks and fallback rate."""
        out = {}
        for name, row in self.llm_by_strategy.items():
            calls = row["llm_calls"]
            out[name] = {
                **row,
                "llm_cost_usd": round(row["llm_cost_usd"], 6),
                "llm_fallback_rate": row["llm_fallbacks"] / calls if calls else None,
            }
        return out

    def guard_denials(self) -> dict[str, int]:
        """Denying verdicts per reason code, most frequent first."""
        return dict(sorted(self.denials.items(), key=lambda item: (-item[1], item[0])))

    def summary(self) -> dict[str, Any]:
        return {
            "guard_denials": self.guard_denials(),
            "strategist_decisions": self.decisions,
            "strategist_errors": self.strategist_errors,
            "llm_calls": self.llm_calls,
            "llm_provider_calls": self.llm_provider_calls,
            "llm_tokens": self.llm_tokens,
            "llm_cost_usd": round(self.llm_cost, 6),
            "llm_fallbacks": self.llm_fallbacks,
            "llm_fallback_rate": self.llm_fallbacks / self.llm_calls if self.llm_calls else None,
        }


def _llm_row() -> dict[str, Any]:
    return {"llm_calls": 0, "llm_tokens": 0, "llm_cost_usd": 0.0, "llm_fallbacks": 0}


def _add_llm(row: dict[str, Any], f: dict[str, Any]) -> None:
    row["llm_calls"] += 1
    row["llm_fallbacks"] += 1 if f.get("error_type") else 0
    row["llm_tokens"] += int(f.get("total_tokens") or 0)
    cost = f.get("reported_cost_usd")
    row["llm_cost_usd"] += float((cost if cost is not None else f.get("estimated_cost_usd")) or 0)
