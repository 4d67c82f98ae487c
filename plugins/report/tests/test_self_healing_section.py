"""The resilience section lists what self-healing did and each adaptive limit change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradekernel.api import Event
from tradekernel_report import markdown
from tradekernel_report.resilience import resilience

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _events() -> list[Event]:
    return [
        Event(
            "heal",
            "acted",
            {
                "playbook": "degrade_exit",
                "action": "exit_degrade",
                "outcome": "ok",
                "reason": "5 healthy cycles",
                "actor": "auto",
            },
            ts=T0,
        ),
        Event(
            "heal",
            "escalated",
            {
                "playbook": "breaker_flapping",
                "action": "latch_open",
                "outcome": "escalated",
                "reason": "breaker opened 3 times",
                "opens": 3,
            },
            ts=T0 + timedelta(minutes=1),
            severity="critical",
        ),
        Event(
            "guard",
            "adaptive_limit",
            {
                "guard": "adaptive_notional",
                "symbol": "AAA",
                "ceiling": "1000",
                "limit": "550.00",
                "previous": "1000",
                "volatility": 0.01,
                "drawdown": 0.1,
            },
            ts=T0 + timedelta(minutes=2),
        ),
    ]


def test_section_counts_and_items():
    r = resilience(_events(), (T0, T0 + timedelta(days=1)))
    heal = r["self_healing"]
    assert heal["count"] == 2 and heal["escalated"] == 1 and heal["gave_up"] == 0
    assert heal["by_playbook"] == {"breaker_flapping": 1, "degrade_exit": 1}
    (item,) = r["adaptive_limits"]["items"]
    assert (item["symbol"], item["ceiling"], item["limit"], item["drawdown"]) == (
        "AAA", "1000", "550.00", 0.1,
    )  # fmt: skip


def test_markdown_shows_both_tables():
    r = resilience(_events(), (T0, T0 + timedelta(days=1)))
    text = "\n".join(markdown._resilience(r))
    assert "### Self-healing" in text and "| degrade_exit | acted | exit_degrade |" in text
    assert "### Adaptive limits" in text and "| AAA | 1000 | 550.00 |" in text


def test_empty_day_has_no_tables():
    r = resilience([], (T0, T0 + timedelta(days=1)))
    assert r["self_healing"]["count"] == 0 and r["adaptive_limits"] == {"count": 0, "items": []}
    assert "Self-healing" not in "\n".join(markdown._resilience(r))
