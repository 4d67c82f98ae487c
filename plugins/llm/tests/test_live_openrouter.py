"""Opt-in test against the real OpenRouter (needs the internet and a key; costs cents).

Run it with::

    OPENROUTER_API_KEY=sk-or-... .venv/bin/python -m pytest plugins/llm -m network

Optionally set TK_LIVE_MODEL (default ``openai/gpt-4o-mini``). It is skipped when the
key is not set, and deselect it with ``-m "not network"`` in offline CI.
"""

from __future__ import annotations

import os

import pytest
from tradekernel.api import Kernel, Settings

pytestmark = pytest.mark.network


def test_live_openrouter_decision(tmp_path, inputs):
    model = os.environ.get("TK_LIVE_MODEL", "openai/gpt-4o-mini")
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nstrategist = "llm"\nllm_provider = "openrouter"\n'
        "metrics_sinks = []\nnotifiers = []\n"
        f'[llm_provider.openrouter]\nmodel = "{model}"\napp_title = "tradekernel tests"\n'
        "[strategist.llm]\nmax_tokens = 400\nbudget_daily_tokens = 20000\n"
    )
    settings = Settings.load(config)  # the key comes from the real environment
    if not settings.secret("OPENROUTER_API_KEY"):
        pytest.skip("OPENROUTER_API_KEY is not set")
    with Kernel(settings) as kernel:
        decision = kernel.component("strategist").decide(inputs)
    # a live model may trade or hold; a provider failure is a test failure
    assert not (decision.error_type or "").startswith("provider_"), decision
    assert decision.is_hold or all(i.symbol in inputs.candidates for i in decision.intents)
