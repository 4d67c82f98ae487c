"""A backtest's own costs are part of its evidence: a run with a lower commission than
the configured paper broker's (``backtest --commission 0``) does not pass the gates of
that configuration; the costs, cash, symbols and window are recorded with the row."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bt_handdata import write_hand_csv
from tradekernel.api import GateFailed, PluginRegistry, Settings
from tradekernel_backtest import BacktestSpec, run_backtest
from tradekernel_backtest.promotion import evaluate, promote
from tradekernel_backtest.record import find_backtest

NAME = "sma-cross"


@pytest.fixture
def costly(tmp_path, config) -> Settings:
    """The operator's configuration with a commission of 0.1 % on the paper broker."""
    cfg = tmp_path / "costs.toml"
    cfg.write_text(config.read_text() + "\n[broker.paper]\ncommission = 0.001\n")
    return Settings.load(cfg, environ={})


def test_evidence_run_without_the_configured_commission_fails_its_gate(
    tmp_path, costly, open_state
):
    registry = PluginRegistry(block=costly.plugins.block).load()
    data = write_hand_csv(tmp_path / "data" / "AAA.csv")
    honest = run_backtest(costly, BacktestSpec(strategist=NAME, data=[str(data)])).metrics
    free = run_backtest(
        costly,
        BacktestSpec(
            strategist=NAME,
            data=[str(data)],
            commission=Decimal(0),
            cash=Decimal(5000),
            symbols=["AAA"],
            start="2024-01-01",
        ),
    ).metrics
    assert honest["config_digest"] == free["config_digest"]  # the strategy is the same
    assert honest["harness"]["commission"] == "0.001"
    with open_state(costly) as store:
        row = find_backtest(store, NAME, free["config_digest"]).row
        assert row is not None and row["id"] == free["record_id"]
        assert row["metrics"]["harness"] == {
            "commission": "0",
            "slippage_bps": "0",
            "cash": "5000",
            "symbols": ["AAA"],
            "start": "2024-01-01",
            "end": None,
        }
        store.set_control(f"stage:{NAME}", {"stage": "shadow"}, actor="operator")
        result = evaluate(costly, store, registry, NAME, "paper")
        gate = next(g for g in result.gates if g.gate == "commission")
        assert (gate.value, gate.threshold, gate.passed) == ("0", "0.001", False)
        with pytest.raises(GateFailed, match=r"commission = 0 \(needs 0\.001\)"):
            promote(costly, store, registry, NAME, "paper")
    # the honest run, recorded again as the newest, is evidence for its costs
    again = run_backtest(costly, BacktestSpec(strategist=NAME, data=[str(data)])).metrics
    with open_state(costly) as store:
        result = evaluate(costly, store, registry, NAME, "paper")
    assert result.backtest_id == again["record_id"]
    assert next(g for g in result.gates if g.gate == "commission").passed


def test_evidence_without_recorded_costs_is_not_evidence(settings, registry, open_state):
    """A row recorded before costs were (or by hand without them) fails the cost gates."""
    from tradekernel.api import current_digest
    from tradekernel_backtest import record_backtest

    digest = current_digest(settings, registry, NAME)
    record_backtest(
        settings,
        {"strategist": NAME, "config_digest": digest, "trades": 5, "stopped": "data exhausted"},
    )
    with open_state() as store:
        result = evaluate(settings, store, registry, NAME, "shadow")
    assert {g.gate for g in result.failed} == {"commission", "slippage_bps"}
