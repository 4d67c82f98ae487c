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


def test_workers_are_reused_across_jobs():
    pids = {r.value for r in ProcessSweeper().sweep(eval, ["__import__('os').getpid()"] * 4)}
    assert len(pids) <= 2  # every core's worker at most, one here
    single = ProcessSweeper().sweep(eval, ["__import__('os').getpid()"] * 3, workers=1)
    assert len({r.value for r in single}) == 1


# Each pair: a job changing some process-wide state, and one reading it back.
POLLUTE = [
    "__import__('os').environ.__setitem__('TK_SWEEP_LEAK', '1')",
    "__import__('os').environ.pop('PATH')",
    "__import__('os').chdir('/')",
    "__import__('sys').path.insert(0, '/nowhere')",
    "setattr(__import__('decimal').getcontext(), 'prec', 3)",
    "__import__('warnings').simplefilter('error')",
    "__import__('random').seed(7)",
    "__import__('signal').signal(__import__('signal').SIGTERM, __import__('signal').SIG_IGN)",
    "__import__('loguru').logger.configure(extra={'leak': 1},"
    " patcher=lambda r: r['extra'].update(patched=1)) or __import__('loguru').logger.disable('')",
]
OBSERVE = [
    "__import__('os').environ.get('TK_SWEEP_LEAK')",
    "'PATH' in __import__('os').environ",
    "__import__('os').getcwd()",
    "__import__('sys').path[0]",
    "str(__import__('decimal').Decimal(1) / 3)",
    "(__import__('warnings').warn('harmless'), 'no error')[1]",
    "__import__('random').random() == __import__('random').Random(7).random()",
    "__import__('signal').getsignal(__import__('signal').SIGTERM) == __import__('signal').SIG_DFL",
    "(lambda logger, out: (logger.remove(), logger.add(out.append, format='{extra}'),"
    " logger.info('x'), [str(m) for m in out])[-1])(__import__('loguru').logger, [])",
]


def test_nothing_a_job_changes_reaches_the_next_job_of_its_worker():
    """One worker runs every job in turn: each observation made after all the changes
    equals the one a fresh worker makes."""
    fresh = [r.value for r in ProcessSweeper().sweep(eval, OBSERVE, workers=1)]
    assert fresh[:2] == [None, True] and fresh[4:] == [
        "0.3333333333333333333333333333",
        "no error",
        False,
        True,
        ["{}\n"],
    ]
    reused = list(ProcessSweeper().sweep(eval, [*POLLUTE, *OBSERVE], workers=1))
    assert len({r.index for r in reused}) == len(POLLUTE) + len(OBSERVE)
    assert all(r.error is None for r in reused), [r.error for r in reused]
    by_index = {r.index: r.value for r in reused}
    assert [by_index[len(POLLUTE) + i] for i in range(len(OBSERVE))] == fresh


TIMING = ("elapsed_s", "bars_per_second")


def _jobs(config, hand_csv):
    """Combinations differing in their parameters and in their settings: the first one's
    configuration blocks every order (if that stayed, the last one would trade nothing)."""
    from tradekernel_backtest import BacktestSpec

    tight = config.with_name("tight.toml")
    tight.write_text(config.read_text().replace("limit = 1000000", "limit = 1"))

    def job(path, **params):
        spec = BacktestSpec(
            strategist="sma-cross", data=[str(hand_csv)], params=params, record=False
        )
        return (str(path), {}, spec)

    return [job(tight, fast=2, slow=3), job(config, fast=3, slow=5), job(config, fast=2, slow=3)]


def test_a_reused_worker_gives_each_combination_the_result_of_a_fresh_process(config, hand_csv):
    """The combinations run one after another in one worker, each as it runs alone in a
    fresh process."""
    from tradekernel_backtest.sweep import _run_one

    jobs = _jobs(config, hand_csv)

    def metrics(result):
        assert result.error is None and result.value["ok"], result
        return {k: v for k, v in result.value["metrics"].items() if k not in TIMING}

    reused = {r.index: metrics(r) for r in ProcessSweeper().sweep(_run_one, jobs, workers=1)}
    alone = [metrics(next(iter(ProcessSweeper().sweep(_run_one, [j], workers=1)))) for j in jobs]
    assert [reused[i] for i in range(len(jobs))] == alone
    assert alone[0]["intents_blocked"] > 0 and alone[0]["trades"] == 0
    assert alone[2]["intents_blocked"] == 0 and alone[2]["trades"] > 0
    assert alone[1] != alone[2]


KEPT_PER_PROCESS = {
    # the example plugin's observer hooks count what the process saw (documented as
    # such); nothing of a backtest reads it back
    "tradekernel_symbol_blocklist.stats",
}


def test_backtests_leave_nothing_in_the_modules_of_the_kernel_and_plugins(config, hand_csv):
    """What a reused worker keeps is its imported modules: after a first backtest (imports,
    memoised lookups), later ones, with other parameters and settings, change no
    module-level value of the kernel or an installed plugin but the listed ones."""
    from bt_modulestate import changed_by_backtests

    jobs = _jobs(config, hand_csv)
    (result,) = ProcessSweeper().sweep(changed_by_backtests, [[jobs[2], *jobs]], workers=1)
    assert result.error is None
    assert set(result.value) <= KEPT_PER_PROCESS, result.value
