"""docs/reports.md documents every key of report.v1."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tradekernel_report import CHARTS, daily_report

DOCS = Path(__file__).resolve().parents[3] / "docs" / "reports.md"
DISTRIBUTIONS = {
    "by_stage", "attempts", "error_types", "fallback_reasons", "prompt_version_total",
    "schema_version_total", "models", "by_scope", "by_strategist", "holds_by_reason",
    "by_reason", "by_kind", "by_actor", "by_node", "by_final_state", "by_code", "by_guard",
    "failed_by_reason", "by_status", "by_side", "unhealthy_by_broker",
    "submitted_by_broker", "positions", "marks", "budget_denials", "approvers",
    "by_state", "by_policy_version", "by_rule",
}  # fmt: skip
"""Keys whose values are {value: count}: their inner keys are data, not schema."""
KEYED_BY_NAME = {"by_skill", "by_symbol", "by_notifier"}
"""Keys whose inner keys are names (skills, symbols, notifiers) mapping to fixed rows."""


def schema_keys(value: Any, parent: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(value, list):
        for item in value[:1]:
            keys |= schema_keys(item, parent)
    elif isinstance(value, dict) and parent not in DISTRIBUTIONS:
        for key, inner in value.items():
            if parent in KEYED_BY_NAME:
                keys |= schema_keys(inner)
            else:
                keys.add(key)
                keys |= schema_keys(inner, key)
    return keys


def test_every_report_key_and_chart_is_documented(fixture_settings):
    report = daily_report(fixture_settings, date(2026, 3, 2), now=datetime(2026, 3, 5, tzinfo=UTC))
    text = DOCS.read_text(encoding="utf-8")
    keys = schema_keys(report)
    assert {"schema", "hourly", "time_to_approve_ms", "equity_curve", "ended_by"} <= keys
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert missing == [], f"undocumented report.v1 keys: {missing}"
    for chart_id, title in CHARTS:
        assert f"`{chart_id}`" in text and title in text
