"""``tradekernel health``: the agent holds its lock and its last cycle is recent."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tradekernel.api import RUN_LOCK, exclusive
from tradekernel_deploy.health import check


def test_no_agent_ever_ran(tmp_path):
    result = check(tmp_path, 300)
    assert not result.ok and "no agent has run here" in result.reason


def test_a_lock_nobody_holds_is_unhealthy(tmp_path):
    (tmp_path / RUN_LOCK).write_text("4242\n")
    result = check(tmp_path, 300)
    assert not result.ok and "nothing holds" in result.reason


def test_a_held_lock_with_a_recent_cycle_is_healthy_and_a_stale_one_is_not(tmp_path):
    lock = tmp_path / RUN_LOCK
    with exclusive(lock, "tradekernel run"):
        result = check(tmp_path, 300)
        assert result.ok and result.pid == os.getpid(), result
        old = time.time() - 600
        os.utime(lock, (old, old))
        result = check(tmp_path, 300)
        assert not result.ok and "last cycle ended 600s ago (max 300s)" in result.reason
    assert not check(tmp_path, 300).ok


def test_without_proc_locks_the_lock_is_probed(tmp_path):
    lock = tmp_path / RUN_LOCK
    missing = tmp_path / "no-proc-locks"
    with exclusive(lock, "tradekernel run"):
        result = check(tmp_path, 300, proc_locks=missing)
        assert result.ok and result.pid == os.getpid()
    result = check(tmp_path, 300, proc_locks=missing)
    assert not result.ok
    assert not os.path.exists(missing)


def test_the_command_exits_1_with_the_reason_and_0_while_a_run_cycles(cli, state_dir: Path):
    result = cli("health")
    assert result.exit_code == 1 and "unhealthy: no agent has run here" in result.stdout
    assert cli("run", "--once", "-q").exit_code == 0  # touches the lock, then lets it go
    result = cli("health", "--max-age", "5m", "--json")
    assert result.exit_code == 1 and "nothing holds" in json.loads(result.stdout)["reason"]
    with exclusive(state_dir / RUN_LOCK, "tradekernel run"):
        assert cli("health", "--max-age", "5m").exit_code == 0
    assert cli("health", "--max-age", "0s").exit_code == 2


def test_a_bad_deploy_setting_is_a_configuration_error(cli, write_config):
    write_config(extra='\n[deploy]\nhealth_max_age = "soon"\n')
    result = cli("health")
    assert result.exit_code == 2
    assert "[deploy] health_max_age: expected a duration like '15m', got 'soon'" in result.stderr
    write_config(extra='\n[deploy]\nhealth_max_ag = "1m"\n')
    assert "did you mean 'health_max_age'" in cli("health").stderr


def test_a_heartbeat_in_the_future_is_unhealthy_with_the_reason(tmp_path):
    lock = tmp_path / RUN_LOCK
    with exclusive(lock, "tradekernel run"):
        ahead = time.time() + 30 * 86400  # the clock stepped back, or a touched file
        os.utime(lock, (ahead, ahead))
        result = check(tmp_path, 300)
        assert not result.ok and "in the future (clock skew)" in result.reason, result
        near = time.time() + 5  # timestamps' rounding is no skew
        os.utime(lock, (near, near))
        assert check(tmp_path, 300).ok


def test_a_fifo_or_symlink_lock_file_is_unhealthy_without_blocking(tmp_path):
    lock = tmp_path / RUN_LOCK
    os.mkfifo(lock)
    assert "not a regular file" in check(tmp_path, 300).reason
    lock.unlink()
    lock.symlink_to("/dev/zero")
    assert "not a regular file" in check(tmp_path, 300).reason
