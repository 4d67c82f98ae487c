"""Lost state as an operator meets it: ``tradekernel`` subprocesses on real files, a
truncated or WAL-less ``state.db``, a reset ``paper.db``, a crash (real SIGKILL) that
leaves a proposal behind, and state directories in places they cannot live."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import CLI_CONFIG as CONFIG


def tk(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def config(tmp_path: Path, state: Path, bars: int = 60) -> Path:
    path = tmp_path / f"plugins-{state.name}.toml"
    path.write_text(CONFIG.format(state=state, bars=bars))
    return path


def events(state: Path) -> list[dict]:
    out = []
    for path in sorted((state / "events").glob("*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return out


def anchor_seq(state: Path) -> int:
    path = state / "journal.anchor"
    return json.loads(path.read_text())["seq"] if path.exists() else 0


def journal_rows(cfg: Path) -> int:
    return len(tk(cfg, "journal", "export", "--jsonl").stdout.splitlines())


@pytest.fixture(scope="module")
def traded(tmp_path_factory) -> Path:
    """A state directory after 60 cycles with orders and fills (copied per test)."""
    tmp = tmp_path_factory.mktemp("traded")
    state = tmp / "state"
    result = tk(config(tmp, state), "run", "--cycles", "60", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["orders_submitted"] >= 3
    return state


@pytest.fixture
def state(traded: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "state"
    shutil.copytree(traded, copy)
    return copy


def _wipe_wal(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_state_db_truncated_to_zero_never_verifies_and_is_not_adopted(state, tmp_path):
    cfg = config(tmp_path, state)
    assert tk(cfg, "journal", "verify").returncode == 0
    seq = journal_rows(cfg)
    assert seq > 20
    (state / "state.db").write_bytes(b"")
    _wipe_wal(state / "state.db")
    verify = tk(cfg, "journal", "verify")
    assert verify.returncode == 4
    assert f"journal truncated: anchor at seq {seq}, journal ends at 0" in verify.stderr
    run = tk(cfg, "run", "--once")
    assert run.returncode == 2, run.stderr
    assert "journal truncated" in run.stderr and "audit restore" in run.stderr
    assert "journal backup" in run.stderr and "unexpected" not in run.stderr
    assert (state / "state.db").stat().st_size == 0  # nothing adopted or written


def test_a_wal_deleted_before_a_sigkill_is_not_adopted(tmp_path):
    state = tmp_path / "state"
    cfg = config(tmp_path, state, bars=100000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), "run", "--every", "0.01s"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and anchor_seq(state) < 10:
            time.sleep(0.05)
        (state / "state.db-wal").unlink(missing_ok=True)
        before = anchor_seq(state)
        while time.monotonic() < deadline and anchor_seq(state) == before:
            time.sleep(0.02)  # the agent goes on into the deleted WAL and anchors it
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    seq = anchor_seq(state)
    verify = tk(cfg, "journal", "verify")
    assert verify.returncode == 4, verify.stdout + verify.stderr
    assert f"journal truncated: anchor at seq {seq}" in verify.stderr and seq >= 10
    run = tk(cfg, "run", "--once")
    assert run.returncode == 2 and "journal truncated" in run.stderr


def test_a_reset_paper_account_halts_trading_and_reissues_no_order_id(state, tmp_path):
    cfg = config(tmp_path, state, bars=200)
    sent = json.loads(tk(cfg, "intents", "list", "--state", "submitted", "--json").stdout)
    broker_ids = {i["broker_order_id"] for i in sent["intents"]}
    assert len(broker_ids) == len(sent["intents"]) >= 3
    (state / "paper.db").write_bytes(b"")
    _wipe_wal(state / "paper.db")
    run = tk(cfg, "run", "--cycles", "40", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["orders_submitted"] == 0
    conflicts = [e for e in events(state) if (e["stage"], e["kind"]) == ("executor", "conflict")]
    assert conflicts and all(e["severity"] == "critical" for e in conflicts)
    assert all(e["fields"]["reason"].startswith("unknown_to_broker") for e in conflicts)
    status = json.loads(tk(cfg, "control", "status", "--json").stdout)
    assert status["trading_state"] == "halted"
    # an operator resumes on a fresh account: new intents get ids never seen before
    assert tk(cfg, "control", "trading-state", "active").returncode == 0
    (state / "journal.anchor").unlink()  # the operator starts a new record ...
    for name in ("state.db", "paper.db"):
        (state / name).unlink()
        _wipe_wal(state / name)
    (state / "market_data.synthetic.json").unlink(missing_ok=True)
    again = tk(cfg, "run", "--cycles", "60", "--json")
    assert again.returncode == 0, again.stderr
    resent = json.loads(tk(cfg, "intents", "list", "--state", "submitted", "--json").stdout)
    new_ids = {i["broker_order_id"] for i in resent["intents"]}
    assert new_ids and all(i.startswith("paper-tk-") for i in new_ids)


CRASH_AFTER_PROPOSAL = textwrap.dedent(
    """
    import os, signal, sys
    from tradekernel.store import store as store_module
    from tradekernel.cli import main

    add_intent = store_module.Store.add_intent

    def add_then_die(self, *args, **kwargs):
        record = add_intent(self, *args, **kwargs)  # committed: the intent is proposed
        os.kill(os.getpid(), signal.SIGKILL)
        return record

    store_module.Store.add_intent = add_then_die
    main(["--config", sys.argv[1], "run", "--cycles", "60"])
    """
)


def test_a_proposal_left_by_a_sigkill_is_cancelled_at_the_next_start(tmp_path):
    state = tmp_path / "state"
    cfg = config(tmp_path, state)
    crash = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_PROPOSAL, str(cfg)], capture_output=True, timeout=120
    )
    assert crash.returncode == -signal.SIGKILL
    left = json.loads(tk(cfg, "intents", "list", "--state", "proposed", "--json").stdout)
    (leftover,) = left["intents"]
    run = tk(cfg, "run", "--once")
    assert run.returncode == 0, run.stderr
    shown = json.loads(tk(cfg, "intents", "show", leftover["id"], "--json").stdout)["intent"]
    assert shown["state"] == "cancelled"
    assert shown["reason"].startswith("abandoned_proposal")
    (recovered,) = [
        e for e in events(state) if (e["stage"], e["kind"]) == ("commander", "recovered")
    ]
    assert recovered["fields"]["cancelled"] == 1
    assert tk(cfg, "journal", "verify").returncode == 0


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_a_state_dir_that_is_a_file_is_one_line_exit_2(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    state = blocker if where == "file" else blocker / "state"
    cfg = config(tmp_path, state)
    for args in (
        ("run", "--once"),
        ("journal", "verify"),
        ("control", "pause"),
        ("config", "check"),
    ):
        result = tk(cfg, *args)
        assert result.returncode == 2, (args, result.stderr)
        line = result.stderr.strip()
        assert "\n" not in line and "unexpected" not in line and "not a directory" in line
        assert "state_dir" in line
    assert blocker.read_text() == "not a directory"


def test_a_state_dir_with_a_nul_or_that_cannot_be_created_is_one_line_exit_2(tmp_path):
    cfg = config(tmp_path, tmp_path / "PLACE")
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "PLACE"), "a\\u0000b"))
    for args in (("config", "check"), ("run", "--once")):
        result = tk(cfg, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "NUL" in result.stderr and "unexpected" not in result.stderr
    env = {**os.environ, "TRADEKERNEL_KERNEL__STATE_DIR": "/proc/tradekernel-state"}
    cfg = config(tmp_path, tmp_path / "s")
    run = subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), "run", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 2, run.stderr
    line = run.stderr.strip()
    assert "\n" not in line and "unexpected" not in line
    assert "/proc/tradekernel-state: cannot create the directory" in line


def test_undecodable_bytes_in_state_db_are_one_line(state, tmp_path):
    cfg = config(tmp_path, state)
    db = state / "state.db"
    data = bytearray(db.read_bytes())
    at = data.find(b"sma-cross")
    assert at > 0
    data[at : at + 4] = b"\xff\xfe\xfd\xfc"
    db.write_bytes(bytes(data))
    show = tk(cfg, "journal", "export", "--jsonl")  # reads every journal row
    verify = tk(cfg, "journal", "verify")
    assert show.returncode == 2 and "corrupted" in show.stderr, show.stderr
    assert verify.returncode == 4 and "corrupted" in verify.stderr
    for result in (show, verify):
        assert "unexpected" not in result.stderr and "Could not decode" in result.stderr


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)])
    return done.returncode == 0


def test_a_full_disk_is_one_line_exit_1(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "size=260k"):
        pytest.skip("needs a small tmpfs (root and mount); the mapping is tested in tests/store")
    try:
        result = tk(config(tmp_path, disk), "run", "--cycles", "60")
    finally:
        subprocess.run(["umount", str(disk)])
    assert result.returncode in (1, 2), result.stderr
    assert "unexpected" not in result.stderr and "full" in result.stderr


def test_a_read_only_state_dir_is_one_line_exit_2(state, tmp_path):
    if os.geteuid() != 0:
        state.chmod(0o555)
        place = state
    else:
        place = tmp_path / "ro"
        if not _mount_tmpfs(place, "size=4m"):
            pytest.skip("root without mount: cannot make a directory read-only")
        subprocess.run(["cp", "-r", f"{state}/.", str(place)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(place)], check=True)
    try:
        cfg = config(tmp_path, place)
        for args in (("run", "--once"), ("control", "pause")):
            result = tk(cfg, *args)
            assert result.returncode == 2, (args, result.stderr)
            assert "read-only" in result.stderr and "corrupted" not in result.stderr
            assert "unexpected" not in result.stderr
        verify = tk(cfg, "journal", "verify")  # an evidence copy can be verified
        assert verify.returncode == 0, verify.stderr
        assert "journal rows verified" in verify.stdout
    finally:
        if os.geteuid() != 0:
            state.chmod(0o755)
        else:
            subprocess.run(["umount", str(place)])


def test_state_and_anchor_deleted_together_are_not_adopted_next_to_a_traded_account(
    state, tmp_path
):
    """With state.db and journal.anchor both gone, paper.db still holds the orders this
    kernel sent: the fresh store is refused (exit 2) and nothing is traded."""
    cfg = config(tmp_path, state)
    for path in state.glob("state.db*"):
        path.unlink()
    (state / "journal.anchor").unlink()
    orders_before = _paper_orders(state)
    run = tk(cfg, "run", "--cycles", "5", "--json")
    assert run.returncode == 2, run.stderr
    assert "holds orders this kernel sent that the state store does not know" in run.stderr
    assert "the store is empty" in run.stderr
    assert "audit restore" in run.stderr and "unexpected" not in run.stderr
    assert _paper_orders(state) == orders_before
    fresh = tmp_path / "fresh"  # a new state dir with a new paper account starts fine
    assert tk(config(tmp_path, fresh), "run", "--once").returncode == 0


def _paper_orders(state: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(state / "paper.db")
    try:
        return conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    finally:
        conn.close()


def test_commands_with_their_own_tables_never_write_into_a_lost_state(state, tmp_path):
    """The notification log and the sqlite event sink keep tables in state.db: with the
    database deleted under its anchor they refuse (exit 2) instead of creating a new one."""
    cfg = config(tmp_path, state)
    text = cfg.read_text().replace('metrics_sinks = ["jsonl"]', 'metrics_sinks = ["sqlite"]')
    cfg.write_text(text.replace("notifiers = []", 'notifiers = ["log"]'))
    for path in state.glob("state.db*"):
        path.unlink()
    for args in (("notify", "test", "log"), ("ops", "batch")):
        result = tk(cfg, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "journal truncated" in result.stderr + result.stdout
        assert not (state / "state.db").exists(), args


def test_a_page_of_random_bytes_fails_verification_with_exit_4(state, tmp_path):
    """A damaged database verify can open is a failed verification (exit 4) naming
    `audit restore`; commands that would use it exit 2."""
    import random

    cfg = config(tmp_path, state)
    db = state / "state.db"
    pages = db.stat().st_size // 4096
    assert pages > 8
    rng = random.Random(3)
    with db.open("r+b") as fh:
        fh.seek(4096 * (pages // 2))
        fh.write(rng.randbytes(4096))
    verify = tk(cfg, "journal", "verify")
    assert verify.returncode == 4, verify.stderr
    assert "corrupted" in verify.stderr and "audit restore" in verify.stderr
    assert "unexpected" not in verify.stderr
    run = tk(cfg, "run", "--once")
    assert run.returncode == 2 and "audit restore" in run.stderr, run.stderr


def test_a_writing_command_after_a_refused_start_does_not_bypass_the_refusal(state, tmp_path):
    """With state.db and its anchor lost, the refused `run` leaves no state.db behind, and
    a command that writes one (`control kill-switch off`) does not make the next start
    adopt it: every start compares the broker's orders with the store's."""
    cfg = config(tmp_path, state)
    for path in state.glob("state.db*"):
        path.unlink()
    (state / "journal.anchor").unlink()
    orders_before = _paper_orders(state)
    first = tk(cfg, "run", "--once")
    assert first.returncode == 2, first.stderr
    assert not (state / "state.db").exists()
    assert tk(cfg, "control", "kill-switch", "off").returncode == 0
    again = tk(cfg, "run", "--cycles", "5")
    assert again.returncode == 2, again.stderr
    assert "holds orders this kernel sent that the state store does not know" in again.stderr
    assert "paper.db" in again.stderr and "unexpected" not in again.stderr
    assert _paper_orders(state) == orders_before


def test_a_restored_copy_older_than_the_broker_account_is_refused(tmp_path):
    """`audit restore` of a backup taken before the last orders, next to the account as it
    is now: the orders the copy does not know refuse the start (exit 2), none is adopted."""
    state = tmp_path / "state"
    cfg = config(tmp_path, state, bars=160)
    assert tk(cfg, "run", "--cycles", "40").returncode == 0
    backup = tmp_path / "backup.db"
    assert tk(cfg, "journal", "backup", str(backup)).returncode == 0
    orders_at_backup = _paper_orders(state)
    assert tk(cfg, "run", "--cycles", "120").returncode == 0
    assert _paper_orders(state) > orders_at_backup
    new = tmp_path / "new"
    restored = tk(cfg, "audit", "restore", str(backup), "--state-dir", str(new))
    assert restored.returncode == 0, restored.stderr
    import shutil

    shutil.copy(state / "paper.db", new / "paper.db")
    orders = _paper_orders(new)
    run = tk(config(tmp_path, new, bars=160), "run", "--once")
    assert run.returncode == 2, run.stderr
    assert "is older than the account" in run.stderr and "unexpected" not in run.stderr
    assert _paper_orders(new) == orders


def test_a_briefly_missing_paper_account_does_not_overwrite_the_order_statuses(state, tmp_path):
    """paper.db moved away for one start: the orders are reported unknown (halt), but
    keep their status; once the account is back, a reconcile finds them again."""
    cfg = config(tmp_path, state)

    def statuses() -> dict[str, str]:
        listed = json.loads(tk(cfg, "intents", "list", "--state", "submitted", "--json").stdout)
        return {i["intent"]["id"]: i["order_status"] for i in listed["intents"]}

    before = statuses()
    assert before and "unknown_to_broker" not in before.values()
    (state / "paper.db").rename(tmp_path / "paper.db.keep")
    _wipe_wal(state / "paper.db")
    assert tk(cfg, "run", "--once").returncode == 0
    assert json.loads(tk(cfg, "control", "status", "--json").stdout)["trading_state"] == "halted"
    for path in state.glob("paper.db*"):
        path.unlink()
    (tmp_path / "paper.db.keep").rename(state / "paper.db")
    assert tk(cfg, "control", "trading-state", "active").returncode == 0
    assert tk(cfg, "intents", "reconcile").returncode == 0
    assert statuses() == before
    conn = sqlite3.connect(state / "state.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM unknown_orders").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("switch", "key", "sql"),
    [
        (("mode", "shadow"), "mode", "DELETE FROM control WHERE key = 'mode'"),
        (("pause",), "paused", "DELETE FROM control WHERE key = 'paused'"),
        (("pause",), "paused", "UPDATE control SET value = 'false' WHERE key = 'paused'"),
    ],
)
def test_an_operator_switch_changed_behind_the_journal_fails_safe(tmp_path, switch, key, sql):
    """`control mode shadow` or `control pause`, then the row deleted or changed by SQL:
    the runtime reads the switch as its safe value (shadow, paused), sends nothing, and
    reports one critical control.conflict."""
    state = tmp_path / "state"
    cfg = config(tmp_path, state)
    assert tk(cfg, "control", *switch).returncode == 0
    conn = sqlite3.connect(state / "state.db")
    conn.execute(sql)
    conn.commit()
    conn.close()
    run = tk(cfg, "run", "--cycles", "60", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["orders_submitted"] == 0
    conflicts = [e for e in events(state) if (e["stage"], e["kind"]) == ("control", "conflict")]
    assert len(conflicts) == 1 and conflicts[0]["severity"] == "critical"
    assert conflicts[0]["fields"]["reason"].startswith(f"journal_mismatch: control {key} ")


def _evidence_with_wal(state: Path, evidence: Path) -> int:
    """Copy ``state`` (state.db, its WAL holding a journaled control change not yet
    checkpointed, no -shm) to ``evidence``; the journal's row count, WAL included."""
    import shutil

    from tradekernel.store import Store

    evidence.mkdir()
    store = Store.open(state)
    try:
        store.set_control("paused", False, actor="op", reason="after the last checkpoint")
        assert (state / "state.db-wal").stat().st_size > 0
        for name in ("state.db", "state.db-wal", "journal.anchor"):
            shutil.copyfile(state / name, evidence / name)
        rows = store.conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    finally:
        store.close()
    return rows


def test_verify_of_a_read_only_copy_reads_its_wal(state, tmp_path):
    """A read-only evidence copy (state.db and a non-empty WAL, no -shm): verify reads the
    WAL's committed rows (from a private copy) instead of ignoring them."""
    if os.geteuid() != 0:
        place = tmp_path / "ro"
        rows = _evidence_with_wal(state, place)
        place.chmod(0o555)
    else:
        staged = tmp_path / "staged"
        rows = _evidence_with_wal(state, staged)
        place = tmp_path / "ro"
        if not _mount_tmpfs(place, "size=4m"):
            pytest.skip("root without mount: cannot make a directory read-only")
        subprocess.run(["cp", "-r", f"{staged}/.", str(place)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(place)], check=True)
    try:
        verify = tk(config(tmp_path, place), "journal", "verify")
        assert verify.returncode == 0, verify.stderr
        assert f"ok: {rows} journal rows verified" in verify.stdout
        assert sorted(p.name for p in place.iterdir()) == [
            "journal.anchor",
            "state.db",
            "state.db-wal",
        ]
    finally:
        if os.geteuid() != 0:
            place.chmod(0o755)
        else:
            subprocess.run(["umount", str(place)])
