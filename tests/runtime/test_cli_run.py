"""``tradekernel run`` as an operator runs it: a subprocess, signals, exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import CLI_CONFIG as CONFIG


def tk(cfg: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", bars=60))
    return path


def test_run_once_prints_a_summary(cfg):
    result = tk(cfg, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "cycles            1" in result.stdout
    assert "state.db" in result.stdout


def test_run_cycles_json_summary_and_events(cfg, tmp_path):
    result = tk(cfg, "run", "--cycles", "60", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["cycles"] == 60 and summary["orders_submitted"] > 0 and summary["fills"] > 0
    assert list((tmp_path / "state" / "events").glob("*.jsonl"))


def test_bad_flag_combination_is_a_usage_error(cfg):
    result = tk(cfg, "run", "--once", "--cycles", "3")
    assert result.returncode == 2
    assert "--once" in result.stderr


def test_sigterm_mid_run_leaves_a_consistent_store(tmp_path):
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(CONFIG.format(state=tmp_path / "state", bars=100000))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), "run", "--every", "0.01s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it has traded at least once
        line = proc.stdout.readline()
        if "submitted=1" in line or "submitted=2" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped: signal" in out
    verify = tk(cfg, "journal", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    stuck = tk(cfg, "intents", "list", "--state", "executing", "--json")
    assert json.loads(stuck.stdout)["intents"] == []


def test_runtime_plan_command():
    result = subprocess.run(
        [sys.executable, "-m", "tradekernel", "runtime-plan"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("hydrate")


def test_control_commands_persist_and_journal(cfg):
    assert tk(cfg, "control", "pause", "--by", "alice", "--reason", "maintenance").returncode == 0
    status = json.loads(tk(cfg, "control", "status", "--json").stdout)
    assert status["paused"] is True
    result = tk(cfg, "run", "--once", "--json")
    assert json.loads(result.stdout)["intents"] == 0
    assert tk(cfg, "control", "resume", "--by", "alice").returncode == 0
    assert json.loads(tk(cfg, "control", "status", "--json").stdout)["paused"] is False
    assert tk(cfg, "control", "kill-switch", "on", "--by", "bob").returncode == 0
    assert json.loads(tk(cfg, "control", "status", "--json").stdout)["kill_switch"] is True


def test_a_second_run_on_the_same_state_dir_is_refused(cfg, tmp_path):
    import fcntl
    import os

    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    fd = os.open(state / "run.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running agent holds it
    os.write(fd, b"4242\n")
    try:
        result = tk(cfg, "run", "--once")
    finally:
        os.close(fd)
    assert result.returncode == 3
    assert "another tradekernel run is running" in result.stderr and "4242" in result.stderr
    assert tk(cfg, "run", "--once").returncode == 0  # released: runs again


def test_a_broken_guard_section_stops_the_run_at_start(tmp_path):
    cfg = tmp_path / "plugins.toml"
    text = CONFIG.format(state=tmp_path / "state", bars=60)
    cfg.write_text(text.replace("[guard.max_order_notional]\nlimit = 50000\n", ""))
    result = tk(cfg, "run", "--once")
    assert result.returncode == 2
    assert "[guard.max_order_notional] limit" in result.stderr
    assert "Traceback" not in result.stderr
