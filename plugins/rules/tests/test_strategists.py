from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from tradekernel.api import ConfigError, Settings, Side
from tradekernel_rules import SmaCrossConfig, SmaCrossStrategist


def sma(fast=2, slow=4, **kw) -> SmaCrossStrategist:
    return SmaCrossStrategist(SmaCrossConfig(fast=fast, slow=slow, **kw))


def test_cross_up_buys_configured_quantity(bars_for, input_for):
    bars = bars_for("AAA", [10, 10, 10, 10, 10, 12])
    decision = sma(quantity=7).decide(input_for({"AAA": bars}))
    (intent,) = decision.intents
    assert intent.side is Side.BUY
    assert intent.quantity == Decimal(7)
    assert intent.strategist == "sma-cross"
    assert intent.as_of == bars[-1].ts
    assert intent.rationale == "fast SMA(2) crossed above slow SMA(4): 11 > 10.5"


def test_cross_up_buys_exactly_once_over_a_series(bars_for, input_for):
    closes = [10] * 5 + [12, 13, 14, 15, 16, 17]
    strat = sma()
    buys = []
    for end in range(1, len(closes) + 1):
        decision = strat.decide(input_for({"AAA": bars_for("AAA", closes[:end])}))
        buys.extend((end, i) for i in decision.intents)
    assert [(end, i.side, i.quantity) for end, i in buys] == [(6, Side.BUY, Decimal(10))]


def test_no_buy_while_a_position_is_held(bars_for, input_for):
    bars = bars_for("AAA", [10, 10, 10, 10, 10, 12])
    decision = sma().decide(input_for({"AAA": bars}, positions={"AAA": 5}))
    assert decision.hold_reason == "no_signal"


def test_cross_down_sells_the_whole_position(bars_for, input_for):
    closes = [10] * 5 + [15, 16, 17, 18, 14, 11, 8, 6]
    strat = sma()
    sells = []
    for end in range(6, len(closes) + 1):
        decision = strat.decide(
            input_for({"AAA": bars_for("AAA", closes[:end])}, positions={"AAA": "12.5"})
        )
        sells.extend(decision.intents)
    (sell,) = sells
    assert sell.side is Side.SELL
    assert sell.quantity == Decimal("12.5")
    assert "crossed below" in sell.rationale


def test_cross_down_without_position_does_not_sell(bars_for, input_for):
    closes = [10, 20, 20, 20, 20, 10]
    bars = {"AAA": bars_for("AAA", closes)}
    assert sma().decide(input_for(bars, positions={"AAA": 3})).intents[0].side is Side.SELL
    assert sma().decide(input_for(bars)).hold_reason == "no_signal"


def test_with_several_strategies_it_decides_from_its_own_position(bars_for, input_for):
    """The account holds 30 (another strategy's 20 and this one's 10): a cross down sells
    this strategy's 10, and a cross up buys although the account holds the other's."""
    down = {"AAA": bars_for("AAA", [10, 20, 20, 20, 20, 10])}
    own = attrs.evolve(
        input_for(down, positions={"AAA": 30}), strategy="fast", strategy_positions={"AAA": 10}
    )
    (sell,) = sma().decide(own).intents
    assert sell.side is Side.SELL and sell.quantity == 10
    flat = attrs.evolve(own, strategy_positions={})
    assert sma().decide(flat).hold_reason == "no_signal"  # nothing of its own to sell
    up = {"AAA": bars_for("AAA", [10, 10, 10, 10, 10, 12])}
    other = attrs.evolve(
        input_for(up, positions={"AAA": 20}), strategy="fast", strategy_positions={}
    )
    assert sma().decide(other).intents[0].side is Side.BUY
    # one strategist: the account's position, as before
    assert sma().decide(input_for(up, positions={"AAA": 20})).hold_reason == "no_signal"


def test_too_few_bars_gives_no_intent(bars_for, input_for):
    # slow=4 needs 5 bars; 4 bars (which would cross) are not enough
    decision = sma().decide(input_for({"AAA": bars_for("AAA", [10, 10, 10, 12])}))
    assert decision.hold_reason == "no_signal"
    assert sma().decide(input_for({"AAA": []})).hold_reason == "no_signal"
    assert sma().decide(input_for({}, candidates=["AAA"])).hold_reason == "no_signal"


def test_exact_tie_is_not_a_cross(bars_for, input_for):
    # now: fast mean (10+12)/2 = 11 equals slow mean (10+10+12+12)/4 = 11
    decision = sma().decide(input_for({"AAA": bars_for("AAA", [10, 10, 10, 12, 10, 12])}))
    assert decision.hold_reason == "no_signal"


def test_decimal_near_ties_are_decided_exactly(bars_for, input_for):
    # prev window sums tie exactly in Decimal; the float sums of 0.1/0.2/0.3 do not
    closes = ["0.1", "0.2", "0.3", "0.0", "0.6"]
    strat = sma()
    prev, now, *_ = strat._compare(bars_for("AAA", closes))
    assert (prev, now) == (0, 1)
    (intent,) = strat.decide(input_for({"AAA": bars_for("AAA", closes)})).intents
    assert intent.side is Side.BUY


def test_same_inputs_give_the_same_intent_id(bars_for, input_for):
    make = lambda: input_for({"AAA": bars_for("AAA", [10, 10, 10, 10, 10, 12])})  # noqa: E731
    first = sma().decide(make()).intents[0]
    second = sma().decide(make()).intents[0]
    assert first.id == second.id
    assert first.client_order_id == second.client_order_id
    later = make()
    later.as_of = later.as_of.replace(hour=16)
    assert sma().decide(later).intents[0].id != first.id


def test_notional_and_symbol_filter(bars_for, input_for):
    rising = [10, 10, 10, 10, 10, 12]
    bars = {"AAA": bars_for("AAA", rising), "BBB": bars_for("BBB", rising)}
    decision = sma(notional=Decimal(500), symbols=["bbb"]).decide(input_for(bars))
    (intent,) = decision.intents
    assert intent.symbol == "BBB"
    assert intent.notional == Decimal(500)
    assert intent.quantity is None


def test_defaults_use_10_and_30(bars_for, input_for):
    strat = SmaCrossStrategist(SmaCrossConfig())
    closes = [100] * 30 + [110]
    assert strat.decide(input_for({"AAA": bars_for("AAA", closes[:-1])})).is_hold
    (intent,) = strat.decide(input_for({"AAA": bars_for("AAA", closes)})).intents
    assert intent.quantity == Decimal(10)
    assert intent.rationale.startswith("fast SMA(10) crossed above slow SMA(30): 101 > ")


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_bad_data_becomes_a_hold_with_error_type(bars_for, input_for, bad):
    bars = bars_for("AAA", [10, 10, 10, bad, 10, 12])
    decision = sma().decide(input_for({"AAA": bars}))
    assert decision.is_hold
    assert decision.hold_reason == "strategy_error"
    assert decision.error_type == "ValueError"
    assert decision.detail.startswith("AAA: ")


def test_garbage_bars_become_a_hold(input_for):
    inputs = input_for({}, candidates=["AAA"])
    inputs.bars = {"AAA": [object()] * 6}
    decision = sma().decide(inputs)
    assert decision.hold_reason == "strategy_error"
    assert decision.error_type == "AttributeError"


def _load(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "plugins.toml"
    path.write_text(body, encoding="utf-8")
    return Settings.load(path, environ={})


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ("fast = 10\nslow = 10", "slow", "must be greater than fast (10)"),
        ("fast = 40", "slow", "must be greater than fast (40), got 30"),
        ("quantity = 5\nnotional = 100", "notional", "either quantity or notional"),
        ("quantity = 0", "quantity", "positive"),
        ("fast = 'ten'", "fast", "expected int"),
        ("fsat = 3", "fsat", "unknown key (did you mean 'fast'?)"),
    ],
)
def test_config_errors_name_file_section_and_key(tmp_path, body, key, fragment):
    settings = _load(
        tmp_path, f'[components]\nstrategist = "sma-cross"\n\n[strategist.sma-cross]\n{body}\n'
    )
    with pytest.raises(ConfigError) as info:
        settings.component_config("strategist", "sma-cross", SmaCrossConfig)
    message = str(info.value)
    assert message.startswith(f"plugins.toml: [strategist.sma-cross] {key}: ")
    assert fragment in message


def test_valid_config_through_settings(tmp_path):
    settings = _load(
        tmp_path,
        '[strategist.sma-cross]\nfast = 5\nslow = 20\nnotional = "250.5"\nsymbols = ["aaa"]\n',
    )
    config = settings.component_config("strategist", "sma-cross", SmaCrossConfig)
    assert (config.fast, config.slow, config.quantity) == (5, 20, None)
    assert config.notional == Decimal("250.5")
    assert config.symbols == ["AAA"]


def test_registered_through_the_kernel(tmp_path):
    from tradekernel.api import Kernel

    settings = _load(
        tmp_path, '[components]\nstrategist = "sma-cross"\n[strategist.sma-cross]\nslow = 12\n'
    )
    with Kernel(settings) as kernel:
        strat = kernel.component("strategist")
        assert isinstance(strat, SmaCrossStrategist)
        assert strat.bars_needed == 13
        # hold is the kernel's own, not this plugin's
        assert kernel.spec("strategist", "hold").distribution == "tradekernel"
