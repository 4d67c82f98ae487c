"""``[broker.paper] db`` that cannot be the account file is a configuration error that
``config check`` reports, and ``run`` refuses it before writing anything."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("{tmp}", "is a directory"),
        ("{tmp}/afile/paper.db", "is under {tmp}/afile, which is a file, not a directory"),
        ("{tmp}/afile/deeper/paper.db", "is under {tmp}/afile, which is a file"),
    ],
)
def test_a_db_that_cannot_be_a_file_is_refused_by_config_check_and_run(tmp_path, db, message):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    db, message = db.format(tmp=tmp_path), message.format(tmp=tmp_path)
    cfg = tmp_path / "plugins.toml"
    state = tmp_path / "state"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{state}"\n[components]\nmarket_data = "synthetic"\n'
        f'[broker.paper]\ndb = "{db}"\n',
        encoding="utf-8",
    )
    for args in (("config", "check"), ("run", "--once")):
        done = subprocess.run(
            [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert f"plugins.toml: [broker.paper] db: {db} {message}" in done.stderr
        assert "unexpected" not in done.stderr
        assert not state.exists()  # nothing written: no state.db, no run.lock


def test_a_db_in_a_directory_still_to_be_created_is_fine(tmp_path):
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n[components]\nmarket_data = "synthetic"\n'
        f'[broker.paper]\ndb = "{tmp_path}/new/dir/paper.db"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
