"""Numeric settings are finite: NaN and infinity pass a bare ``value <= 0`` test, so every
validator (the kernel's and the plugins', which reuse it) rejects them by name."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from tradekernel.errors import ConfigError
from tradekernel.serde import ValidationError, structure
from tradekernel.settings import Settings
from tradekernel_guards.limits import MaxOrderNotionalConfig
from tradekernel_llm.config import LLMStrategistConfig
from tradekernel_marketdata.replay import ReplayConfig
from tradekernel_marketdata.synthetic import SyntheticConfig
from tradekernel_paper.config import PaperConfig
from tradekernel_rules.sma import SmaCrossConfig

NON_FINITE = ["nan", "inf", "-inf"]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize(
    "key", ["quantity_step", "degrade_notional_ratio", "max_price_move", "bars_lookback"]
)
def test_runtime_numbers_must_be_finite(tmp_path, key, value):
    path = tmp_path / "plugins.toml"
    path.write_text(f"[runtime]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"\[runtime\] {key}: expected .*, got {value}"):
        Settings.load(path, environ={})


CASES = [
    (LLMStrategistConfig, "budget_daily_usd", "nan"),
    (LLMStrategistConfig, "budget_daily_usd", "inf"),
    (LLMStrategistConfig, "price_prompt_per_mtok", "nan"),
    (LLMStrategistConfig, "default_quantity", "inf"),
    (SyntheticConfig, "start_price", "inf"),
    (SyntheticConfig, "start_price", "1e300"),
    (SyntheticConfig, "volatility", "inf"),
    (SyntheticConfig, "volatility", "nan"),
    (SyntheticConfig, "drift", "nan"),
    (SyntheticConfig, "trend", "inf"),
    (SyntheticConfig, "reversion", "nan"),
    (SyntheticConfig, "volume", "nan"),
    (SyntheticConfig, "volume", "inf"),
    (SyntheticConfig, "half_spread_bps", "nan"),
    (SyntheticConfig, "half_spread_bps", "20000"),
    (ReplayConfig, "half_spread_bps", "nan"),
    (ReplayConfig, "half_spread_bps", "10000"),
    (PaperConfig, "commission", "nan"),
    (PaperConfig, "slippage_bps", "inf"),
    (PaperConfig, "max_volume_share", "nan"),
    (PaperConfig, "min_notional", "nan"),
    (SmaCrossConfig, "quantity", "nan"),
    (SmaCrossConfig, "notional", "inf"),
    (MaxOrderNotionalConfig, "limit", "nan"),
]


@pytest.mark.parametrize(("cls", "key", "value"), CASES)
def test_plugin_numbers_must_be_finite_and_bounded(cls, key, value):
    data = tomllib.loads(f"{key} = {value}")
    if cls is MaxOrderNotionalConfig:
        data = {"limit": data["limit"]}
    with pytest.raises(ValidationError, match=key):
        structure(data, cls)


def test_sane_values_still_pass():
    assert structure({"start_price": 1e12, "volatility": 0.5}, SyntheticConfig).start_price == 1e12
    assert structure({"half_spread_bps": 9999}, ReplayConfig).half_spread_bps == 9999
    assert structure({"budget_daily_usd": 0.5}, LLMStrategistConfig).budget_daily_usd == 0.5


def test_config_check_reports_a_nan_quantity_step(tmp_path):
    """Before: config check ok, and every notional decision failed with InvalidOperation."""
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n[runtime]\nquantity_step = nan\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "[runtime] quantity_step: expected a positive number, got nan" in done.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    "text", ["\u0663s", "\uff11m", "\u0661\u0665m", "1\u0660s", "\u00b2s", "\U0001d7d9s"]
)
def test_durations_take_ascii_digits_only(text):
    """``float`` reads other scripts' digits (``float("\u0663") == 3.0``): a duration must
    not, or a value no one can read in the file would be a real timer."""
    from tradekernel.settings import Duration

    with pytest.raises(ValueError, match="expected a duration like"):
        Duration.parse(text)
    assert Duration.parse("15m") == 900.0 and Duration.parse(" 2.5 s ") == 2.5
