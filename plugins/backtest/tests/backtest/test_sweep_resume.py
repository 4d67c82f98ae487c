"""Resumable sweeps: every finished combination is kept in the sweep's results file, so a
sweep interrupted (Ctrl-C, SIGTERM, SIGKILL) and run again runs only what is left and
ends with the same output; a damaged results file loses only its damaged lines; a changed
spec or data file is another sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger
from tradekernel.api import TradekernelError
from tradekernel_backtest import BacktestSpec, param_grid, run_backtest, run_sweep
from tradekernel_backtest.processes import ProcessSweeper
from tradekernel_backtest.sweep import sweep_row
from tradekernel_backtest.sweep_results import SWEEPS_DIR, SweepResults, _parse, sweep_digest

GRID = param_grid([("fast", [2, 3]), ("slow", [3, 4])])  # fast 3 / slow 3: an error row


class Counting(ProcessSweeper):
    """The processes sweeper, counting the jobs it is given."""

    def __init__(self) -> None:
        self.jobs = 0

    def sweep(self, fn, jobs, *, workers=None):
        self.jobs += len(jobs)
        return super().sweep(fn, jobs, workers=workers)


class Refusing(Counting):
    """Counts the jobs it is given and runs none."""

    def sweep(self, fn, jobs, *, workers=None):
        self.jobs += len(jobs)
        raise RuntimeError("not run")


def _spec(hand_csv: Path, out: Path | None) -> BacktestSpec:
    return BacktestSpec(
        strategist="sma-cross",
        data=[str(hand_csv)],
        cash=Decimal(10000),
        commission=Decimal("0.001"),
        out_dir=out,
        record=False,
    )


def _expected(base, hand_csv) -> list[dict]:
    """The rows of the sweep, each from a single run in this process."""
    rows = []
    for params in GRID:
        try:
            outcome = {
                "metrics": run_backtest(
                    base, attrs.evolve(_spec(hand_csv, None), params=params)
                ).metrics
            }
        except TradekernelError as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        rows.append(json.loads(json.dumps(sweep_row(params, outcome), default=str)))
    return rows


def _results_file(base, spec: BacktestSpec) -> Path:
    return SweepResults(base.state_dir, sweep_digest(base, spec)).path


def test_an_interrupted_or_damaged_sweep_reruns_only_what_is_missing(base, hand_csv, tmp_path):
    expected = _expected(base, hand_csv)
    assert [r["error"] is None for r in expected] == [True, True, False, True]

    finished: list[int] = []

    def stop_after_two(i, row):
        finished.append(i)
        if len(finished) == 2:  # SIGTERM stops a sweep as Ctrl-C does
            os.kill(os.getpid(), signal.SIGTERM)

    spec = _spec(hand_csv, tmp_path / "sweep")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(base, spec, GRID, workers=1, sweeper=ProcessSweeper(), on_row=stop_after_two)
    path = _results_file(base, spec)
    assert str(tmp_path) not in path.read_text()  # rows only: no paths, no settings
    resumed: list[int] = []
    counting = Counting()
    rows = run_sweep(base, spec, GRID, sweeper=counting, on_resume=resumed.append)
    assert resumed == [2] and counting.jobs == len(GRID) - 2
    assert rows == expected
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text()) == expected
    again = Counting()  # only the failed combination is not kept: it runs again
    assert run_sweep(base, spec, GRID, sweeper=again) == expected and again.jobs == 1
    fresh = Refusing()
    with pytest.raises(RuntimeError, match="not run"):
        run_sweep(base, spec, GRID, sweeper=fresh, resume=False)
    assert fresh.jobs == len(GRID)

    # a corrupted first line (still JSON, wrong checksum) and a truncated last line
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == len(GRID) - 1  # the error row is not kept
    flipped = lines[0].replace(b'"trades":', b'"trades":9', 1)
    path.write_bytes(flipped + b"".join(lines[1:-1]) + lines[-1][: len(lines[-1]) // 2])
    warnings: list[str] = []
    sink = logger.add(warnings.append, level="WARNING", format="{message}")
    try:
        counting, resumed = Counting(), []
        rows = run_sweep(base, spec, GRID, sweeper=counting, on_resume=resumed.append)
    finally:
        logger.remove(sink)
    assert rows == expected
    assert counting.jobs == 3 and resumed == [len(GRID) - 3]
    assert any("2 damaged line(s) ignored" in w for w in warnings), warnings
    again = Counting()  # the rerun rows were appended after the damaged tail, intact
    assert run_sweep(base, spec, GRID, sweeper=again) == expected and again.jobs == 1


def test_a_changed_data_file_or_spec_is_another_sweep(base, hand_csv, tmp_path):
    spec = _spec(hand_csv, tmp_path / "sweep")
    run_sweep(base, spec, GRID[:1], sweeper=ProcessSweeper())
    same = Refusing()
    run_sweep(base, spec, GRID[:1], sweeper=same)
    assert same.jobs == 0
    other_out = _spec(hand_csv, tmp_path / "sweep2")
    hand_csv.write_text(hand_csv.read_text().replace(",15,", ",16,"))
    for changed in (spec, other_out):
        counting = Refusing()
        with pytest.raises(RuntimeError, match="not run"):
            run_sweep(base, changed, GRID[:1], sweeper=counting)
        assert counting.jobs == 1


@given(st.binary(max_size=300))
def test_any_line_parses_or_is_ignored(line):
    parsed = _parse(line)
    assert parsed is None or isinstance(parsed[1], dict)


def _cli(config: Path, hand_csv: Path, out: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "tradekernel", "--config", str(config), "backtest"),
        *("--strategist", "sma-cross", "--data", str(hand_csv), "--cash", "10000"),
        *("--commission", "0.001", "--param", "fast=2,3", "--param", "slow=3,4"),
        *("--out", str(out), "--workers", "1", "--no-record", "--json"),
    ]


def test_a_sweep_killed_with_sigkill_resumes_to_the_same_output(config, base, hand_csv, tmp_path):
    expected = _expected(base, hand_csv)
    cmd = _cli(config, hand_csv, tmp_path / "sweep")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    results = Path(base.state_dir) / SWEEPS_DIR
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(results.glob("*.jsonl"))
        if files and files[0].read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # its pool's worker sees its parent die and exits
    proc.communicate(timeout=60)
    (path,) = results.glob("*.jsonl")
    done = path.read_bytes().count(b"\n")
    assert 1 <= done < len(GRID)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {done}/{len(GRID)} combinations already done" in again.stderr
    assert json.loads(again.stdout) == expected
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text()) == expected


def test_an_unwritable_results_file_is_a_one_line_error(base, tmp_path):
    results = SweepResults(base.state_dir, "ab" * 32)
    results.path.parent.mkdir(parents=True)
    results.path.mkdir()  # a directory where the file should be
    with pytest.raises(TradekernelError, match="cannot write the sweep's results"):
        results.append("key", {"fast": 2})
    with pytest.raises(TradekernelError, match="cannot read"):
        results.load()
