"""What counts as a strategist's stage and paper record for the current configuration:
the paper record of an earlier configuration is not this one's, and stages are climbed
one at a time. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tradekernel.api import PluginRegistry, Settings, current_digest, utcnow
from tradekernel_backtest import record_backtest
from tradekernel_backtest.promotion import evaluate, promote

NAME = "sma-cross"
GOOD = {"sharpe": 1.0, "max_drawdown": 0.1, "cost_per_trade": 0.1}


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request) -> str:
    return request.param


def record(settings: Settings, registry: PluginRegistry, **more) -> int:
    return record_backtest(
        settings,
        {
            "strategist": NAME,
            "config_digest": current_digest(settings, registry, NAME),
            "trades": 5,
            "stopped": "data exhausted",
            **GOOD,
            **more,
        },
    )


def edited(settings: Settings, tmp_path) -> Settings:
    """The same operator configuration with the strategy's settings changed."""
    cfg = tmp_path / "edited.toml"
    cfg.write_text(settings.config_path.read_text().replace("slow = 3", "slow = 4"))
    return Settings.load(cfg, environ={})


def days_gate(result) -> object:
    return next(g for g in result.gates if g.gate == "min_paper_days")


def test_the_paper_record_of_another_configuration_does_not_count_for_live(
    make_config, tmp_path, open_state
):
    a = Settings.load(make_config("live_acknowledged = true"), environ={})
    registry = PluginRegistry(block=a.plugins.block).load()
    record(a, registry)
    with open_state(a) as store:
        promote(a, store, registry, NAME, "shadow")
        promote(a, store, registry, NAME, "paper")  # configuration A enters paper
    b = edited(a, tmp_path)  # B never ran in paper
    assert current_digest(b, registry, NAME) != current_digest(a, registry, NAME)
    record(b, registry)
    later = utcnow() + timedelta(days=8)
    with open_state(b) as store:
        result = evaluate(b, store, registry, NAME, "live", now=later)
        assert result.from_stage is None  # A's paper stage is not B's
        assert days_gate(result).value is None and not days_gate(result).passed
        trades = next(g for g in result.gates if g.gate == "min_trades")
        assert trades.value == 0 and not trades.passed
        # B's own time in paper counts from B's own entry into paper
        promote(b, store, registry, NAME, "shadow")
        promote(b, store, registry, NAME, "paper")
        result = evaluate(b, store, registry, NAME, "live", now=later)
        assert result.from_stage == "paper"
        assert 7.9 < days_gate(result).value <= 8.0 and days_gate(result).passed
    with open_state(a) as store:
        # back to A: B's stage entries ended A's paper record (A's fills since then
        # may be B's); A starts over
        result = evaluate(a, store, registry, NAME, "live", now=later)
        assert result.from_stage is None and days_gate(result).value is None
