"""The promotion stage check the runtime enforces (kernel/tradekernel/runtime/stage.py): a
strategist runs in no mode above its stage, a stage earned with another configuration
counts as none, and a demotion while running steps the agent down. Earning a stage (the
gates, ``tradekernel promote``) is the tradekernel-backtest plugin's, tested there."""

from __future__ import annotations

import pytest
from tradekernel.errors import RefusedError
from tradekernel.runtime import Runtime
from tradekernel.runtime.stage import check_stage, current_digest, stage_key
from tradekernel.store import Store

NOTIONAL = """
[guard.max_order_notional]
limit = 1000000
"""
LIVE = {"TRADEKERNEL_KERNEL__LIVE_ACKNOWLEDGED": "true"}


def test_live_is_refused_without_a_stage(make_kernel):
    kernel, _ = make_kernel(extra=NOTIONAL, environ=LIVE)
    with pytest.raises(RefusedError, match="may not trade live: it has no promotion stage"):
        Runtime(kernel, mode="live")
    with Runtime(kernel, mode="paper") as runtime:  # unstaged: paper and shadow allowed
        assert runtime.mode == "paper"


def test_a_stage_earned_by_another_configuration_is_no_stage(make_kernel):
    kernel, _ = make_kernel(extra=NOTIONAL, environ=LIVE)
    with Store.open(kernel.settings.state_dir) as store:
        store.set_control(
            stage_key("sma-cross"),
            {"stage": "live", "evidence": {"config_digest": "another-configuration"}},
            actor="op",
        )
    with pytest.raises(RefusedError, match="configuration changed since it was promoted"):
        Runtime(kernel, mode="live")
    digest = current_digest(kernel.settings, kernel.registry, "sma-cross")
    assert len(digest) == 64


def test_a_stage_does_not_survive_a_configuration_change(make_kernel):
    kernel, _ = make_kernel(extra=NOTIONAL)
    with Store.open(kernel.settings.state_dir) as store:
        store.set_control(
            "stage:sma-cross",
            {"stage": "live", "evidence": {"config_digest": "another-configuration"}},
            actor="op",
        )
        check_stage(store, "sma-cross", "paper", "this-configuration")  # still allowed
        with pytest.raises(RefusedError, match="configuration changed"):
            check_stage(store, "sma-cross", "live", "this-configuration")
        check_stage(store, "sma-cross", "live", "another-configuration")  # as earned


def test_a_mode_above_the_stage_is_refused(make_kernel):
    kernel, _ = make_kernel(extra=NOTIONAL)
    with Store.open(kernel.settings.state_dir) as store:
        store.set_control("stage:sma-cross", "shadow", actor="op")
    with pytest.raises(RefusedError, match=r"stage shadow.*needs stage paper"):
        Runtime(kernel, mode="paper")
    with Runtime(kernel, mode="shadow") as runtime:
        assert runtime.mode == "shadow"


def test_a_strategist_demoted_while_running_steps_down(make_kernel):
    kernel, _ = make_kernel(extra=NOTIONAL)
    with Store.open(kernel.settings.state_dir) as store:
        store.set_control("stage:sma-cross", "paper", actor="op")
    with Runtime(kernel, mode="paper") as runtime:
        runtime.run_cycle()
        assert runtime.mode == "paper"
        runtime.store.set_control("stage:sma-cross", "shadow", actor="op")  # demoted
        runtime.run_cycle()
        assert runtime.mode == "shadow"
        runtime.store.set_control("stage:sma-cross", "candidate", actor="op")
        runtime.run_cycle()
        assert runtime.stop_requested
