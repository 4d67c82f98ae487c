"""Sizing (kernel/tradekernel/portfolio/sizing.py): unsized intents get a quantity from
their target weight or their strategy's sizer, rounded to the broker's constraints; a
size that rounds to zero, or cannot be had, is dropped with a stable code."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.components import OrderConstraints, SizeRequest, SizeResult
from tradekernel.constraints import INTENT_UNSIZED, fit
from tradekernel.defaults.sizer import FixedSizer, FixedSizerConfig
from tradekernel.errors import ConfigError, PluginError
from tradekernel.event_schema import validate_event
from tradekernel.models import Account, Intent, Position, Quote
from tradekernel.portfolio.sizing import (
    SIZE_NO_BUDGET,
    SIZE_NO_PRICE,
    SIZE_ROUNDS_TO_ZERO,
    SIZER_ERROR,
    TARGET_REACHED,
    SizingContext,
    size_intents,
)
from tradekernel.serde import structure, unstructure
from tradekernel.testing import KernelFactory, config_text, sample_bars

AT = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def intent(side: str = "buy", symbol: str = "AAA", **kwargs) -> Intent:
    kwargs.setdefault("strategist", "fast")
    return Intent.create(symbol=symbol, side=side, as_of=AT, **kwargs)


def quotes(price="100", symbol="AAA") -> dict[str, Quote]:
    return {symbol: Quote(symbol=symbol, ts=AT, last=price)}


class Fixed:
    """A sizer double: always the same quantity (records what it was asked)."""

    def __init__(self, quantity="3", **result) -> None:
        self.quantity = quantity
        self.result = result
        self.requests: list[SizeRequest] = []

    def size(self, request: SizeRequest) -> SizeResult:
        self.requests.append(request)
        return SizeResult(self.quantity, "double", {"asked": "yes"}, **self.result)


def ctx(sizer=None, *, equity="10000", **kwargs) -> SizingContext:
    sizer = sizer or Fixed()
    kwargs.setdefault("quotes", quotes())
    kwargs.setdefault("account", Account(cash=equity, equity=equity) if equity else None)
    return SizingContext(sizer_for=lambda strategy: ("double", sizer), **kwargs)


# -- the model ---------------------------------------------------------------------------

# Ids of intents made before target_weight/stop_price/sizing existed (the same content,
# the same id: journals and client order ids of old intents stay valid).
GOLDEN = [
    (
        {"symbol": "AAPL", "side": "buy", "quantity": 10, "strategist": "sma-cross", "as_of": AT},
        "int_1e29efec635e8cfd0960bc31",
    ),
    (
        {
            "symbol": "BTC/USD",
            "side": "sell",
            "notional": "250.5",
            "order_type": "limit",
            "limit_price": "101.25",
            "time_in_force": "gtc",
            "strategist": "llm",
            "prompt_version": "p3",
            "as_of": AT,
        },
        "int_65e7ea8187feed96a2b11503",
    ),
    ({"symbol": "AAA", "side": "buy", "quantity": "1.50"}, "int_9001d44239d9f984accb0a5d"),
]


@pytest.mark.parametrize(("content", "expected"), GOLDEN)
def test_existing_intent_ids_are_unchanged(content, expected):
    assert Intent.create(**content).id == expected


def test_new_fields_are_part_of_the_id_only_when_set():
    base = intent()
    assert intent().id == base.id  # deterministic
    assert intent(target_weight="0.1").id != base.id
    assert intent(target_weight="0.1").id == intent(target_weight="0.10").id
    assert intent(stop_price=95).id != base.id
    sized = intent(quantity=2)
    recorded = intent(quantity=2, sizing={"sizer": "kelly"})
    assert recorded.id == sized.id  # the record is not content: the quantity is


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quantity": 1, "notional": 1},
        {"target_weight": "1.5"},
        {"target_weight": "-0.1"},
        {"target_weight": "NaN"},
        {"target_weight": "0.1", "quantity": 1},
        {"target_weight": "0.1", "notional": 10},
        {"stop_price": 0},
        {"stop_price": "-1"},
        {"stop_price": "Infinity"},
        {"sizing": {"sizer": "x"}},
        {"quantity": 0},
        {"notional": "-5"},
    ],
)
def test_bad_unsized_intents_are_refused(kwargs):
    with pytest.raises(ValueError):
        intent(**kwargs)


def test_an_unsized_intent_round_trips_through_serde():
    for original in (
        intent(target_weight="0.25", stop_price="98.5"),
        intent(),
        intent(quantity=3, sizing={"sizer": "kelly", "kelly": "0.1"}),
    ):
        back = structure(unstructure(original), Intent)
        assert back == original and back.id == original.id


def test_the_constraints_rule_drops_an_unsized_intent():
    result = fit(intent(), OrderConstraints(), Decimal(100), Decimal(1))
    assert result.reason == INTENT_UNSIZED


# -- size_intents ------------------------------------------------------------------------


def test_intents_with_an_amount_pass_unchanged():
    given_ = [intent(quantity=5), intent(notional=100)]
    sizer = Fixed()
    out, denials = size_intents(given_, ctx(sizer))
    assert out == given_ and [a is b for a, b in zip(out, given_, strict=True)] == [True, True]
    assert denials == [] and sizer.requests == []


def test_a_direction_gets_its_sizers_quantity_and_a_record():
    sizer = Fixed("3.7")
    direction = intent(confidence=0.6, stop_price=95)
    out, denials = size_intents([direction], ctx(sizer))
    assert denials == []
    [sized] = out
    assert sized.quantity == Decimal(3)  # [runtime] quantity_step 1: rounded down
    assert sized.id == Intent.create(**_content(sized)).id != direction.id
    assert sized.target_weight is None and sized.stop_price == Decimal(95)
    assert sized.sizing == {
        "asked": "yes",
        "sizer": "double",
        "method": "double",
        "price": "100",
        "budget": "10000",
        "held": "0",
        "raw_quantity": "3.7",
        "quantity": "3",
    }
    [request] = sizer.requests
    assert request.price == 100 and request.budget == 10000 and request.strategy == "fast"
    again, _ = size_intents([direction], ctx(Fixed("3.7")))
    assert again[0].id == sized.id  # the same inputs, the same sized intent


def _content(i: Intent) -> dict:
    import attrs

    return {a.name: getattr(i, a.name) for a in attrs.fields(Intent) if a.name != "id"}


@pytest.mark.parametrize(
    ("side", "weight", "held", "expected"),
    [
        ("buy", "0.1", None, "10"),  # 10 % of 10,000 at 100
        ("buy", "0.1", "4", "6"),
        ("buy", "0.1", "-5", "15"),  # covers the short, then the long
        ("sell", "0.05", "10", "5"),
        ("sell", "0", "10", "10"),  # weight 0: close it
    ],
)
def test_a_target_weight_moves_the_position_toward_it(side, weight, held, expected):
    positions = {"AAA": Position("AAA", held, 100)} if held else {}
    out, denials = size_intents([intent(side, target_weight=weight)], ctx(positions=positions))
    assert denials == [] and out[0].quantity == Decimal(expected)
    assert out[0].sizing["sizer"] == "target_weight" and out[0].sizing["weight"] == weight


@pytest.mark.parametrize(
    ("side", "weight", "held"),
    [("buy", "0.1", "10"), ("buy", "0.1", "12"), ("sell", "0.1", "10"), ("sell", "0.2", "3")],
)
def test_a_target_weight_already_reached_is_dropped(side, weight, held):
    positions = {"AAA": Position("AAA", held, 100)}
    out, denials = size_intents([intent(side, target_weight=weight)], ctx(positions=positions))
    assert out == [] and [d.code for d in denials] == [TARGET_REACHED]


def test_a_size_that_rounds_to_zero_is_dropped_with_its_code():
    events = []
    direction = intent(target_weight="0.5")
    out, denials = size_intents(
        [direction],
        ctx(quotes=quotes("1000"), equity="100", emit=lambda *a, **f: events.append((a, f))),
    )
    assert out == []
    [denial] = denials
    assert denial.code == SIZE_ROUNDS_TO_ZERO and denial.intent_id == direction.id
    assert denial.strategy == "fast" and "0.05" in denial.detail
    [((stage, kind), fields)] = events
    assert (stage, kind, fields["code"]) == ("portfolio", "size_dropped", SIZE_ROUNDS_TO_ZERO)


def test_sizes_follow_the_brokers_increment_and_minimums():
    fine = OrderConstraints(quantity_increment="0.001", min_quantity="0.001")
    out, _ = size_intents(
        [intent(symbol="BTC", target_weight="0.01")],
        ctx(
            quotes=quotes("30000", "BTC"),
            constraints=lambda s: fine,
            quantity_step=Decimal("0.0001"),
        ),
    )
    assert out[0].quantity == Decimal("0.003")  # 100 / 30000 = 0.00333.. down to 0.001
    tight = OrderConstraints(quantity_increment="0.001", min_quantity="0.01")
    out, denials = size_intents(
        [intent(symbol="BTC", target_weight="0.02")],  # 0.006 < the minimum 0.01
        ctx(
            quotes=quotes("30000", "BTC"),
            constraints=lambda s: tight,
            quantity_step=Decimal("0.0001"),
        ),
    )
    assert out == [] and [d.code for d in denials] == ["quantity_below_minimum"]
    notional = OrderConstraints(min_notional=500)
    out, denials = size_intents([intent(target_weight="0.01")], ctx(constraints=lambda s: notional))
    assert [d.code for d in denials] == ["notional_below_minimum"]


def test_a_sell_never_turns_a_long_into_a_short():
    positions = {"AAA": Position("AAA", "2", 100)}
    out, _ = size_intents([intent("sell")], ctx(Fixed("50"), positions=positions))
    assert out[0].quantity == Decimal(2) and out[0].sizing["capped_at_position"] == "true"


class Raises:
    def size(self, request):
        raise RuntimeError("boom")


class Garbage:
    def size(self, request):
        return {"quantity": 5}


@pytest.mark.parametrize(
    ("sizer", "kwargs", "code"),
    [
        (Raises(), {}, SIZER_ERROR),
        (Garbage(), {}, SIZER_ERROR),
        (Fixed(code="not_enough_bars"), {}, "not_enough_bars"),
        (Fixed(), {"quotes": {}}, SIZE_NO_PRICE),
        (Fixed(), {"quotes": quotes("0")}, SIZE_NO_PRICE),
        (Fixed(), {"equity": None}, SIZE_NO_BUDGET),
        (Fixed(), {"equity": "-5"}, SIZE_NO_BUDGET),
        (Fixed("0"), {}, SIZE_ROUNDS_TO_ZERO),
        (Fixed("0.4"), {}, SIZE_ROUNDS_TO_ZERO),
    ],
)
def test_what_cannot_be_sized_is_dropped_never_guessed(sizer, kwargs, code):
    out, denials = size_intents([intent(), intent(quantity=1)], ctx(sizer, **kwargs))
    assert [d.code for d in denials] == [code]
    assert [i.quantity for i in out] == [Decimal(1)]  # the sized one goes on


def test_a_strategy_budget_comes_before_the_account_equity():
    sizer = Fixed()
    size_intents([intent()], ctx(sizer, budgets={"fast": Decimal(2500)}))
    assert sizer.requests[0].budget == 2500


def test_a_sizer_cannot_forge_a_bad_quantity():
    with pytest.raises(ValueError):
        SizeResult("-1")
    with pytest.raises(ValueError):
        SizeResult("NaN")


@settings(max_examples=150, deadline=None)
@given(
    weight=st.decimals(min_value=0, max_value=1, places=6),
    price=st.decimals(min_value=Decimal("1e-9"), max_value=Decimal("1e12"), places=9),
    equity=st.decimals(min_value=Decimal("-10"), max_value=Decimal("1e12"), places=2),
    held=st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=4),
    side=st.sampled_from(["buy", "sell"]),
)
def test_sizing_a_weight_never_raises_and_never_oversizes(weight, price, equity, held, side):
    positions = {"AAA": Position("AAA", held, 1)}
    out, denials = size_intents(
        [intent(side, target_weight=weight)],
        ctx(
            quotes=quotes(price),
            equity=str(equity),
            positions=positions,
            quantity_step=Decimal("0.0001"),
        ),
    )
    assert len(out) + len(denials) == 1
    for sized in out:
        assert sized.quantity > 0
        target = weight * equity / price
        if side == "buy":
            assert held + sized.quantity <= target
        else:
            assert held - sized.quantity >= target
            assert sized.quantity <= held


# -- through a kernel --------------------------------------------------------------------


def test_a_kernel_picks_each_strategys_sizer_from_portfolio_sizing(tmp_path):
    extra = (
        "[portfolio.sizing]\n"
        'default = "fixed"\n'
        'strategies = { slow = "vol" }\n\n'
        "[sizer.fixed]\nnotional = 1000\n\n"
        '[sizer.vol]\nuse = "volatility_target"\ntarget = 0.01\nlookback = 14\n'
    )
    with KernelFactory(tmp_path) as factory:
        kernel, recorder = factory.build(config_text({"metrics_sinks": []}, extra))
        assert kernel.selected("sizer") == ["fixed", "vol"]
        kernel.check()  # every sizer in use builds with its config
        bars = {"AAA": sample_bars("AAA", 30)}
        context = SizingContext.for_kernel(
            kernel,
            quotes=quotes("100"),
            bars=bars,
            account=Account(cash=100000, equity=100000),
        )
        fast, slow = intent(), intent(strategist="slow")
        out, denials = size_intents([fast, slow], context)
    assert denials == []
    assert out[0].quantity == Decimal(10) and out[0].sizing["sizer"] == "fixed"
    assert out[0].sizing["method"] == "fixed_notional"
    assert out[1].sizing["sizer"] == "vol" and out[1].sizing["method"] == "atr"
    assert out[1].quantity > 0
    sized = recorder.of("portfolio", "sized")
    assert [e.fields["intent_id"] for e in sized] == [i.id for i in out]
    for event in sized:
        assert validate_event(unstructure(event)) == []


def test_an_unknown_sizer_is_a_config_error_naming_portfolio_sizing(tmp_path):
    extra = '[portfolio.sizing]\nstrategies = { fast = "no-such-sizer" }\n'
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build(config_text({"metrics_sinks": []}, extra))
        with pytest.raises(PluginError, match=r"\[portfolio.sizing\]"):
            kernel.check()


def test_a_misspelt_sizing_key_is_refused(tmp_path):
    with KernelFactory(tmp_path) as factory, pytest.raises(ConfigError, match="defualt"):
        factory.build(config_text({}, '[portfolio.sizing]\ndefualt = "kelly"\n'))


def test_the_fixed_sizer_without_a_size_refuses():
    result = FixedSizer().size(
        SizeRequest(intent=intent(), strategy="fast", price=Decimal(10), budget=Decimal(100))
    )
    assert result.code == "no_fixed_size"
    with pytest.raises(ValueError):
        FixedSizerConfig(quantity=Decimal(1), notional=Decimal(1))


class Loud:
    """A sizer whose inputs try to overwrite the kernel's and flood the record."""

    def size(self, request):
        inputs = {"price": "1", "budget": "1e9", **{f"k{i}": "x" * 500 for i in range(100)}}
        return SizeResult("2", "loud", inputs)


def test_a_sizer_cannot_rewrite_the_kernels_inputs_nor_flood_the_record():
    out, _ = size_intents([intent()], ctx(Loud()))
    record = out[0].sizing
    assert record["price"] == "100" and record["budget"] == "10000"
    assert len(record) <= 40 and max(len(v) for v in record.values()) <= 200


def test_an_intent_without_sizing_fields_is_stored_as_before():
    data = unstructure(intent(quantity=1))
    assert not {"target_weight", "stop_price", "sizing"} & set(data)
    assert unstructure(intent(target_weight="0.2"))["target_weight"] == "0.2"
