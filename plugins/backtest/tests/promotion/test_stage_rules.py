"""What counts as a strategist's stage and paper record for the current configuration:
the paper record of an earlier configuration is not this one's, and stages are climbed
one at a time. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tradekernel.api import (
    PluginRegistry,
    RefusedError,
    Settings,
    current_digest,
    get_stage,
    utcnow,
)
from tradekernel_backtest import record_backtest
from tradekernel_backtest.promotion import evaluate, promote

NAME = "sma-cross"
GOOD = {
    "sharpe": 1.0,
    "max_drawdown": 0.1,
    "cost_per_trade": 0.1,
    "harness": {"commission": "0", "slippage_bps": "0"},
}


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


def test_live_needs_the_paper_stage_first(make_config, open_state):
    """A [promotion.live] table without paper gates replaces the defaults: the stage
    order itself still keeps an unstaged strategist from going straight to live."""
    cfg = make_config("live_acknowledged = true")
    cfg.write_text(
        cfg.read_text().replace(
            "min_trades = 1\nmax_drawdown = 0.5\nmin_paper_days = 7\n", "max_drawdown = 0.5\n"
        )
    )
    s = Settings.load(cfg, environ={})
    assert s.promotion.live.min_paper_days is None and s.promotion.live.min_trades is None
    registry = PluginRegistry(block=s.plugins.block).load()
    record(s, registry)
    with open_state(s) as store:
        for target, below in (("live", "paper"), ("paper", "shadow")):
            with pytest.raises(RefusedError, match=f"needs stage {below} first"):
                promote(s, store, registry, NAME, target)
            assert get_stage(store, NAME) is None
        assert store.get_control(f"promotion:{NAME}", None) is None  # not journaled
        for target in ("shadow", "paper", "live"):  # one at a time: each passes
            promote(s, store, registry, NAME, target)
            assert get_stage(store, NAME) == target


def test_check_predicts_what_promote_does(cli, settings, registry, open_state):
    """`promote --check` is promote's dry run: a demotion needs no gates (exit 0), being
    at the stage already or skipping one is a refusal (exit 3), as for the real command;
    and --check writes nothing."""
    record(settings, registry)

    def both(target: str) -> tuple[int, int]:
        """The exit codes of `--check` and then of the real command."""
        check = cli("promote", NAME, "--to", target, "--check")
        return check[0], cli("promote", NAME, "--to", target)[0]

    assert both("paper") == (3, 3)  # a stage skipped
    code, out, _ = cli("promote", NAME, "--to", "shadow", "--check")
    assert code == 0 and "would be promoted unstaged -> shadow" in out
    with open_state() as store:
        assert store.get_control(f"promotion:{NAME}", None) is None  # nothing written
    assert both("shadow") == (0, 0)
    assert both("shadow") == (3, 3)  # already there
    code, out, _ = cli("promote", NAME, "--to", "candidate", "--check")
    assert code == 0 and "would be demoted shadow -> candidate" in out
    assert both("candidate") == (0, 0)  # a demotion: no gates


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_show_stage_of_an_unknown_hostile_name(cli, store_kind):
    """`promote NAME` checks NAME as `promote NAME --to STAGE` does (exit 2) and never
    prints a terminal escape from it."""
    code, out, err = cli("promote", "x\x1b]0;pwned\x07")
    assert code == 2, (code, out)
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "is not available" in err
    code, out, _ = cli("promote", NAME)
    assert (code, out) == (0, f"{NAME}: no stage recorded\n")


def test_an_edited_configuration_climbs_from_the_start(settings, registry, tmp_path, open_state):
    """A stage earned with another configuration is none: the edited one starts again at
    shadow, and the refusal says why."""
    record(settings, registry)
    with open_state() as store:
        promote(settings, store, registry, NAME, "shadow")
        promote(settings, store, registry, NAME, "paper")
    b = edited(settings, tmp_path)
    record(b, registry)
    with open_state(b) as store:
        with pytest.raises(RefusedError, match="its stage paper was earned with another"):
            promote(b, store, registry, NAME, "paper")
        assert promote(b, store, registry, NAME, "shadow").from_stage is None
