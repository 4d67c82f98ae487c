"""The journal hash chain: tampering and deletion are detected, by the API and the CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest
from tradekernel.store import Store


@pytest.fixture
def filled_dir(state_dir, helpers):
    with Store.open(state_dir) as store:
        ids = helpers.add_approved(store, 3)
        store.transition(ids[0], "executing", actor="ex")
        store.set_control("kill_switch", True, actor="op")
        assert store.verify_journal().ok
        assert store.verify_journal().rows_checked == 11
    return state_dir


def _tamper(state_dir, sql, *args):
    conn = sqlite3.connect(state_dir / "state.db")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def _verify(state_dir):
    with Store.open(state_dir, check_anchor=False) as store:
        return store.verify_journal()


@pytest.mark.parametrize(
    ("sql", "bad_seq", "problem"),
    [
        ("UPDATE journal SET actor = 'mallory' WHERE seq = 3", 3, "altered"),
        ("UPDATE journal SET reason = 'because' WHERE seq = 5", 5, "altered"),
        ("UPDATE journal SET ts = '2020-01-01T00:00:00.000000+00:00' WHERE seq = 2", 2, "altered"),
        ("UPDATE journal SET payload = '{\"x\":1}' WHERE seq = 4", 4, "digest"),
        ("DELETE FROM journal WHERE seq = 6", 7, "expected seq 6"),
        (
            "UPDATE journal SET hash = (CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END)"
            " || substr(hash, 2) WHERE seq = 8",
            8,
            "altered",
        ),
    ],
)
def test_tampered_rows_are_detected(filled_dir, sql, bad_seq, problem):
    _tamper(filled_dir, sql)
    result = _verify(filled_dir)
    assert not result.ok
    assert result.first_bad_seq == bad_seq
    assert problem in result.problem


def test_rewriting_a_row_and_its_hash_breaks_the_next_link(filled_dir):
    from tradekernel.store.journal import row_hash

    conn = sqlite3.connect(filled_dir / "state.db")
    row = conn.execute(
        "SELECT seq, entity, from_state, to_state, actor, reason, ts, payload_digest, prev_hash "
        "FROM journal WHERE seq = 3"
    ).fetchone()
    keys = (
        "seq",
        "entity",
        "from_state",
        "to_state",
        "actor",
        "reason",
        "ts",
        "payload_digest",
        "prev_hash",
    )
    fields = dict(zip(keys, row, strict=True))
    fields["actor"] = "mallory"
    conn.execute(
        "UPDATE journal SET actor = 'mallory', hash = ? WHERE seq = 3", (row_hash(**fields),)
    )
    conn.commit()
    conn.close()
    result = _verify(filled_dir)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "prev_hash" in result.problem


def test_deleting_the_last_row_of_an_intent_is_detected(filled_dir):
    _tamper(filled_dir, "DELETE FROM journal WHERE seq = (SELECT MAX(seq) FROM journal)")
    _tamper(filled_dir, "UPDATE control SET value = 'false' WHERE key = 'kill_switch'")
    assert not _verify(filled_dir).ok  # the control row no longer has a journal entry


def test_state_disagreeing_with_the_journal_is_detected(filled_dir):
    _tamper(filled_dir, "UPDATE intents SET state = 'approved' WHERE state = 'executing'")
    result = _verify(filled_dir)
    assert not result.ok and "says executing" in result.problem


def test_control_value_disagreeing_with_the_journal_is_detected(filled_dir):
    _tamper(filled_dir, "UPDATE control SET value = 'false' WHERE key = 'kill_switch'")
    result = _verify(filled_dir)
    assert not result.ok and "control kill_switch" in result.problem


def test_cli_verify_ok_then_exit_4_naming_the_row(filled_dir, run_cli):
    code, out, _ = run_cli("journal", "verify")
    assert code == 0 and "11 journal rows verified" in out
    code, out, _ = run_cli("journal", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    _tamper(filled_dir, "UPDATE journal SET to_state = 'rejected' WHERE seq = 9")
    code, out, err = run_cli("journal", "verify")
    assert code == 4
    assert "row 9" in err
    code, out, err = run_cli("journal", "verify", "--json")
    assert code == 4 and json.loads(out)["first_bad_seq"] == 9


def test_cli_export_and_backup(filled_dir, run_cli, tmp_path):
    code, out, _ = run_cli("journal", "export", "--jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["seq"] for r in lines] == list(range(1, 12))
    target = tmp_path / "journal.jsonl"
    code, _, _ = run_cli("journal", "export", "--jsonl", "--out", str(target))
    assert code == 0 and target.read_text() == out
    backup = tmp_path / "bk" / "state.db"
    backup.parent.mkdir()
    code, out, _ = run_cli("journal", "backup", str(backup))
    assert code == 0
    with Store.open(backup.parent) as copy:
        assert copy.verify_journal().rows_checked == 11
    code, _, err = run_cli("journal", "backup", str(backup))
    assert code == 3 and "already exists" in err
