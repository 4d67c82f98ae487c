"""The domain model: strict serde round trips, field-naming validation errors, deterministic
intent ids, and order progress flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.llm import Attempt, ChatMessage, ChatRequest, ChatResponse, Usage
from tradekernel.models import (
    Account,
    Bar,
    Decision,
    Event,
    Fill,
    GuardVerdict,
    Intent,
    IntentTransition,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    Quote,
    SkillResult,
)
from tradekernel.serde import ValidationError, structure, unstructure

NOW = datetime(2024, 1, 2, 15, 30, 5, 123000, tzinfo=UTC)
INTENT = Intent.create(
    symbol="AAA",
    side="sell",
    notional="250.00",
    as_of=NOW,
    rationale="cross down",
    confidence=0.7,
    strategist="sma-cross",
    prompt_version="p1",
    created_at=NOW,
)

EXAMPLES = [
    Quote(symbol="AAA", ts=NOW, last="101.25", bid="101.2", ask=Decimal("101.3"), volume=1000),
    Bar(symbol="AAA", ts=NOW, open="1.1", high="1.3", low="0.9", close="1.2", volume="5"),
    Position(symbol="AAA", quantity="10", avg_price="99.5", market_price="101"),
    Account(cash="1000.10", equity="2000", realized_pnl="-3.5", currency="EUR"),
    OrderRequest(
        client_order_id="tk-1",
        symbol="AAA",
        side="buy",
        quantity="5",
        order_type="limit",
        limit_price="100",
        time_in_force="gtc",
        intent_id="int_1",
    ),
    Fill(
        fill_id="f1",
        client_order_id="tk-1",
        symbol="AAA",
        side="buy",
        quantity="2",
        price="100.5",
        ts=NOW,
        commission="0.01",
        broker_order_id="b1",
    ),
    Order(
        client_order_id="tk-1",
        symbol="AAA",
        side="buy",
        quantity="5",
        status="partial_fill",
        filled_quantity="2",
        avg_fill_price="100.5",
        submitted_at=NOW,
        updated_at=NOW,
    ),
    INTENT,
    Decision(intents=(INTENT,), detail="one"),
    Decision.hold("no_signal", error_type="bad_json", detail="x"),
    GuardVerdict.denied("max_position", "max_position_exceeded", "12 > 10"),
    SkillResult(name="market.quote", ok=True, data={"AAA": "101.25"}, latency_ms=1.5),
    Event(
        stage="scan",
        kind="candidates",
        fields={"candidates": ["AAA"], "count": 1},
        ts=NOW,
        run_id="run_1",
        cycle_id="cyc_1",
        severity="warning",
    ),
    IntentTransition(
        intent_id="int_1",
        from_state=None,
        to_state="proposed",
        actor="strategist",
        ts=NOW,
        payload={"ref_price": "101"},
    ),
    ChatRequest(
        model="m",
        messages=(ChatMessage("system", "be brief"), ChatMessage("user", "hi")),
        response_schema={"type": "object"},
        metadata={"prompt_version": "p1"},
    ),
    ChatResponse(
        model="m",
        content="{}",
        finish_reason="stop",
        usage=Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3, cost_usd=0.01),
        attempts=[Attempt(number=1, status=200, latency_ms=12.5)],
        provider="openrouter",
    ),
]


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: type(o).__name__)
def test_strict_round_trip_through_json(obj) -> None:
    data = json.loads(json.dumps(unstructure(obj)))
    again = structure(data, type(obj))
    assert again == obj
    assert unstructure(again) == data


def test_money_is_decimal_text_on_the_wire() -> None:
    data = unstructure(EXAMPLES[0])
    assert data["last"] == "101.25"
    assert isinstance(structure(data, Quote).last, Decimal)
    assert Quote(symbol="A", ts=NOW, last=0.1).last == Decimal("0.1")  # no binary-float noise


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_decimal_round_trip_is_exact(value: Decimal) -> None:
    account = Account(cash=value, equity=value)
    assert structure(json.loads(json.dumps(unstructure(account))), Account) == account


BAD = [
    (Quote, {"symbol": "AAA", "ts": "2024-01-01T00:00:00Z"}, "last: required key is missing"),
    (
        Quote,
        {"symbol": "AAA", "ts": NOW.isoformat(), "last": "abc"},
        "last: expected a number, got 'abc'",
    ),
    (
        Quote,
        {"symbol": "AAA", "ts": "yesterday", "last": "1"},
        "ts: expected an ISO-8601 time, got 'yesterday'",
    ),
    (
        Quote,
        {"symbol": "AAA", "ts": NOW.isoformat(), "last": "1", "colour": "red"},
        "colour: unknown key",
    ),
    (Account, {"cash": "NaN", "equity": "1"}, "cash: expected a finite number, got 'NaN'"),
    (
        Fill,
        {
            "fill_id": "f",
            "client_order_id": "c",
            "symbol": "A",
            "side": "buy",
            "quantity": True,
            "price": "1",
        },
        "quantity: expected a number, got True",
    ),
    (Position, {"symbol": 5, "quantity": "1", "avg_price": "1"}, "symbol: expected str, got 5"),
    (
        Order,
        {"client_order_id": "a", "symbol": "A", "side": "buy", "quantity": 1, "status": "done"},
        "status: expected one of 'working', 'partial_fill', 'filled', 'cancelled', "
        "'rejected', got 'done'",
    ),
    (
        Decision,
        {"intents": [{"id": "x", "symbol": "AAA", "side": "hold", "quantity": "1"}]},
        "intents[0].side: expected one of 'buy', 'sell', got 'hold'",
    ),
    (
        Event,
        {"stage": "a", "kind": "b", "severity": "loud"},
        "severity: expected one of 'debug', 'info', 'warning', 'error', 'critical', got 'loud'",
    ),
    (
        ChatRequest,
        {"model": "m", "messages": [{"role": "user", "content": 5}]},
        "messages[0].content: expected str, got 5",
    ),
    (ChatRequest, {"model": "m", "messages": "hi"}, "messages: expected a list, got 'hi'"),
    (
        Intent,
        {"id": "x", "symbol": "AAA", "side": "buy", "quantity": "1", "notional": "2"},
        "intent: quantity and notional must not both be set",
    ),
    (
        Intent,
        {"id": "x", "symbol": "aaa", "side": "buy", "quantity": "1"},
        "symbol must be upper-case",
    ),
]


@pytest.mark.parametrize(
    ("cls", "data", "message"), BAD, ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_data_names_field_and_value(cls, data, message) -> None:
    with pytest.raises(ValidationError) as exc:
        structure(data, cls)
    assert message in str(exc.value)


def test_validation_error_lists_every_bad_field() -> None:
    with pytest.raises(ValidationError) as exc:
        structure({"cash": "x", "equity": "y"}, Account)
    assert sorted(path for path, _ in exc.value.errors) == ["cash", "equity"]


def test_intent_id_is_deterministic() -> None:
    kwargs = {"symbol": "AAA", "side": "buy", "quantity": "3", "as_of": NOW, "strategist": "s"}
    first = Intent.create(**kwargs, created_at=NOW)
    second = Intent.create(**kwargs, created_at=NOW + timedelta(hours=1))
    assert first.id == second.id
    assert first.id.startswith("int_") and len(first.id) == 4 + 24
    assert first.client_order_id == "tk-" + first.id.removeprefix("int_")
    assert Intent.create(**{**kwargs, "as_of": NOW + timedelta(minutes=1)}).id != first.id
    assert Intent.create(**{**kwargs, "quantity": "4"}).id != first.id
    assert Intent.create(**{**kwargs, "side": "sell"}).id != first.id
    # serde keeps the id: a journaled intent reloads as the same intent
    assert structure(unstructure(first), Intent).id == first.id


def test_intent_rejects_bad_amounts() -> None:
    with pytest.raises(ValueError, match="positive"):
        Intent.create(symbol="AAA", side="buy", quantity="0")
    with pytest.raises(ValueError, match="limit_price"):
        Intent.create(symbol="AAA", side="buy", quantity="1", order_type="limit")


@pytest.mark.parametrize(
    ("status", "filled", "progress", "terminal"),
    [
        ("working", "0", Decimal(0), False),
        ("partial_fill", "4", Decimal("0.4"), False),
        ("filled", "10", Decimal(1), True),
        ("cancelled", "4", Decimal("0.4"), True),
        ("rejected", "0", Decimal(0), True),
    ],
)
def test_order_progress_and_terminal(status, filled, progress, terminal) -> None:
    order = Order(
        client_order_id="c",
        symbol="A",
        side="buy",
        quantity="10",
        status=status,
        filled_quantity=filled,
    )
    assert order.progress == progress
    assert order.terminal is terminal
    assert OrderStatus(status).terminal is terminal


def test_order_progress_of_an_empty_order_is_zero() -> None:
    order = Order(client_order_id="c", symbol="A", side="buy", quantity="0", status="rejected")
    assert order.progress == 0
