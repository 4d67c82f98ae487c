"""Every aggregate of the fixture day against values computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from tradekernel.api import read_events, validate_event
from tradekernel_report import REPORT_SCHEMA, aggregate, daily_report, percentile
from tradekernel_report.resilience import periods

from .conftest import DAY, FIXTURE_EVENTS, ev

D = date.fromisoformat(DAY)


@pytest.fixture
def report(fixture_settings):
    return daily_report(fixture_settings, D, now=datetime(2026, 3, 5, tzinfo=UTC))


def lat(count, p50, p95, mx):
    return {"count": count, "p50": p50, "p95": p95, "max": mx}


def test_fixture_events_are_valid_event_v1():
    for event in FIXTURE_EVENTS:
        assert validate_event(event) == [], event


def test_envelope_and_event_counts(report):
    assert report["schema"] == REPORT_SCHEMA == "report.v1"
    assert report["date"] == DAY
    assert report["source"] == "jsonl"
    assert report["note"] is None
    assert report["window"] == {
        "start": "2026-03-02T00:00:00+00:00",
        "end": "2026-03-03T00:00:00+00:00",
    }
    # the unreadable line, the misfiled next-midnight event and the other day are left out
    assert report["events"]["total"] == len(FIXTURE_EVENTS) == 76
    assert report["events"]["runs"] == 1
    assert report["events"]["by_stage"]["strategist_llm"] == 5
    assert report["events"]["by_stage"]["control"] == 6


def test_strategist_llm(report):
    s = report["strategist_llm"]
    assert (s["calls"], s["ok"], s["failed"], s["success_rate"]) == (5, 3, 2, 0.6)
    # latencies 50, 100, 200, 300, 900: nearest rank 3 of 5 and 5 of 5
    assert s["latency_ms"] == lat(5, 200.0, 900.0, 900.0)
    assert s["attempts"] == {"0": 1, "1": 2, "2": 1, "3": 1}
    assert s["error_types"] == {"parse_error": 1, "provider_timeout": 1}
    assert s["fallback_reasons"] == {"provider failed: timeout": 1, "unparseable answer": 1}
    assert s["prompt_version_total"] == {"p1": 3, "p2": 2}
    assert s["schema_version_total"] == {"decision.v1": 4, "decision.v2": 1}
    assert s["models"] == {"openrouter/m1": 5}
    # total_tokens missing on the cache hit: prompt + completion (800 + 80) stands in
    assert s["tokens"] == {"prompt": 3500, "completion": 350, "total": 3850}
    assert s["estimated_cost_usd"] == "0.0038"
    assert s["reported_cost_usd"] == "0.0014"
    assert s["cache_hits"] == 1
    assert s["intents"] == 4
    hourly = {h["hour"]: h for h in s["hourly"]}
    assert len(s["hourly"]) == 24
    assert hourly[9] == {
        "hour": 9, "calls": 2, "ok": 2, "latency_p50_ms": 100.0, "latency_p95_ms": 300.0,
        "tokens": 2450, "estimated_cost_usd": "0.0025",
    }  # fmt: skip
    assert hourly[10] == {
        "hour": 10, "calls": 2, "ok": 1, "latency_p50_ms": 50.0, "latency_p95_ms": 900.0,
        "tokens": 880, "estimated_cost_usd": "0.0008",
    }  # fmt: skip
    assert hourly[11]["calls"] == 1 and hourly[11]["latency_p95_ms"] == 200.0
    assert hourly[12] == {
        "hour": 12, "calls": 0, "ok": 0, "latency_p50_ms": None, "latency_p95_ms": None,
        "tokens": 0, "estimated_cost_usd": "0",
    }  # fmt: skip


def test_budget(report):
    assert report["budget"] == {
        "exhausted": 1,
        "by_scope": {"usd": 1},
        "events": [
            {
                "ts": "2026-03-02T11:30:00+00:00",
                "scope": "usd",
                "used": "1.95",
                "limit": "2.0",
                "strategist": "llm",
            }
        ],
    }


def test_strategist_decisions(report):
    s = report["strategist"]
    assert s["decisions"] == 5
    assert s["by_strategist"] == {"llm": 5}
    assert (s["with_intents"], s["holds"], s["intents"]) == (2, 3, 3)
    assert s["holds_by_reason"] == {
        "breaker_open": 1,
        "no_candidates": 1,
        "provider failed: timeout": 1,
    }
    assert s["error_types"] == {"provider_timeout": 1}
    assert s["latency_ms"] == lat(5, 101.0, 901.0, 901.0)  # 1, 2, 101, 301, 901
    assert s["dropped_intents"] == {"total": 1, "by_reason": {"not_a_candidate": 1}}


def test_skills(report):
    s = report["skills"]
    assert (s["calls"], s["fallbacks"]) == (5, 1)
    assert s["by_skill"]["market.quote"] == {
        "calls": 3,
        "ok": 2,
        "success_rate": 0.6667,
        "fallbacks": 1,
        "fallback_reasons": {"no answer within 2s": 1},
        "latency_ms": lat(3, 30.0, 2000.0, 2000.0),
    }
    assert s["by_skill"]["account.positions"] == {
        "calls": 2,
        "ok": 2,
        "success_rate": 1.0,
        "fallbacks": 0,
        "fallback_reasons": {},
        "latency_ms": lat(2, 5.0, 7.0, 7.0),
    }
    assert list(s["by_skill"]) == ["account.positions", "market.quote"]


def test_resilience(report):
    r = report["resilience"]
    b = r["breaker"]
    assert (b["opened"], b["half_open"], b["closed"]) == (2, 2, 1)
    assert b["periods"] == [
        {
            "start": "2026-03-02T10:00:02+00:00",
            "end": "2026-03-02T10:05:02+00:00",
            "duration_ms": 300000.0,
            "ended_by": "breaker_half_open",
            "reason": "provider_timeout",
        },
        {
            "start": "2026-03-02T10:05:30+00:00",
            "end": "2026-03-02T10:15:30+00:00",
            "duration_ms": 600000.0,
            "ended_by": "breaker_half_open",
            "reason": "provider_timeout",
        },
    ]
    assert b["time_open_ms"] == 900000.0 and b["open_at_end"] is False
    d = r["degrade"]
    assert (d["entered"], d["exited"]) == (2, 1)
    got = [(p["start"][11:19], p["end"], p["duration_ms"], p["ended_by"]) for p in d["periods"]]
    assert got == [
        ("10:00:03", "2026-03-02T10:40:03+00:00", 2400000.0, "degrade_exited"),
        ("23:00:00", "2026-03-03T00:00:00+00:00", 3600000.0, "end_of_window"),
    ]  # fmt: skip
    assert d["periods"][1]["reason"] == "incidents: late"
    assert d["time_ms"] == 6000000.0 and d["degraded_at_end"] is True
    assert r["cooldowns"] == {
        "count": 1,
        "items": [
            {
                "ts": "2026-03-02T10:21:00+00:00",
                "until": "2026-03-02T10:26:00+00:00",
                "reason": "required skill market.quote fell back",
            }
        ],
    }
    assert r["incidents"] == {
        "count": 2,
        "by_reason": {"hydrate failed: OSError: x": 1, "required skill market.quote fell back": 1},
    }
    i = r["interventions"]
    assert i["count"] == 6
    assert i["by_kind"] == {
        "kill_switch": 2, "mode": 1, "paused": 1, "resumed": 1, "trading_state": 1,
    }  # fmt: skip
    assert i["by_actor"] == {"alice": 2, "bob": 3, "carol": 1}
    assert [(x["kind"], x["actor"], x["value"]) for x in i["items"]] == [
        ("paused", "alice", None),
        ("resumed", "alice", None),
        ("kill_switch", "bob", True),
        ("kill_switch", "bob", False),
        ("trading_state", "bob", "reducing"),
        ("mode", "carol", "shadow"),
    ]
    assert r["node_retries"] == {"count": 2, "by_node": {"hydrate": 2}}
    assert r["node_cancels"] == {"count": 1, "by_node": {"hydrate": 1}, "intents_cancelled": 2}
    assert (r["cooldown_waits"], r["paused_cycles"]) == (1, 1)


def test_intents_approvals_and_denials(report):
    i = report["intents"]
    assert i["total"] == 8
    assert i["by_final_state"] == {
        "blocked": 2,  # i2, i5
        "expired": 1,  # i8
        "failed": 1,  # i3
        "pending_approval": 1,  # i7
        "rejected": 1,  # i4
        "submitted": 2,  # i1, i6
    }
    a = i["approvals"]
    assert (a["manual"], a["auto"], a["pending"], a["rejected"], a["expired"]) == (2, 1, 5, 1, 1)
    assert a["by_actor"] == {"alice": 2, "auto": 1, "bob": 1}
    # i3: 09:30:03 -> 09:32:03 (120 s); i6: 13:00:00 -> 13:00:30 (30 s)
    assert a["time_to_approve_ms"] == lat(2, 30000.0, 120000.0, 120000.0)
    assert i["denials"] == {
        "total": 3,
        "by_code": {"kill_switch_on": 1, "max_notional": 2},
        "by_guard": {"kernel": 1, "max_order_notional": 2},
    }


def test_orders_and_fills(report):
    o = report["orders"]
    assert (o["submitted"], o["failed"], o["unknown_outcome"]) == (2, 1, 0)
    assert o["failed_by_reason"] == {"broker_rejected: insufficient": 1}
    assert (o["claim_conflicts"], o["reconciled"], o["skipped_cycles"]) == (0, 0, 0)
    assert o["status_updates"] == 3
    assert o["by_status"] == {"filled": 1, "partial_fill": 1}
    f = o["fills"]
    assert f["count"] == 2  # f1 was recorded twice
    assert f["by_side"] == {"buy": 1, "sell": 1}
    assert (f["quantity"], f["notional"], f["commission"]) == ("7", "603.00", "1.50")
    assert f["by_symbol"] == {
        "AAA": {"count": 1, "quantity": "5", "notional": "502.50"},
        "BBB": {"count": 1, "quantity": "2", "notional": "100.50"},
    }


def test_account_pnl_and_equity_curve(report):
    a = report["account"]
    assert (a["cycles"], a["mode"], a["as_of"]) == (3, "paper", "2026-03-02T15:59:00+00:00")
    assert (a["equity"], a["cash"], a["exposure"]) == ("100120.25", "99600.00", "520.25")
    assert (a["realized_pnl"], a["unrealized_pnl"]) == ("-10.25", "130.50")
    assert (a["start_equity"], a["equity_change"]) == ("100000.00", "120.25")
    assert (a["equity_min"], a["equity_max"]) == ("100000.00", "100250.50")
    assert [(p["ts"][11:19], p["equity"]) for p in a["equity_curve"]] == [
        ("09:00:06", "100000.00"),
        ("12:00:00", "100250.50"),
        ("16:00:00", "100120.25"),
    ]
    assert a["equity_curve"][1] == {
        "ts": "2026-03-02T12:00:00+00:00",
        "as_of": None,
        "equity": "100250.50",
        "cash": "99497.50",
        "realized_pnl": "0",
        "unrealized_pnl": "250.50",
    }


def test_notifications(report):
    n = report["notifications"]
    assert (n["sent"], n["failed"], n["dedup_suppressed"], n["rate_limited"]) == (3, 1, 1, 1)
    assert n["by_notifier"] == {
        "email": {"sent": 1, "failed": 0, "dedup_suppressed": 0, "rate_limited": 1},
        "slack": {"sent": 2, "failed": 0, "dedup_suppressed": 1, "rate_limited": 0},
        "webhook": {"sent": 0, "failed": 1, "dedup_suppressed": 0, "rate_limited": 0},
    }


def test_a_day_in_progress_ends_open_periods_at_now(fixture_settings):
    events = list(read_events(fixture_settings, date=D))
    report = aggregate(events, D, now=datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    assert report["window"]["end"] == "2026-03-02T23:30:00+00:00"
    degrade = report["resilience"]["degrade"]
    assert degrade["periods"][-1]["duration_ms"] == 1800000.0
    assert degrade["time_ms"] == 4200000.0


def test_periods_carried_over_from_an_earlier_day_start_at_midnight():
    day = datetime(2026, 3, 2, tzinfo=UTC)
    window = (day, datetime(2026, 3, 3, tzinfo=UTC))
    raw = [
        ev("01:00:00", "resilience", "breaker_half_open"),
        ev("01:00:05", "resilience", "breaker_closed"),
        ev("02:00:00", "resilience", "degrade_exited"),
    ]
    from tradekernel.api import Event, structure

    events = [structure(e, Event) for e in raw]
    breaker = [e for e in events if e.kind.startswith("breaker")]
    got = periods(breaker, "breaker_opened", ("breaker_half_open", "breaker_closed"), window,
                  carry_kind="breaker_half_open")  # fmt: skip
    assert [(p["duration_ms"], p["ended_by"]) for p in got] == [(3600000.0, "breaker_half_open")]
    report = aggregate(events, day.date())
    assert report["resilience"]["breaker"]["time_open_ms"] == 3600000.0
    assert report["resilience"]["degrade"]["time_ms"] == 7200000.0
    # a breaker that closes without being half-open first is not "carried over"
    closed_only = [e for e in events if e.kind == "breaker_closed"]
    assert periods(closed_only, "breaker_opened", ("breaker_half_open", "breaker_closed"),
                   window, carry_kind="breaker_half_open") == []  # fmt: skip


def test_no_events_gives_an_empty_report_with_a_note(tmp_path: Path):
    report = aggregate([], D)
    assert report["note"] == "no events recorded for 2026-03-02"
    assert report["events"] == {"total": 0, "runs": 0, "by_stage": {}}
    assert report["strategist_llm"]["calls"] == 0
    assert report["strategist_llm"]["success_rate"] is None
    assert report["strategist_llm"]["latency_ms"] == lat(0, None, None, None)
    assert report["intents"]["by_final_state"] == {}
    assert report["account"]["equity"] is None and report["account"]["equity_curve"] == []
    assert report["resilience"]["breaker"]["time_open_ms"] == 0


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([5], 50, 5),
        ([5], 95, 5),
        ([1, 2], 50, 1),
        ([1, 2], 95, 2),
        ([3, 1, 2, 4], 50, 2),
        ([3, 1, 2, 4], 75, 3),
        (list(range(1, 21)), 95, 19),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 100, 100),
        ([], 50, None),
    ],
)
def test_percentile_is_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected


def test_jsonl_and_sqlite_logs_give_the_same_report(tmp_path):
    """Events recorded through the real sinks: whichever log is read, the report agrees."""
    from tradekernel.api import Kernel, Settings

    from .conftest import write_config

    config = write_config(tmp_path).read_text()
    config = config.replace('["jsonl"]', '["jsonl", "sqlite"]\nnotifiers = []')
    (tmp_path / "plugins.toml").write_text(config)
    settings = Settings.load(tmp_path / "plugins.toml", environ={})
    kernel = Kernel(settings)
    stamp = [datetime(2026, 3, 2, tzinfo=UTC)]
    kernel.events.clock = lambda: stamp[0]
    for e in FIXTURE_EVENTS:
        stamp[0] = datetime.fromisoformat(e["ts"])
        kernel.emit(e["stage"], e["kind"], severity=e["severity"], **e["fields"])
    kernel.close()
    now = datetime(2026, 3, 5, tzinfo=UTC)
    from_sqlite = daily_report(settings, D, now=now)  # sqlite is enabled: read first
    from_jsonl = daily_report(settings, D, now=now, source="jsonl")
    assert from_sqlite["source"] == "sqlite" and from_jsonl["source"] == "jsonl"
    assert from_sqlite["events"]["total"] == len(FIXTURE_EVENTS)
    strip = ("source", "generated_at")
    assert {k: v for k, v in from_sqlite.items() if k not in strip} == {
        k: v for k, v in from_jsonl.items() if k not in strip
    }
    assert from_sqlite["intents"]["by_final_state"]["submitted"] == 2
    assert from_sqlite["strategist_llm"]["estimated_cost_usd"] == "0.0038"


def test_orders_count_critical_conflicts_by_code_and_abandoned_proposals():
    from tradekernel.api import Event, structure

    raw = [
        ev("01:00:00", "executor", "conflict", "critical", intent_id="a",
           reason="unknown_to_broker: the store says order tk-a was sent"),
        ev("01:00:01", "executor", "conflict", "critical", intent_id="b",
           reason="unknown_to_broker: the store says order tk-b was sent"),
        ev("01:00:02", "executor", "conflict", "critical", intent_id="c",
           reason="journal_mismatch: intent c is approved but its last journal row says"),
        ev("01:00:03", "commander", "recovered", "warning", cancelled=2,
           reason="abandoned_proposal: left proposed by an interrupted run"),
    ]  # fmt: skip
    report = aggregate([structure(e, Event) for e in raw], D)
    o = report["orders"]
    assert o["conflicts_by_code"] == {"journal_mismatch": 1, "unknown_to_broker": 2}
    assert o["abandoned_proposals"] == 2


def test_routing_failovers_holds_and_health_per_broker():
    from tradekernel.api import Event
    from tradekernel_report.markdown import _resilience
    from tradekernel_report.resilience import resilience

    raw = [
        ev("10:00:00", "routing", "unhealthy", "error", broker="binance", reason="unknown_outcome"),
        ev("10:00:01", "routing", "failover", "warning", route="*/USDT", primary="binance",
           secondary="kraken", broker="kraken", reason="unhealthy (open)"),
        ev("10:00:02", "routing", "held", "warning", intent_id="i1", broker="binance",
           reason="broker_unavailable: unhealthy (open)"),
        ev("11:00:00", "routing", "healthy", broker="binance"),
        ev("11:00:01", "routing", "failback", route="*/USDT", broker="binance"),
    ]  # fmt: skip
    events = [
        Event(
            e["stage"], e["kind"], e["fields"], datetime.fromisoformat(e["ts"]),
            severity=e["severity"],
        )
        for e in raw
    ]  # fmt: skip
    window = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    r = resilience(events, window)
    g = r["routing"]
    assert (g["failovers"], g["failbacks"], g["held_intents"]) == (1, 1, 1)
    assert g["unhealthy_by_broker"] == {"binance": 1}
    assert [(d["kind"], d["broker"]) for d in g["decisions"]] == [
        ("failover", "kraken"), ("held", "binance"), ("failback", "binance"),
    ]  # fmt: skip
    line = next(x for x in _resilience(r) if "broker failovers" in x)
    assert "1 / 1 / 1" in line and "binance" in line
    quiet = resilience([], window)
    assert not any("broker failovers" in x for x in _resilience(quiet))


def test_orders_submitted_by_broker():
    from tradekernel.api import Event
    from tradekernel_report.markdown import _orders
    from tradekernel_report.trading import orders

    def sub(broker):
        return Event("executor", "submitted", {"intent_id": "i", "broker": broker})

    o = orders([sub("binance"), sub("binance"), sub("kraken")])
    assert o["submitted_by_broker"] == {"binance": 2, "kraken": 1}
    assert "| submitted | 3 (binance: 2, kraken: 1) |" in _orders(o)
    assert "| submitted | 1 |" in _orders(orders([sub("paper")]))
