"""The dask sweeper equals the processes sweeper: the same sweep on both gives the same
rows, the same progress and the same files. A worker that dies mid-job is reported, an
unreachable scheduler is a one-line error, and nothing imports dask but a sweep on it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.api import ConfigError, Kernel, Settings, TradekernelError
from tradekernel.testing import invoke, modules_imported_by
from tradekernel_backtest import BacktestSpec, param_grid, run_sweep
from tradekernel_backtest.processes import ProcessSweeper
from tradekernel_dask.config import DaskConfig
from tradekernel_dask.sweeper import DaskSweeper

GRID = param_grid([("fast", [2, 3]), ("slow", [3, 5, 8])])  # fast 3 / slow 3: an error row


TIMING = re.compile(rb'("?(elapsed_s|bars_per_second)"?(</th><td>|: ))[0-9.]+')
"""How long a run took (metrics.json, report.html): the only thing that may differ."""


def _files(root: Path) -> dict[str, bytes]:
    """Every output file of a sweep but the backtest's own state (its SQLite files), with
    the timings blanked."""
    return {
        str(p.relative_to(root)): TIMING.sub(rb"\1-", p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and "state" not in p.relative_to(root).parts
    }


@pytest.fixture
def cluster():
    """An existing cluster to connect to: a LocalCluster of 2 worker processes."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as running:
        yield running


def test_the_same_sweep_on_both_sweepers_gives_the_same_rows_and_files(
    base, prices, tmp_path, cluster
):
    outputs = {}
    for name, sweeper in (
        ("processes", ProcessSweeper()),
        ("dask", DaskSweeper(DaskConfig(scheduler=cluster.scheduler_address))),
    ):
        spec = BacktestSpec(
            strategist="sma-cross",
            data=[str(prices)],
            cash=Decimal(10000),
            commission=Decimal("0.001"),
            out_dir=tmp_path / name,
        )
        progress: list[int] = []
        rows = run_sweep(
            base,
            spec,
            GRID,
            workers=2,
            sweeper=sweeper,
            on_row=lambda i, _, p=progress: p.append(i),
        )
        outputs[name] = (rows, progress, _files(tmp_path / name))
    rows, progress, files = outputs["processes"]
    assert outputs["dask"][0] == rows
    assert sorted(outputs["dask"][1]) == sorted(progress) == list(range(len(GRID)))
    assert outputs["dask"][2] == files
    assert [r["error"] is None for r in rows] == [True, True, True, False, True, True]
    assert sum(r["trades"] or 0 for r in rows) > 0
    assert "runs/005/trades.csv" in files and "sweep.json" in files


def test_a_job_whose_worker_dies_is_reported_failed_and_the_others_finish():
    """On the sweeper's own LocalCluster (one worker, one job at a time)."""
    import dask

    sweeper = DaskSweeper(DaskConfig(workers=1))
    jobs = ["6 * 7", "__import__('os')._exit(3)", "1 + 1"]
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        results = {r.index: r for r in sweeper.sweep(eval, jobs)}
    assert results[0].value == 42 and results[2].value == 2
    assert results[1].value is None and "KilledWorker" in results[1].error


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_one_line_error(config, prices):
    config.write_text(config.read_text() + '\n[sweeper.dask]\ntimeout = "1s"\n')
    address = f"tcp://127.0.0.1:{_closed_port()}"
    result = invoke(
        [
            *("--config", str(config), "backtest", "--strategist", "sma-cross"),
            *("--data", str(prices), "--param", "fast=2,3", "--scheduler", address),
        ]
    )
    assert result.exit_code == 1, result.stderr
    error = result.stderr.strip()
    assert error.count("\n") == 0 and address in error and "unreachable" in error
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("address", ["http://host:1", "tcp://", "tcp://a b:1", "tcp://x:1\x1b[2J"])
def test_a_bad_scheduler_address_is_a_config_error(tmp_path, address):
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{tmp_path}"\n[components]\nsweeper = "dask"\n'
        f"[sweeper.dask]\nscheduler = {address!r}\n".replace("'", '"').replace("\x1b", "\\u001b")
    )
    with pytest.raises(ConfigError, match="scheduler"), Kernel(Settings.load(cfg)) as kernel:
        kernel.component("sweeper")


def test_config_check_checks_a_selected_dask_sweeper(tmp_path):
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{tmp_path}"\n[components]\nsweeper = "dask"\n'
        '[sweeper.dask]\nscheduler = "http://host:1"\n'
    )
    result = invoke(["--config", str(cfg), "config", "check"])
    assert result.exit_code == 2 and "[sweeper.dask] scheduler" in result.stderr


def test_scheduler_only_with_dask(config, prices):
    result = invoke(
        [
            *("--config", str(config), "backtest", "--data", str(prices), "--param", "fast=2,3"),
            *("--sweeper", "processes", "--scheduler", "tcp://127.0.0.1:1"),
        ]
    )
    assert result.exit_code == 2 and "--scheduler" in result.stderr


@pytest.mark.parametrize("args", [("--help",), ("backtest", "--help"), ("plugins", "list")])
def test_commands_do_not_import_dask(tmp_path, args):
    modules = modules_imported_by(args, tmp_path)
    assert "tradekernel.cli" in modules
    if args == ("plugins", "list"):
        assert "tradekernel_dask" in modules  # the plugin was loaded, dask was not
    assert not {m for m in modules if m.split(".")[0] in ("dask", "distributed")}


def test_building_the_sweeper_does_not_import_dask_running_it_does(tmp_path):
    code = (
        "import sys\nfrom tradekernel.api import Kernel, Settings\n"
        "from tradekernel_backtest.sweep import build_sweeper\n"
        "base = Settings.load(None, environ="
        f"{{'TRADEKERNEL_KERNEL__STATE_DIR': {str(tmp_path)!r}}})\n"
        "s = build_sweeper(base, 'dask', None)\n"
        "print(type(s).__name__, 'distributed' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.stdout.strip() == "DaskSweeper False", result.stderr


def test_an_unreachable_scheduler_raises_from_sweep():
    sweeper = DaskSweeper(DaskConfig(scheduler=f"tcp://127.0.0.1:{_closed_port()}", timeout=1))
    with pytest.raises(TradekernelError, match="unreachable within 1 s"):
        next(sweeper.sweep(abs, [1]))


@given(st.text(max_size=60))
def test_any_scheduler_text_is_an_address_or_refused(text):
    try:
        config = DaskConfig(scheduler=text)
    except ValueError as exc:
        assert "scheduler" in str(exc)
    else:
        assert config.scheduler.split("://")[0] in ("tcp", "tls", "ws", "wss")
        assert text.isprintable() and " " not in text


TWO_LINES = "exec(\"raise ValueError(chr(10).join(['first line', 'second line']))\")"


def test_a_failing_job_gives_the_same_one_line_on_both_sweepers_and_no_log(capfd):
    errors = {
        name: [r.error for r in sweeper.sweep(eval, [TWO_LINES], workers=1)]
        for name, sweeper in (("processes", ProcessSweeper()), ("dask", DaskSweeper()))
    }
    assert errors["dask"] == errors["processes"] == ["ValueError: first line second line"]
    err = capfd.readouterr().err
    assert "Compute Failed" not in err and "Traceback" not in err


def test_a_busy_dashboard_port_gives_no_warning(recwarn, capfd):
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            held.bind(("127.0.0.1", 8787))
            held.listen()
        except OSError:
            pass  # another process holds it already: the same situation
        results = list(DaskSweeper(DaskConfig(workers=1)).sweep(eval, ["1 + 1"]))
    assert results[0].value == 2
    assert not [w for w in recwarn if "8787" in str(w.message)]
    assert "8787" not in capfd.readouterr().err


def test_a_lost_scheduler_fails_the_unfinished_jobs_with_one_line(cluster):
    sweeper = DaskSweeper(DaskConfig(scheduler=cluster.scheduler_address))
    jobs = ["6 * 7"] + ["__import__('time').sleep(60)"] * 3
    results = []
    for result in sweeper.sweep(eval, jobs):
        results.append(result)
        if len(results) == 1:
            cluster.close()
    assert results[0].value == 42
    lost = {r.error for r in results[1:]}
    assert lost == {
        f"the scheduler ({cluster.scheduler_address}) cancelled it or the connection to it was lost"
    }


@pytest.mark.parametrize("protocol", ["tls", "wss"])
def test_a_scheduler_needing_tls_is_a_config_error(config, prices, protocol):
    result = invoke(
        [
            *("--config", str(config), "backtest", "--strategist", "sma-cross"),
            *("--data", str(prices), "--param", "fast=2,3", "--no-record"),
            *("--scheduler", f"{protocol}://127.0.0.1:1"),
        ]
    )
    assert result.exit_code == 2, result.stderr
    assert "needs Dask security settings" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_the_docs_quote_the_measured_dask_figures():
    """Every figure for Dask's cost in the docs is the one bench/sweeps.py measured (the
    table of docs/scale-out.md); Ray's are said to be the issue's, not the bench's."""
    docs = Path(__file__).resolve().parents[3] / "docs"
    scale_out = (docs / "scale-out.md").read_text()
    table = re.search(r"\| dask \+ distributed .*installed \| ([\d.]+) MiB \|", scale_out)
    start = re.search(
        r"\| LocalCluster start \+ stop, 2 workers \(min of 3\) \| ([\d.]+) s \|", scale_out
    )
    assert table and start
    for raw in (scale_out, (docs / "architecture.md").read_text()):
        text = " ".join(raw.split())
        dask = text[
            text.index(
                next(m for m in ("## Sweeps on Dask", "**dask.distributed**") if m in text)
            ) :
        ]
        dask = dask.split("* **", 1)[0]
        sizes = set(re.findall(r"\+?([\d.]+) MiB installed", dask)) - {"259"}
        assert sizes == {table[1]}, sizes
        assert f"{start[1]} s to start and stop" in dask
        assert "+44 MiB" not in text
        assert re.search(r"259 MiB installed[^.]*\(?the issue's", text) or re.search(
            r"the issue's[^.]*figures[^.]*not reproduced by the repository's bench[^.]*259", text
        )
