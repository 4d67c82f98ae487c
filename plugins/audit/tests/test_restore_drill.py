"""The restore drill (docs/audit.md): trade a short paper session, back up, archive and
verify, restore into a fresh state dir and check it reproduces the same intent states."""

from __future__ import annotations

import json
import os

from tradekernel.api import Kernel, PluginRegistry, Runtime, Settings, Store, run_cycles

from .conftest import HMAC_ENV

SESSION = """[kernel]
state_dir = "{state_dir}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl", "sqlite"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]
node_backoff = "0s"

[market_data.synthetic]
symbols = ["AAA", "BBB"]
seed = 7
bars = 400

[broker.paper]
cash = 100000

[guard.max_order_notional]
limit = 5000

[audit]
hmac_key_env = "{hmac_env}"
"""


def _paper_session(env) -> None:
    env.config.write_text(SESSION.format(state_dir=env.state_dir, hmac_env=HMAC_ENV))
    settings = Settings.load(env.config, environ=dict(os.environ))
    kernel = Kernel(settings, PluginRegistry(block=settings.plugins.block).load())
    try:
        with Runtime(kernel) as runtime:
            states = run_cycles(runtime, cycles=None)
        assert any(s.submitted for s in states), "sma-cross should trade on synthetic data"
    finally:
        kernel.close()


def test_restore_drill(env, tmp_path):
    _paper_session(env)
    code, original, _ = env.cli("intents", "list", "--json")
    assert code == 0
    intents = json.loads(original)["intents"]
    assert any(i["state"] == "submitted" for i in intents)

    # 1. back up the state database, archive and verify every day of the session
    backup = tmp_path / "backup" / "state-backup.db"
    backup.parent.mkdir()
    assert env.cli("journal", "backup", str(backup))[0] == 0
    with Store.open(env.state_dir, create=False) as store:
        days = sorted({row.ts[:10] for row in store.journal_rows()})
    for day in days:
        code, out, err = env.cli("audit", "archive", "--date", day)
        assert code == 0, err
        assert env.cli("audit", "verify", str(env.bundle(day)))[0] == 0
        assert env.manifest(day)["events"]["jsonl"]["records"] > 0

    # 2. restore into a fresh state dir (a non-empty one is refused)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    code, _, err = env.cli("audit", "restore", str(backup), "--state-dir", str(busy))
    assert code == 3 and "not empty" in err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    fresh = tmp_path / "restored"
    code, out, err = env.cli("audit", "restore", str(backup), "--state-dir", str(fresh))
    assert code == 0, err
    assert f"{len(intents)} intents" in out

    # 3. the restored state reproduces the same intents and a verifying journal
    env.config.write_text(SESSION.format(state_dir=fresh, hmac_env=HMAC_ENV))
    code, restored, _ = env.cli("intents", "list", "--json")
    assert code == 0 and json.loads(restored)["intents"] == intents
    code, out, _ = env.cli("journal", "verify")
    assert code == 0 and out.startswith("ok:")


def test_restore_refuses_what_is_not_a_backup(env, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    code, _, _ = env.cli("audit", "restore", str(junk), "--state-dir", str(tmp_path / "new"))
    assert code == 2 and not (tmp_path / "new").exists()
    code, _, _ = env.cli("audit", "restore", str(tmp_path / "missing.db"), "--state-dir", "x")
    assert code == 1


def test_restore_refuses_a_backup_whose_journal_is_broken(env, tmp_path):
    import sqlite3

    env.seed("2026-03-02")
    backup = tmp_path / "b.db"
    assert env.cli("journal", "backup", str(backup))[0] == 0
    conn = sqlite3.connect(backup)
    conn.execute("UPDATE journal SET reason = 'edited' WHERE seq = 1")
    conn.commit()
    conn.close()
    target = tmp_path / "new"
    code, _, err = env.cli("audit", "restore", str(backup), "--state-dir", str(target))
    assert code == 4 and "does not verify" in err and not target.exists()
