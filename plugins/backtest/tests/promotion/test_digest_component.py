"""The configuration digest names the component an instance uses: a backtest (or a
stage) of ``[strategist.alpha] use = "hold"`` is not evidence for ``use = "flip"``."""

from __future__ import annotations

from pathlib import Path

from tradekernel import hookimpl
from tradekernel.api import Decision, PluginRegistry, Settings, current_digest
from tradekernel_backtest import record_backtest
from tradekernel_backtest.promotion import evaluate


class FlipPlugin:
    """A second strategist without settings, as `hold` is."""

    @staticmethod
    @hookimpl
    def register_strategists(register):
        class Flip:
            def decide(self, inputs):
                return Decision.hold("flip")

        register("flip", lambda config, ctx: Flip(), version="1", description="test")


def load(tmp_path: Path, use: str) -> Settings:
    cfg = tmp_path / f"{use}.toml"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "op"}"\n[components]\nstrategist = "alpha"\n'
        f'metrics_sinks = []\n[strategist.alpha]\nuse = "{use}"\n'
        "[promotion.shadow]\nmax_llm_fallback_rate = 0.5\n"
    )
    return Settings.load(cfg, environ={})


def test_evidence_of_one_component_is_not_evidence_for_another(tmp_path, open_state):
    registry = PluginRegistry().add_plugin(FlipPlugin(), "flip").load()
    held, flipped = load(tmp_path, "hold"), load(tmp_path, "flip")
    assert current_digest(held, registry, "alpha") != current_digest(flipped, registry, "alpha")
    record_backtest(
        held,
        {
            "strategist": "alpha",
            "config_digest": current_digest(held, registry, "alpha"),
            "trades": 0,
            "stopped": "data exhausted",
            "harness": {"commission": "0", "slippage_bps": "0"},
        },
    )
    with open_state(held) as store:
        assert evaluate(held, store, registry, "alpha", "shadow").passed
    with open_state(flipped) as store:
        result = evaluate(flipped, store, registry, "alpha", "shadow")
    assert not result.passed
    assert result.failed[0].gate == "backtest" and result.backtest_id is None


def test_a_strategist_that_is_its_own_component_keeps_its_digest(settings, registry):
    """An unchanged configuration keeps the digest earlier versions gave it, so its
    stage and evidence stay valid after upgrading (a known value, not recomputed)."""
    from tradekernel.api import digest

    assert current_digest(settings, registry, "sma-cross") == digest(
        {
            "strategist": "sma-cross",
            "config": {"fast": 2, "slow": 3, "quantity": None, "notional": None, "symbols": None},
        }
    )
