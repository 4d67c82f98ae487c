"""What a resumed sweep may trust: only successful rows are kept (an engine failure is
reported and runs again); the digest covers the resolved data paths, every plugin
distribution's version and whether rows are recorded; the jobs carry no secret and only
absolute paths; a forged results line is validated, never printed raw; the results file
is a regular file."""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from tradekernel.api import Settings, SweepResult, TradekernelError
from tradekernel_backtest import BacktestSpec, param_grid, run_sweep
from tradekernel_backtest import sweep_results as sweep_results_module
from tradekernel_backtest.processes import ProcessSweeper
from tradekernel_backtest.sweep import SweepFailed, _run_one
from tradekernel_backtest.sweep_results import (
    SweepResults,
    installed_plugins,
    row_key,
    sweep_digest,
)

GRID = param_grid([("fast", [2, 3]), ("slow", [4])])
ESC = "\x1b]0;pwned\x07\x1b[2J"


def _spec(data: str, *, record: bool = False, out: Path | None = None) -> BacktestSpec:
    return BacktestSpec(
        strategist="sma-cross",
        data=[data],
        cash=Decimal(10000),
        commission=Decimal("0.001"),
        out_dir=out,
        record=record,
    )


class Counting(ProcessSweeper):
    """The processes sweeper, keeping the jobs it is given."""

    def __init__(self) -> None:
        self.given: list = []

    def sweep(self, fn, jobs, *, workers=None):
        self.given.extend(jobs)
        return super().sweep(fn, jobs, workers=workers)


class LosingTheFirst(Counting):
    """Runs every job but the first, which the engine reports as lost."""

    def sweep(self, fn, jobs, *, workers=None):
        self.given.extend(jobs)
        yield SweepResult(0, error="its worker process died 3 times (killed?)")
        for result in ProcessSweeper().sweep(fn, jobs[1:], workers=workers):
            yield SweepResult(result.index + 1, value=result.value, error=result.error)


def test_an_engine_failure_is_reported_not_kept_and_runs_again(base, hand_csv):
    spec = _spec(str(hand_csv))
    with pytest.raises(SweepFailed) as failed:
        run_sweep(base, spec, GRID, sweeper=LosingTheFirst(), workers=1)
    assert failed.value.failures == [
        "sweep: 1 combination(s) not run, engine failure: its worker process died 3 times "
        "(killed?) (not kept: run the same command again to run them)"
    ]
    assert failed.value.rows[0]["error"] and failed.value.rows[1]["error"] is None
    again = Counting()
    rows = run_sweep(base, spec, GRID, sweeper=again, workers=1)
    assert len(again.given) == 1 and again.given[0][2].params["fast"] == 2
    assert all(row["error"] is None for row in rows)


def test_a_job_that_cannot_load_its_settings_is_not_kept(base, hand_csv, tmp_path):
    gone = tmp_path / "gone.toml"
    job = (str(gone), {}, _spec(str(hand_csv)))
    outcome = _run_one(job)
    assert outcome["ok"] is False and outcome["started"] is False
    assert "configuration file not found" in outcome["error"]


def test_the_cli_exits_1_with_one_line_per_failure_kind(base, config, hand_csv, cli, monkeypatch):
    import tradekernel_backtest.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "build_sweeper", lambda *a: LosingTheFirst())
    code, out, err = cli(
        *("backtest", "--strategist", "sma-cross", "--data", str(hand_csv)),
        *("--param", "fast=2,3", "--param", "slow=4", "--no-record"),
    )
    assert code == 1
    lines = [line for line in err.splitlines() if "sweep:" in line]
    assert len(lines) == 1 and "engine failure" in lines[0], err
    assert "Traceback" not in err and "error: its worker process died" in out


def test_an_unexpanded_home_data_path_is_resolved_and_hashed(base, hand_csv, monkeypatch):
    monkeypatch.setenv("HOME", str(hand_csv.parent.parent))
    spec = _spec("~/data/AAA.csv")
    before = sweep_digest(base, spec)
    hand_csv.write_text(hand_csv.read_text().replace(",15,", ",16,"))
    assert sweep_digest(base, spec) != before
    with pytest.raises(TradekernelError, match="cannot read"):
        sweep_digest(base, _spec("~/data/missing.csv"))


def test_the_digest_covers_every_plugin_distribution(base, hand_csv, monkeypatch):
    names = {entry.split("==")[0] for entry in installed_plugins()}
    assert {"tradekernel-marketdata", "tradekernel-paper", "tradekernel-backtest"} <= names
    spec = _spec(str(hand_csv))
    before = sweep_digest(base, spec)
    bumped = [
        e.replace("tradekernel-marketdata==", "tradekernel-marketdata==9")
        for e in installed_plugins()
    ]
    monkeypatch.setattr(sweep_results_module, "installed_plugins", lambda: bumped)
    assert sweep_digest(base, spec) != before


def _recorded(state_dir: Path) -> int:
    count = 0
    for db in Path(state_dir).rglob("*.db"):
        with sqlite3.connect(db) as con, contextlib.suppress(sqlite3.OperationalError):
            count += con.execute("select count(*) from backtests").fetchone()[0]
    return count


def test_a_sweep_run_without_recording_then_recording_records_every_row(base, hand_csv):
    run_sweep(base, _spec(str(hand_csv), record=False), GRID, sweeper=ProcessSweeper())
    assert _recorded(base.state_dir) == 0
    again = Counting()
    run_sweep(base, _spec(str(hand_csv), record=True), GRID, sweeper=again)
    assert len(again.given) == len(GRID) and _recorded(base.state_dir) == len(GRID)


def test_jobs_carry_absolute_paths_and_no_secret(config, hand_csv, tmp_path, monkeypatch):
    environ = {
        "OPENAI_API_KEY": "sk-live-SECRETVALUE1",
        "TK_STORE_URL": "postgresql://u:hunter2secret@db/x",
        "TRADEKERNEL_STORE__URL": "postgresql://u:hunter2secret@db/x",
        "TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST": "2",
        "AWS_SECRET_ACCESS_KEY": "awsSECRETVALUE2",
    }
    base = Settings.load(config, environ=environ)
    monkeypatch.chdir(hand_csv.parent)
    given = Counting()
    run_sweep(base, _spec("AAA.csv", out=Path("out")), GRID, sweeper=given)
    payload = pickle.dumps(given.given)
    for secret in ("sk-live-SECRETVALUE1", "hunter2secret", "awsSECRETVALUE2"):
        assert secret.encode() not in payload
    for config_path, overrides, spec in given.given:
        assert Path(config_path).is_absolute()
        assert all(Path(p).is_absolute() for p in spec.data)
        assert Path(spec.out_dir).is_absolute()
        assert overrides == {
            "strategist.sma-cross.fast": (2, "environment TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST")
        }


def _forge(base, hand_csv, rows) -> None:
    results = SweepResults(base.state_dir, sweep_digest(base, _spec(str(hand_csv))))
    for i, row in enumerate(rows):
        results.append(row_key(results.path.stem, i, GRID[i]), row)


def _args(hand_csv):
    return (
        *("backtest", "--strategist", "sma-cross", "--data", str(hand_csv), "--cash", "10000"),
        *("--commission", "0.001", "--param", "fast=2,3", "--param", "slow=4", "--no-record"),
    )


def _good_rows(base, hand_csv) -> list[dict]:
    return run_sweep(base, _spec(str(hand_csv)), GRID, sweeper=ProcessSweeper())


@pytest.mark.parametrize(
    "damage",
    [
        lambda row: {**row, "total_return": ESC, "trades": ESC},
        lambda row: {"error": None},
        lambda row: {**row, "fast": ESC},
        lambda row: {**row, "sharpe": float("nan")},
        lambda row: {**row, "trades": True},
        lambda row: {**row, "config_digest": ESC},
        lambda row: {**row, "extra": 1},
    ],
)
def test_a_forged_results_line_is_ignored_and_rerun(base, hand_csv, cli, damage):
    good = _good_rows(base, hand_csv)
    results = SweepResults(base.state_dir, sweep_digest(base, _spec(str(hand_csv))))
    results.path.unlink()
    _forge(base, hand_csv, [damage(dict(good[0])), good[1]])
    code, out, err = cli(*_args(hand_csv))
    assert code == 0, err
    assert "\x1b" not in out + err and "unexpected" not in err
    assert "invalid row ignored" in err and "resuming: 1/2" in err


def test_a_results_path_that_is_not_a_regular_file_is_refused(base, tmp_path):
    results = SweepResults(base.state_dir, "cd" * 32)
    results.path.parent.mkdir(parents=True)
    os.mkfifo(results.path)
    with pytest.raises(TradekernelError, match="not a regular file"):
        results.load()
    with pytest.raises(TradekernelError, match="not a regular file"):
        results.append("key", {"fast": 2})
    results.path.unlink()
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("")
    results.path.symlink_to(target)
    with pytest.raises(TradekernelError, match="symbolic link"):
        results.load()
    with pytest.raises(TradekernelError, match="symbolic link"):
        results.append("key", {"fast": 2})
    assert target.read_text() == ""


def test_error_text_is_one_line_on_the_processes_sweeper():
    rows = list(ProcessSweeper().sweep(_raise_two_lines, [1], workers=1))
    assert rows[0].error == "ValueError: first line 1 second line"


def _raise_two_lines(n: int) -> None:
    raise ValueError(f"first line {n}\nsecond line")
