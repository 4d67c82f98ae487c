"""validate_event: the frozen event.v1 envelope and catalogue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.event_schema import CATALOGUE, validate_event
from tradekernel.eventlog import event_record
from tradekernel.models import Event

SAMPLE = {
    "str": "x",
    "int": 3,
    "number": 1.5,
    "decimal": "12.50",
    "bool": True,
    "list": [],
    "dict": {},
}


def _event(stage: str, kind: str, **fields) -> dict:
    return event_record(Event(stage=stage, kind=kind, fields=fields))


def _required(stage: str, kind: str) -> dict:
    specs = CATALOGUE[stage][kind]
    return {name: SAMPLE[spec.type] for name, spec in specs.items() if spec.required}


@pytest.mark.parametrize(
    ("stage", "kind"), [(s, k) for s, kinds in CATALOGUE.items() for k in kinds]
)
def test_every_catalogued_kind_accepts_its_required_fields(stage, kind):
    assert validate_event(_event(stage, kind, **_required(stage, kind))) == []


def test_a_full_llm_decision_is_valid():
    data = _event(
        "strategist_llm",
        "decision",
        provider="openrouter",
        model="m",
        ok=False,
        latency_ms=812,
        attempts=2,
        error_type="SchemaError",
        prompt_tokens=900,
        completion_tokens=50,
        total_tokens=950,
        estimated_cost_usd=Decimal("0.0012"),
        cache_hit=False,
        extra_field_from_a_newer_producer=1,
    )
    assert data["fields"]["estimated_cost_usd"] == "0.0012"
    assert validate_event(data) == []


def test_missing_and_mistyped_fields_are_named():
    data = _event("strategist_llm", "decision", ok="yes", latency_ms=True, model=3)
    assert validate_event(data) == [
        "strategist_llm.decision: required field 'provider' is missing",
        "strategist_llm.decision: field 'model': expected str, got 3",
        "strategist_llm.decision: field 'ok': expected bool, got 'yes'",
        "strategist_llm.decision: field 'latency_ms': expected number, got True",
    ]
    bad_money = _event("monitor", "fill", client_order_id="c", fill_id="f", price="ten")
    assert validate_event(bad_money) == ["monitor.fill: field 'price': expected decimal, got 'ten'"]


def test_envelope_problems():
    data = _event("scan", "candidates", count=1)
    assert validate_event({**data, "schema": "event.v2"}) == [
        "schema: expected 'event.v1', got 'event.v2'"
    ]
    assert validate_event({**data, "ts": "2026-03-02T10:00:00"}) == [
        "ts: expected an ISO-8601 time with a timezone, got '2026-03-02T10:00:00'"
    ]
    assert validate_event({**data, "severity": "fatal"})[0].startswith("severity: expected one of")
    assert validate_event({**data, "stage": "Scan"})[0].startswith("stage: expected a non-empty")
    assert validate_event({**data, "kind": ""})[0].startswith("kind: expected a non-empty")
    assert validate_event({**data, "fields": []}) == ["fields: expected a JSON object, got []"]
    assert validate_event({**data, "extra": 1}) == ["unknown envelope key 'extra'"]
    missing = dict(data)
    del missing["run_id"]
    assert validate_event(missing) == ["missing envelope key 'run_id'"]
    assert validate_event([1]) == ["expected a JSON object, got list"]


def test_unknown_stages_and_kinds():
    assert validate_event(_event("x_mydesk", "anything", free="form")) == []
    assert validate_event(_event("mydesk", "anything")) == [
        "stage 'mydesk' is not in the event.v1 catalogue "
        "(third-party plugins use a stage named x_<plugin>)"
    ]
    assert validate_event(_event("risk", "maybe")) == [
        "kind 'maybe' is not in the event.v1 catalogue for stage 'risk'"
    ]


@given(
    count=st.integers(min_value=0, max_value=10_000),
    candidates=st.lists(st.text(min_size=1, max_size=5), max_size=5),
    severity=st.sampled_from(["debug", "info", "warning", "error", "critical"]),
)
def test_events_the_kernel_builds_are_valid(count, candidates, severity):
    event = Event(
        stage="scan",
        kind="candidates",
        severity=severity,
        fields={"count": count, "candidates": candidates},
    )
    assert validate_event(event_record(event)) == []
