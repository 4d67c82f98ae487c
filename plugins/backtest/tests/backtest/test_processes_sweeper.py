"""The ``processes`` sweeper: every job yields one result as it finishes; a job whose
worker process dies is retried alone, and reported failed when it kills every worker."""

from __future__ import annotations

import pytest
from tradekernel.api import Kernel, Settings, Sweeper
from tradekernel_backtest.processes import ATTEMPTS, ProcessSweeper


def test_results_come_back_for_every_job():
    results = list(ProcessSweeper().sweep(eval, ["1 + 1", "6 * 7", "1 / 0"], workers=2))
    by_index = {r.index: r for r in results}
    assert len(results) == 3
    assert by_index[0].value == 2 and by_index[1].value == 42
    assert by_index[2].error == "ZeroDivisionError: division by zero"


def test_a_job_that_kills_its_worker_is_reported_and_the_others_finish(tmp_path):
    once = tmp_path / "died-once"
    jobs = [
        "__import__('os')._exit(3)",  # every time
        f"7 if __import__('os').path.exists({str(once)!r}) "
        f"else (open({str(once)!r}, 'x') and __import__('os')._exit(3))",  # the first time
        "2 * 3",
    ]
    by_index = {r.index: r for r in ProcessSweeper().sweep(eval, jobs, workers=2)}
    assert by_index[0].value is None
    assert by_index[0].error == f"its worker process died {ATTEMPTS} times (killed?)"
    assert by_index[1].value == 7 and by_index[2].value == 6


def test_closing_the_sweep_stops_its_processes():
    sweep = ProcessSweeper().sweep(eval, ["1", "__import__('time').sleep(60)"], workers=2)
    first = next(sweep)
    assert first.index == 0
    sweep.close()  # returns at once: the sleeping job's process is terminated


def test_processes_is_the_default_sweeper(tmp_path):
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(f'[kernel]\nstate_dir = "{tmp_path}"\n')
    with Kernel(Settings.load(cfg, environ={})) as kernel:
        assert kernel.selected("sweeper") == ["processes"]
        assert isinstance(kernel.component("sweeper"), Sweeper)


def test_an_unknown_sweeper_is_a_config_error(cli, hand_csv):
    code, _, err = cli(
        *("backtest", "--data", str(hand_csv), "--param", "fast=2,3", "--sweeper", "nope")
    )
    assert code == 2 and "--sweeper" in err and "nope" in err
    code, _, err = cli("backtest", "--data", str(hand_csv), "--sweeper", "processes")
    assert code == 2 and "for sweeps" in err


class Dropping:
    """A sweeper that loses every job: it breaks the contract."""

    def sweep(self, fn, jobs, *, workers=None):
        return iter(())


def test_a_sweeper_that_drops_a_job_fails_the_sweep(base, hand_csv):
    from tradekernel.api import TradekernelError
    from tradekernel_backtest import BacktestSpec, run_sweep

    spec = BacktestSpec(strategist="sma-cross", data=[str(hand_csv)], record=False)
    with pytest.raises(TradekernelError, match="no result for 2 combinations"):
        run_sweep(base, spec, [{"fast": 2}, {"fast": 3}], sweeper=Dropping())
