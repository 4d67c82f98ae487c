"""Fixtures for report tests: a hand-made day of events (known values, every section) in
the jsonl sink's layout, and a plugins.toml pointing at it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from tradekernel.api import Settings

DAY = "2026-03-02"


def ev(hms: str, stage: str, kind: str, severity: str = "info", **fields: Any) -> dict[str, Any]:
    """One event.v1 record at ``DAY hms`` UTC."""
    ts = datetime.fromisoformat(f"{DAY}T{hms}+00:00")
    return {
        "schema": "event.v1",
        "ts": ts.isoformat(),
        "run_id": "run_fixture",
        "cycle_id": f"cyc_{hms.replace(':', '')}",
        "stage": stage,
        "kind": kind,
        "severity": severity,
        "fields": fields,
    }


def _llm(hms: str, **fields: Any) -> dict[str, Any]:
    return ev(hms, "strategist_llm", "decision", provider="openrouter", model="m1", **fields)


def _appr(hms: str, kind: str, intent: str, **fields: Any) -> dict[str, Any]:
    return ev(hms, "approval", kind, intent_id=intent, symbol="AAA", side="buy", **fields)


def _verdict(hms: str, intent: str, allow: bool, guard: str = "g1", code: str | None = None):
    return ev(hms, "risk", "verdict", intent_id=intent, symbol="AAA", guard=guard, allow=allow,
              code=code)  # fmt: skip


SKILL_FELL_BACK = "required skill market.quote fell back"

FIXTURE_EVENTS: list[dict[str, Any]] = [
    # -- strategist_llm: 5 calls, latencies 100, 300, 900, 50, 200 ---------------------------
    _llm("09:00:00", ok=True, latency_ms=100, attempts=1, prompt_version="p1",
         schema_version="decision.v1", prompt_tokens=1000, completion_tokens=100,
         total_tokens=1100, estimated_cost_usd="0.0010", cache_hit=False, intents=1),
    _llm("09:30:00", ok=True, latency_ms=300.0, attempts=2, prompt_version="p1",
         schema_version="decision.v1", prompt_tokens=1200, completion_tokens=150,
         total_tokens=1350, estimated_cost_usd="0.0015", reported_cost_usd=0.0014, intents=2),
    _llm("10:00:00", ok=False, latency_ms=900, attempts=3, error_type="provider_timeout",
         fallback_reason="provider failed: timeout", prompt_version="p1",
         schema_version="decision.v1", intents=0),
    _llm("10:30:00", ok=True, latency_ms=50, attempts=0, cache_hit=True, prompt_version="p2",
         schema_version="decision.v1", prompt_tokens=800, completion_tokens=80,
         estimated_cost_usd=0.0008, intents=1),
    _llm("11:00:00", ok=False, latency_ms=200, attempts=1, error_type="parse_error",
         fallback_reason="unparseable answer", prompt_version="p2", schema_version="decision.v2",
         prompt_tokens=500, completion_tokens=20, total_tokens=520, estimated_cost_usd="0.0005"),
    ev("11:30:00", "budget", "exhausted", "warning", scope="usd", used=1.95, limit=2.0,
       estimate=0.06, strategist="llm"),
    # -- strategist.decision: 5 decisions, 3 intents, 3 holds ---------------------------------
    ev("09:00:01", "strategist", "decision", strategist="llm", intents=1, latency_ms=101),
    ev("09:30:01", "strategist", "decision", strategist="llm", intents=2, latency_ms=301),
    ev("10:00:01", "strategist", "decision", "warning", strategist="llm", intents=0,
       hold_reason="provider failed: timeout", error_type="provider_timeout", latency_ms=901),
    ev("11:00:01", "strategist", "decision", strategist="llm", intents=0,
       hold_reason="no_candidates", latency_ms=1),
    ev("11:30:01", "strategist", "decision", strategist="llm", intents=0,
       hold_reason="breaker_open", latency_ms=2),
    ev("09:30:01", "strategist", "dropped_intent", "warning", intent_id="ix", symbol="ZZZ",
       reason="not_a_candidate"),
    # -- hydrate.skill -----------------------------------------------------------------------
    ev("09:00:00", "hydrate", "skill", skill="market.quote", ok=True, latency_ms=10),
    ev("09:30:00", "hydrate", "skill", skill="market.quote", ok=True, latency_ms=30),
    ev("10:00:00", "hydrate", "skill", "warning", skill="market.quote", ok=False,
       latency_ms=2000, error="timeout", fallback_reason="no answer within 2s"),
    ev("09:00:00", "hydrate", "skill", skill="account.positions", ok=True, latency_ms=5),
    ev("09:30:00", "hydrate", "skill", skill="account.positions", ok=True, latency_ms=7),
    # -- intents i1..i8 ----------------------------------------------------------------------
    _verdict("09:00:02", "i1", True),
    _verdict("09:00:02", "i1", True, guard="g2"),
    _appr("09:00:03", "auto_approved", "i1", actor="auto"),
    ev("09:00:04", "executor", "submitted", intent_id="i1", client_order_id="c1",
       broker="paper"),
    _verdict("09:30:02", "i2", False, guard="max_order_notional", code="max_notional"),
    _verdict("09:30:02", "i3", True),
    _appr("09:30:03", "pending", "i3", actor="guards"),
    _appr("09:32:03", "approved", "i3", actor="alice"),
    ev("09:32:05", "executor", "failed", "warning", intent_id="i3", client_order_id="c3",
       reason="broker_rejected: insufficient"),
    _verdict("09:40:00", "i4", True),
    _appr("09:40:00", "pending", "i4", actor="guards"),
    _appr("09:45:00", "rejected", "i4", actor="bob"),
    _verdict("12:01:00", "i5", False, guard="kernel", code="kill_switch_on"),
    _verdict("12:01:00", "i5", False, guard="max_order_notional", code="max_notional"),
    _verdict("13:00:00", "i6", True),
    _appr("13:00:00", "pending", "i6", actor="guards"),
    _appr("13:00:30", "approved", "i6", actor="alice"),
    ev("13:00:31", "executor", "submitted", intent_id="i6", client_order_id="c6"),
    _verdict("14:00:00", "i7", True),
    _appr("14:00:01", "pending", "i7", actor="guards"),
    _appr("15:00:00", "pending", "i8", actor="guards"),
    _appr("15:30:00", "expired", "i8", actor="system"),
    # -- orders and fills (f1 is recorded twice: it counts once) -----------------------------
    ev("09:00:05", "monitor", "order_status", client_order_id="c1", status="working",
       intent_id="i1"),
    ev("09:01:00", "monitor", "order_status", client_order_id="c1", status="filled",
       intent_id="i1", terminal=True),
    ev("09:01:00", "monitor", "fill", client_order_id="c1", intent_id="i1", symbol="AAA",
       side="buy", fill_id="f1", price="100.50", quantity="5", commission="1.00"),
    ev("09:01:01", "monitor", "fill", client_order_id="c1", intent_id="i1", symbol="AAA",
       side="buy", fill_id="f1", price="100.50", quantity="5", commission="1.00"),
    ev("13:01:00", "monitor", "order_status", client_order_id="c6", status="partial_fill",
       intent_id="i6"),
    ev("13:01:00", "monitor", "fill", client_order_id="c6", intent_id="i6", symbol="BBB",
       side="sell", fill_id="f2", price="50.25", quantity="2", commission="0.50"),
    # -- account: the 16:00 cycle is written before the 12:00 one (order is by time) ---------
    ev("09:00:06", "report", "cycle", mode="paper", equity="100000.00", cash="100000.00",
       realized_pnl="0", unrealized_pnl="0"),
    ev("16:00:00", "report", "cycle", mode="paper", as_of="2026-03-02T15:59:00+00:00",
       equity="100120.25", cash="99600.00", realized_pnl="-10.25", unrealized_pnl="130.50"),
    ev("12:00:00", "report", "cycle", mode="paper", equity="100250.50", cash="99497.50",
       realized_pnl="0", unrealized_pnl="250.50"),
    # -- resilience --------------------------------------------------------------------------
    ev("10:00:02", "resilience", "breaker_opened", "error", state="open", failures=2,
       reason="provider_timeout"),
    ev("10:00:03", "resilience", "degrade_entered", "warning", reason="breaker_open"),
    ev("10:05:02", "resilience", "breaker_half_open", state="half_open"),
    ev("10:05:30", "resilience", "breaker_opened", "error", state="open", failures=3,
       reason="provider_timeout"),
    ev("10:15:30", "resilience", "breaker_half_open", state="half_open"),
    ev("10:16:00", "resilience", "breaker_closed", state="closed"),
    ev("10:19:00", "commander", "route", "warning", node="hydrate", action="retry", attempt=1,
       error="OSError: x"),
    ev("10:19:30", "commander", "route", "warning", node="hydrate", action="retry", attempt=2,
       error="OSError: x"),
    ev("10:20:00", "commander", "route", "error", node="hydrate", action="cancel",
       reason="hydrate failed: OSError: x", cancelled=2),
    ev("10:20:00", "resilience", "incident", "warning", reason="hydrate failed: OSError: x",
       count=1),
    ev("10:21:00", "resilience", "incident", "warning", reason=SKILL_FELL_BACK, count=2),
    ev("10:21:00", "resilience", "cooldown", "warning", reason=SKILL_FELL_BACK,
       until="2026-03-02T10:26:00+00:00"),
    ev("10:22:00", "commander", "route", node="strategize", action="cooldown_wait",
       until="2026-03-02T10:26:00+00:00"),
    ev("10:30:00", "control", "paused", "warning", actor="alice", reason="investigate"),
    ev("10:31:00", "commander", "end", action="pause", reason="paused by operator"),
    ev("10:40:03", "control", "resumed", actor="alice", reason="fixed"),
    ev("10:40:03", "resilience", "degrade_exited", actor="alice", reason="fixed"),
    ev("12:00:00", "control", "kill_switch", "critical", actor="bob", reason="drill", value=True),
    ev("12:05:00", "control", "kill_switch", "warning", actor="bob", reason="drill", value=False),
    ev("12:10:00", "control", "trading_state", actor="bob", value="reducing"),
    ev("12:20:00", "control", "mode", actor="carol", value="shadow"),
    ev("23:00:00", "resilience", "degrade_entered", "warning", reason="incidents: late"),
    # -- notifications -----------------------------------------------------------------------
    ev("09:00:10", "notify", "delivered", notifier="slack", event_kind="fill"),
    ev("09:01:10", "notify", "delivered", notifier="slack", event_kind="fill"),
    ev("09:02:10", "notify", "delivered", notifier="email", event_kind="fill"),
    ev("10:00:10", "notify", "failed", "warning", notifier="webhook", http_status=500, attempts=3),
    ev("10:00:11", "notify", "dedup_suppressed", notifier="slack"),
    ev("10:00:12", "notify", "rate_limited", "warning", notifier="email"),
]  # fmt: skip
"""The fixture day: every section, with values the tests check by hand."""

OTHER_DAY_EVENT = {
    **ev("09:00:00", "strategist_llm", "decision", provider="x", ok=True, latency_ms=5),
    "ts": "2026-03-01T09:00:00+00:00",
}
NEXT_MIDNIGHT_EVENT = {**OTHER_DAY_EVENT, "ts": "2026-03-03T00:00:00+00:00"}
"""Misfiled in the fixture day's file: the report window (end exclusive) leaves it out."""


def write_day(state_dir: Path, events: list[dict[str, Any]], day: str = DAY) -> Path:
    """Write ``events`` as the jsonl sink would: ``<state_dir>/events/<day>.jsonl``."""
    directory = state_dir / "events"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{day}.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event, separators=(",", ":")) + "\n")
    return path


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[components]\nmetrics_sinks = ["jsonl"]\n\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def _log_to_current_stderr():
    """CLI runs point loguru at capsys' stream; after each test log to the current stderr
    (resolved at write time) so a later warning never hits a closed file."""
    yield
    logger.remove()
    logger.add(lambda message: sys.stderr.write(message), level="WARNING")


@pytest.fixture
def fixture_day(tmp_path: Path) -> Path:
    """A config whose jsonl log holds the fixture day (plus one unreadable line and an
    event of the previous day); returns the config path."""
    state = tmp_path / "state"
    path = write_day(state, FIXTURE_EVENTS)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    write_day(state, [NEXT_MIDNIGHT_EVENT])
    write_day(state, [OTHER_DAY_EVENT], day="2026-03-01")
    return write_config(tmp_path)


@pytest.fixture
def fixture_settings(fixture_day: Path) -> Settings:
    return Settings.load(fixture_day, environ={})


__all__ = ["DAY", "FIXTURE_EVENTS", "UTC", "ev", "write_config", "write_day"]
