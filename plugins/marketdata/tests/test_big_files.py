"""Replay files are read with bounded memory: a huge file without line breaks (a sparse or
binary file) is refused after one bounded read, with the file and line in the message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tradekernel.api import ConfigError
from tradekernel_marketdata import ReplayConfig, ReplayFeed
from tradekernel_marketdata.csvbars import MAX_LINE, CsvDataError

# Runs the CLI in a child and reports the child's peak RSS (KiB on Linux).
MEASURE = textwrap.dedent(
    """
    import resource, subprocess, sys
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(done.returncode, peak, done.stderr.strip().replace("\\n", " | "), sep="\\n")
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_config_check_on_a_big_sparse_file_is_fast_and_bounded(tmp_path: Path):
    data = tmp_path / "aaa.csv"
    with data.open("wb") as fh:
        fh.truncate(400 * 2**20)  # 400 MiB of NUL bytes, no line break, no disk used
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            [kernel]
            state_dir = "{tmp_path / "state"}"

            [components]
            market_data = "replay"
            metrics_sinks = []
            notifiers = []

            [market_data.replay]
            paths = ["{data}"]
            """
        ),
        encoding="utf-8",
    )
    cli = [sys.executable, "-m", "tradekernel", "--config", str(cfg), "config", "check"]
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cli], capture_output=True, text=True, timeout=60
    )
    code, peak_kib, stderr = out.stdout.splitlines()
    assert int(code) == 2, stderr
    assert f"{data}:1: line longer than" in stderr
    assert "unexpected" not in stderr
    assert int(peak_kib) < 200 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"


@pytest.mark.parametrize(
    ("tail", "line", "message"),
    [
        ("x" * (MAX_LINE + 10), 3, "line longer than"),
        ("2024-01-03,1,1,1\x00,1,1,1", 3, "NUL bytes"),
        (
            '2024-01-03,"' + "1\n" * 70_000 + '",1,1,1,1,1',
            3 + 65_536,
            "field larger than field limit",
        ),
    ],
)
def test_an_oversized_or_binary_row_names_file_and_line(tmp_path: Path, tail, line, message):
    path = tmp_path / "aaa.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,1,1,1,1,1\n" + tail + "\n",
        encoding="utf-8",
    )
    feed = ReplayFeed(ReplayConfig(paths=[str(path)]))
    with pytest.raises(CsvDataError, match=message) as info:
        while feed.advance() is not None:
            pass
    assert f"{path}:{line}:" in str(info.value)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path):
    path = tmp_path / "aaa.csv"
    path.write_bytes(b"Date,Open,High,Low,Close\n2024-01-02,1,1,1,\xff\n")
    with pytest.raises(ConfigError, match=r"aaa\.csv: not UTF-8"):
        ReplayFeed(ReplayConfig(paths=[str(path)])).advance()
