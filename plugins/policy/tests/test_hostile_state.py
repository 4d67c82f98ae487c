"""Hostile state and operator input for ``tradekernel policy``: terminal escapes recorded
in policy.db are shown inert, a corrupt policy.db is a one-line error naming the file,
``sign --by`` refuses control characters, ``verify`` of a missing file is a usage error."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tradekernel.api import GuardContext, Intent, Quote
from tradekernel.testing import invoke
from tradekernel_policy.records import encode_context, encode_intent

from .conftest import HMAC_ENV, HMAC_KEY, POLICY_HEAD, write
from .test_commands import CAP

ENV = {HMAC_ENV: HMAC_KEY}
NOW = datetime(2024, 6, 3, 15, tzinfo=UTC)
EVIL = "\x1b]0;pwned\x07\x1b[2J"


def config(tmp_path: Path) -> Path:
    policy = write(tmp_path / "p.toml", POLICY_HEAD + CAP.format(cap=1000))
    (tmp_path / "state").mkdir(exist_ok=True)
    return write(
        tmp_path / "plugins.toml",
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n[audit]\nhmac_key_env = "{HMAC_ENV}"\n'
        f'[components]\nguards = ["policy"]\n[guard.policy]\nfile = "{policy}"\n',
    )


def run(tmp_path: Path, *args: str):
    return invoke(["--config", str(config(tmp_path)), "policy", *args], env=ENV)


def records(tmp_path: Path, rows) -> None:
    db = sqlite3.connect(tmp_path / "state" / "policy.db")
    db.execute(
        "CREATE TABLE evaluations (guard TEXT, intent_id TEXT, ts TEXT, version TEXT, "
        "allow INTEGER, code TEXT, rule TEXT, intent TEXT, context TEXT)"
    )
    db.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def recorded(intent_id: str, quantity: int = 50, evil: str = "") -> tuple:
    intent = Intent.create(symbol="AAA", side="buy", quantity=quantity, as_of=NOW)
    ctx = GuardContext(
        as_of=NOW, quote=Quote(symbol="AAA", ts=NOW, last="10"), positions={}, account=None
    )
    return (
        "policy",
        intent_id,
        "2099-01-01T00:00:00+00:00",
        "v" + evil,
        1,
        "ok" + evil,
        "r" + evil,
        encode_intent(intent),
        encode_context(ctx),
    )


def test_escapes_recorded_in_policy_db_are_shown_inert(tmp_path):
    config(tmp_path)
    records(tmp_path, [recorded("int_e" + EVIL, evil=EVIL)])
    explained = run(tmp_path, "explain", "int_e" + EVIL)
    assert explained.exit_code == 0, explained
    assert "\x1b" not in explained.stdout and "\\x1b]0;pwned" in explained.stdout
    missing = run(tmp_path, "explain", "int_\x1b[2Jx")
    assert missing.exit_code == 1 and "\x1b" not in missing.stdout + missing.stderr
    path = str(tmp_path / "p.toml")
    other = write(tmp_path / "q.toml", POLICY_HEAD + CAP.format(cap=10))
    diffed = run(tmp_path, "diff", path, str(other))
    assert diffed.exit_code == 0 and "1 of 1 intents change" in diffed.stdout
    assert "\x1b" not in diffed.stdout and "\\x1b" in diffed.stdout


def test_check_shows_codes_inert(tmp_path):
    # codes are [a-z0-9_] (fullmatch) and shown through inert all the same
    p = write(tmp_path / "p.toml", POLICY_HEAD + CAP.format(cap=1))
    checked = invoke(["policy", "check", str(p)])
    assert checked.exit_code == 0 and checked.stdout.count("\n") == 2


@pytest.mark.parametrize("command", ["explain", "diff"])
def test_a_policy_db_that_is_not_a_database_is_one_line_naming_it(tmp_path, command):
    config(tmp_path)
    (tmp_path / "state" / "policy.db").write_bytes(b"not a database" * 100)
    path = str(tmp_path / "p.toml")
    args = ("explain", "int_x") if command == "explain" else ("diff", path, path)
    result = run(tmp_path, *args)
    assert result.exit_code == 1, result
    line = result.stderr.strip()
    assert "\n" not in line and "nexpected" not in line
    assert f"{tmp_path / 'state' / 'policy.db'}: not a policy record database" in line


def test_a_row_that_does_not_decode(tmp_path):
    config(tmp_path)
    bad = ("policy", "int_x", "2099-01-01T00:00:00+00:00", "1@x", 1, "ok", "r", "{no", "{}")
    records(tmp_path, [bad, recorded("int_ok")])
    explained = run(tmp_path, "explain", "int_x")
    assert explained.exit_code == 1 and "nexpected" not in explained.stderr
    assert "the record of intent int_x does not decode" in explained.stderr
    path = str(tmp_path / "p.toml")
    other = write(tmp_path / "q.toml", POLICY_HEAD + CAP.format(cap=10))
    diffed = run(tmp_path, "diff", path, str(other))  # the good row is still replayed
    assert diffed.exit_code == 0, diffed
    assert "1 of 1 intents change" in diffed.stdout
    assert "1 recorded evaluations do not decode and were skipped" in diffed.stdout
    as_json = run(tmp_path, "diff", path, str(other), "--json")
    assert json.loads(as_json.stdout)["unreadable"] == 1


@pytest.mark.parametrize("by", ["al\x1b[2Jice", "alice\nforged line", "a\u202eb", "x" * 65])
def test_sign_by_refuses_control_characters(tmp_path, by):
    result = run(tmp_path, "sign", str(tmp_path / "p.toml"), "--by", by)
    assert result.exit_code == 2 and "--by: not a signer name" in result.stderr
    assert "\x1b" not in result.stderr and not (tmp_path / "p.toml.sig").exists()


def test_a_signature_whose_signer_has_control_characters_is_refused(tmp_path):
    assert run(tmp_path, "sign", str(tmp_path / "p.toml"), "--by", "alice").exit_code == 0
    sig = tmp_path / "p.toml.sig"
    body = json.loads(sig.read_text())
    body["by"] = "al\x1b[2Jice"
    sig.write_text(json.dumps(body))
    result = run(tmp_path, "verify", str(tmp_path / "p.toml"))
    assert result.exit_code == 4 and "signer name is not acceptable" in result.stderr


def test_verify_of_a_missing_policy_is_a_usage_error(tmp_path):
    result = run(tmp_path, "verify", str(tmp_path / "missing.toml"))
    assert result.exit_code == 2 and "missing.toml: cannot read the policy" in result.stderr
