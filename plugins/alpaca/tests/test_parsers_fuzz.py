"""Hostile JSON into the parsers: anything either parses into a consistent model or
raises BadResponse; never another exception, never a fill or an order from garbage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import OrderStatus
from tradekernel_alpaca import parse, wire
from tradekernel_alpaca.wire import BadResponse

ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "tk-0123456789abcdef01234567",
    "created_at": "2021-03-16T18:38:01.942282Z",
    "updated_at": "2021-03-16T18:38:01.942282Z",
    "submitted_at": "2021-03-16T18:38:01.937734123Z",
    "symbol": "AAPL",
    "qty": "3",
    "filled_qty": "1",
    "filled_avg_price": "100.5",
    "order_type": "limit",
    "type": "limit",
    "side": "buy",
    "time_in_force": "day",
    "limit_price": "101",
    "status": "partially_filled",
}
ACTIVITY = {
    "id": "20220304135420903::047e252a-a8a3-4e35-84e2-29814cbf5057",
    "activity_type": "FILL",
    "transaction_time": "2022-03-04T18:54:20.903569Z",
    "type": "partial_fill",
    "price": "2907.15",
    "qty": "1.792161878",
    "side": "buy",
    "symbol": "AMZN",
    "order_id": "cddf433b-1a41-497d-ae31-50b1fee56fff",
}
POSITION = {"symbol": "AAPL", "qty": "-5", "side": "short", "avg_entry_price": "100.0"}
ACCOUNT = {"cash": "-23140.2", "equity": "103820.56", "buying_power": "1", "currency": "USD"}
ASSET = {"symbol": "AAPL", "fractionable": True, "min_order_size": "0.0001"}

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        ["NaN", "-Infinity", "1e999", "-1", "0", "1e-999", "\x1b[31m", "3.0", " 2 ", "0x10", ""]
    ),
)
hostile = st.recursive(
    hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _roundtrip(value: Any) -> Any:
    """The value as the broker would see it after the wire (Decimal numbers)."""
    text = json.dumps(value, allow_nan=True)
    try:
        return wire.parse_json(text.encode())
    except BadResponse:
        return None


def _check_order(value: Any) -> None:
    try:
        venue = parse.parse_order(value)
    except BadResponse:
        return
    order = venue.order
    assert 0 <= order.filled_quantity <= order.quantity
    assert order.quantity.is_finite() and order.quantity > 0
    if order.status is OrderStatus.FILLED:
        assert order.filled_quantity == order.quantity
    if order.filled_quantity:
        assert order.avg_fill_price is not None and order.avg_fill_price > 0


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(ORDER)), value=hostile)
def test_an_order_with_one_hostile_field(field: str, value: Any) -> None:
    _check_order(_roundtrip({**ORDER, field: value}))


@settings(max_examples=200, deadline=None)
@given(drop=st.sets(st.sampled_from(sorted(ORDER))))
def test_an_order_missing_fields(drop: set[str]) -> None:
    _check_order(_roundtrip({k: v for k, v in ORDER.items() if k not in drop}))


@settings(max_examples=200, deadline=None)
@given(value=hostile)
def test_any_json_as_an_order(value: Any) -> None:
    _check_order(_roundtrip(value))


@settings(max_examples=300, deadline=None)
@given(
    target=st.sampled_from(["activity", "position", "account", "asset"]),
    field=st.text(min_size=1, max_size=20) | st.sampled_from(["qty", "price", "cash", "id"]),
    value=hostile,
)
def test_other_objects_with_a_hostile_field(target: str, field: str, value: Any) -> None:
    base = {"activity": ACTIVITY, "position": POSITION, "account": ACCOUNT, "asset": ASSET}
    data = _roundtrip({**base[target], field: value})
    try:
        if target == "activity":
            _, fill = parse.parse_fill(data, "tk-x")
            assert fill.quantity > 0 and fill.price > 0 and fill.ts.utcoffset().total_seconds() == 0
        elif target == "position":
            position = parse.parse_position(data)
            assert position.quantity.is_finite() and position.avg_price >= 0
        elif target == "account":
            account = parse.parse_account(data).account
            assert account.equity >= 0 and account.cash.is_finite()
        else:
            constraints = parse.parse_asset(data)
            assert constraints.quantity_increment > 0
    except BadResponse:
        pass


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_as_a_body(content: bytes) -> None:
    try:
        value = wire.parse_json(content)
    except BadResponse:
        return
    _check_order(value)


@pytest.mark.parametrize("body", [b"NaN", b'{"qty": NaN}', b"[" * 100_000, b"\xff\xfe", b"{", b""])
def test_the_usual_hostile_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(BadResponse):
        wire.parse_json(body)


def test_a_body_over_the_cap_is_refused_unread() -> None:
    with pytest.raises(BadResponse, match="over"):
        wire.parse_json(b" " * (wire.MAX_BODY + 1))


def test_numbers_beyond_the_range_are_refused() -> None:
    huge = wire.parse_json(b'{"x": ' + b"1" * 5000 + b"}")["x"]
    for value in ("1e16", "-1", "NaN", "Infinity", "1" * 70, huge):
        try:
            wire.decimal({"x": value}, "x")
        except BadResponse:
            continue
        raise AssertionError(f"{value} was accepted")


def test_times_are_utc_whatever_the_offset_and_precision() -> None:
    when = wire.timestamp({"t": "2021-03-16T14:38:01.942282123-04:00"}, "t")
    assert when.isoformat() == "2021-03-16T18:38:01.942282+00:00"
    for bad in ("2021-03-16T18:38:01", "yesterday", "2021-13-40T00:00:00Z"):
        try:
            wire.timestamp({"t": bad}, "t")
        except BadResponse:
            continue
        raise AssertionError(f"{bad} was accepted")


@pytest.mark.parametrize(
    "text",
    ["1_000", "\uff13", "\u0663", " 1", "1\n", "1 ", "+1", "1e-999999999", "1e999", "0x10", "1e"],
)
def test_a_number_text_alpaca_never_sends_is_refused(text) -> None:
    with pytest.raises(BadResponse, match="qty"):
        wire.decimal({"qty": text}, "qty")


def test_extreme_exponents_in_a_json_number_are_refused() -> None:
    body = wire.parse_json('{"qty": 1e-999999999}')
    with pytest.raises(BadResponse, match="qty: out of range"):
        wire.decimal(body, "qty")


@pytest.mark.parametrize(
    "text, value", [("187.5", "187.5"), ("3", "3"), ("1E+2", "100"), (".5", "0.5"), ("0.00", "0")]
)
def test_plain_number_texts_parse(text, value) -> None:
    assert wire.decimal({"qty": text}, "qty") == wire.Decimal(value)


def test_minus_zero_is_zero() -> None:
    for body in ({"qty": "-0"}, wire.parse_json('{"qty": -0.0}')):
        number = wire.decimal(body, "qty")
        assert number == 0 and not number.is_signed()


_VALUES = st.one_of(
    st.sampled_from(["1", "0.5", "3", "100.5", "101", "101.01", "0", "-1", "NaN", "1e400"]),
    st.sampled_from(["AAPL", "TSLA", "buy", "sell", "sell_short"]),
    st.none(),
    st.integers(),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.sampled_from(["a1", "a2", "a3", "a4"]),
                "symbol": _VALUES,
                "side": _VALUES,
                "qty": _VALUES,
                "price": _VALUES,
            }
        ),
        max_size=6,
    )
)
def test_believed_fills_always_agree_with_their_order(changes: list[dict[str, Any]]) -> None:
    from decimal import Decimal

    from tradekernel_alpaca.checks import believe

    venue = parse.parse_order(ORDER)  # a limit buy of 3 AAPL at 101, 1 filled
    items = [{**ACTIVITY, "order_id": venue.order_id, **c} for c in changes]
    fills, _ = believe(items, {venue.order_id: venue})
    assert sum((f.quantity for f in fills), Decimal(0)) <= venue.order.filled_quantity
    for fill in fills:
        assert (fill.symbol, fill.side.value) == ("AAPL", "buy")
        assert 0 < fill.price <= Decimal(101) and fill.quantity > 0
        assert fill.client_order_id == venue.order.client_order_id
