"""`audit archive` + `audit verify`: real files, real HMAC and Ed25519, every tamper case."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from tradekernel.api import JOURNAL_GENESIS
from tradekernel_audit import HmacKey, canonical_bytes

from .conftest import AUDIT_HMAC, DAY, DAY2, HMAC_ENV, HMAC_SECRET, OTHER_SECRET

# -- happy paths ------------------------------------------------------------------------


def test_hmac_archive_verifies_and_holds_the_day(env):
    env.seed(DAY)
    env.seed(DAY2, intents=1, events=2)
    code, out, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 0, err
    assert "5 journal rows" in out and "hmac-sha256" in out
    bundle = env.bundle(DAY)
    assert sorted(p.name for p in bundle.iterdir()) == [
        *(["compliance.json"] if (bundle / "compliance.json").exists() else []),
        "events.jsonl",
        "events.sqlite.jsonl",
        "journal.jsonl",
        "manifest.json",
        "manifest.sig",
        *(["report.json"] if (bundle / "report.json").exists() else []),
    ]
    manifest = env.manifest(DAY)
    assert manifest["schema"] == "audit.v1" and manifest["date"] == DAY
    assert manifest["complete"] is True
    assert manifest["signature"]["algorithm"] == "hmac-sha256"
    assert manifest["signature"]["key_id"] == HmacKey(HMAC_SECRET.encode()).key_id
    assert manifest["report"]["file"] or manifest["report"]["skipped"]
    for entry in manifest["files"]:
        data = (bundle / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
    # The journal rows of that day only, in seq order, chained from the genesis hash.
    rows = [json.loads(line) for line in (bundle / "journal.jsonl").read_text().splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["ts"].startswith(DAY) for r in rows)
    assert manifest["journal"]["anchor_hash"] == JOURNAL_GENESIS == rows[0]["prev_hash"]
    assert manifest["journal"]["last_hash"] == rows[-1]["hash"]
    # Events: a byte copy of the jsonl day file and the sqlite rows of that day.
    assert (bundle / "events.jsonl").read_bytes() == env.jsonl_file(DAY).read_bytes()
    assert len((bundle / "events.sqlite.jsonl").read_text().splitlines()) == 3
    assert manifest["events"]["sqlite"]["records"] == 3

    code, out, _ = env.cli("audit", "verify", str(bundle))
    assert code == 0 and out.startswith("ok: ") and len(out.strip().splitlines()) == 1

    # The next day's bundle continues the chain where this one ended.
    assert env.cli("audit", "archive", "--date", DAY2)[0] == 0
    second = env.manifest(DAY2)["journal"]
    assert second["anchor_hash"] == manifest["journal"]["last_hash"]
    assert second["first_seq"] == 6 and second["rows"] == 3


def test_the_bundle_holds_the_daily_report_when_tradekernel_report_is_installed(env):
    pytest.importorskip("tradekernel_report")
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    report = json.loads((env.bundle(DAY) / "report.json").read_text())
    assert report["schema"] == "report.v1" and report["date"] == DAY
    assert env.manifest(DAY)["report"] == {"file": "report.json", "skipped": None}


def test_the_bundle_holds_the_compliance_report_signed_with_the_rest(env):
    pytest.importorskip("tradekernel_report")
    ids = env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    manifest = env.manifest(DAY)
    assert manifest["compliance"] == {"file": "compliance.json", "skipped": None}
    assert "compliance.json" in {f["path"] for f in manifest["files"]}
    compliance = json.loads((env.bundle(DAY) / "compliance.json").read_text())
    assert compliance["schema"] == "compliance.v1" and compliance["date"] == DAY
    assert [i["intent_id"] for i in compliance["intents"]] == ids
    assert [(o["key"], o["to"], o["actor"]) for o in compliance["overrides"]] == [
        ("kill_switch", False, "op")
    ]
    assert env.cli("audit", "verify", str(env.bundle(DAY)))[0] == 0
    (env.bundle(DAY) / "compliance.json").write_text("{}\n")  # tampered after signing
    assert env.cli("audit", "verify", str(env.bundle(DAY)))[0] == 4


def test_without_tradekernel_report_the_manifest_says_so(env, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tradekernel_report" else real(name, *a),
    )
    env.seed(DAY)
    code, _, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 0
    assert "no daily report in the bundle: tradekernel-report is not installed" in err
    assert "compliance" not in err  # the same reason is not said twice
    assert env.manifest(DAY)["report"] == {
        "file": None,
        "skipped": "tradekernel-report is not installed",
    }
    assert not (env.bundle(DAY) / "report.json").exists()
    assert env.cli("audit", "verify", str(env.bundle(DAY)))[0] == 0


def test_out_writes_the_bundle_elsewhere(env, tmp_path):
    env.seed(DAY)
    code, _, _ = env.cli("audit", "archive", "--date", DAY, "--out", str(tmp_path / "vault"))
    assert code == 0
    assert env.cli("audit", "verify", str(tmp_path / "vault" / DAY))[0] == 0
    assert not env.bundle(DAY).exists()


def test_without_a_key_archive_refuses_and_writes_nothing(env):
    env.seed(DAY)
    env.configure("")
    code, _, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 2 and "no signing key" in err and "unsigned" in err
    assert not (env.state_dir / "archives").exists()
    env.configure('[audit]\nhmac_key_env = "UNSET_AUDIT_VAR"\n')
    code, _, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 2 and "UNSET_AUDIT_VAR is not set" in err


def test_archive_never_overwrites_a_bundle(env):
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    before = env.manifest(DAY)
    code, _, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 3 and "already exists" in err
    assert env.manifest(DAY) == before


def test_archive_refuses_a_tampered_live_journal(env):
    env.seed(DAY)
    conn = sqlite3.connect(env.state_dir / "state.db")
    conn.execute("UPDATE journal SET actor = 'mallory' WHERE seq = 2")
    conn.commit()
    conn.close()
    code, _, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 4 and "seq 2" in err
    assert not env.bundle(DAY).exists()


def test_a_bad_date_is_a_usage_error(env):
    assert env.cli("audit", "archive", "--date", "02/03/2026")[0] == 2


# -- tampering -------------------------------------------------------------------------


def _flip_byte(path: Path, at: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_journal_row(bundle: Path) -> None:
    lines = (bundle / "journal.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["actor"] = "mallory"
    lines[1] = json.dumps(row, sort_keys=True, separators=(",", ":"))
    (bundle / "journal.jsonl").write_text("\n".join(lines) + "\n")


def _edit_manifest(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["journal"]["rows"] += 1
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _bad_signature(bundle: Path) -> None:
    sig = (bundle / "manifest.sig").read_text().strip()
    (bundle / "manifest.sig").write_text(("0" if sig[0] != "0" else "1") + sig[1:] + "\n")


TAMPER = {
    "changed_events_byte": (lambda b: _flip_byte(b / "events.jsonl"), "events.jsonl was changed"),
    "changed_sqlite_events": (
        lambda b: _flip_byte(b / "events.sqlite.jsonl", 30),
        "events.sqlite.jsonl was changed",
    ),
    "deleted_file": (lambda b: (b / "journal.jsonl").unlink(), "missing file journal.jsonl"),
    "extra_file": (lambda b: (b / "notes.txt").write_text("hi"), "unexpected file notes.txt"),
    "extra_empty_directory": (lambda b: (b / "more").mkdir(), "unexpected directory more"),
    "extra_nested_file": (
        lambda b: ((b / ".x").mkdir(), (b / ".x" / "y").write_text("hi")),
        "unexpected directory .x",
    ),
    "edited_manifest": (_edit_manifest, "bad signature"),
    "bad_signature": (_bad_signature, "bad signature"),
    "deleted_signature": (lambda b: (b / "manifest.sig").unlink(), "manifest.sig is missing"),
    "edited_journal_row": (_edit_journal_row, "journal.jsonl was changed"),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_every_tamper_case_fails_verification(env, case):
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    tamper, expected = TAMPER[case]
    tamper(env.bundle(DAY))
    code, out, err = env.cli("audit", "verify", str(env.bundle(DAY)))
    assert code == 4, (out, err)
    assert expected in err and "ok:" not in out


def test_a_bundle_renamed_to_another_date_fails_verification(env):
    env.seed(DAY)
    env.seed(DAY2, intents=1, events=2)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    renamed = env.bundle(DAY).rename(env.bundle(DAY2))
    code, out, err = env.cli("audit", "verify", str(renamed))
    assert code == 4 and "ok:" not in out
    assert err == (
        f"Error: audit bundle verification failed: {renamed}: the directory is named {DAY2} "
        f"but holds the bundle of {DAY} (a bundle's directory must be named after its date)\n"
    )
    # the same bundle under its own name still verifies
    assert env.cli("audit", "verify", str(renamed.rename(env.bundle(DAY))))[0] == 0


def test_a_symlink_named_after_another_date_fails_verification(env, tmp_path):
    """Before: the link's target name was judged, so the link vouched for another day."""
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    links = tmp_path / "links"
    links.mkdir()
    (links / DAY2).symlink_to(env.bundle(DAY), target_is_directory=True)
    code, out, err = env.cli("audit", "verify", str(links / DAY2))
    assert code == 4 and "ok:" not in out
    assert f"the directory is named {DAY2} but holds the bundle of {DAY}" in err
    (links / DAY).symlink_to(env.bundle(DAY), target_is_directory=True)
    assert env.cli("audit", "verify", str(links / DAY))[0] == 0


def test_a_wrong_key_fails_verification(env, monkeypatch):
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    monkeypatch.setenv(HMAC_ENV, OTHER_SECRET)
    code, _, err = env.cli("audit", "verify", str(env.bundle(DAY)))
    assert code == 4 and "not among the verifying keys" in err
    # A retired key named for verification makes it pass again (key rotation).
    monkeypatch.setenv("AUDIT_OLD_KEY", HMAC_SECRET)
    code, out, _ = env.cli(
        "audit", "verify", str(env.bundle(DAY)), "--hmac-key-env", "AUDIT_OLD_KEY"
    )
    assert code == 0 and out.startswith("ok: ")


def test_a_journal_row_edited_and_resigned_breaks_the_chain(env):
    """Even someone holding the key who rewrites a row and re-signs the manifest cannot
    make the bundle's hash chain hold."""
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    bundle = env.bundle(DAY)
    _edit_journal_row(bundle)
    manifest = env.manifest(DAY)
    data = (bundle / "journal.jsonl").read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == "journal.jsonl":
            entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    signature = HmacKey(HMAC_SECRET.encode()).sign(canonical_bytes(manifest))
    (bundle / "manifest.sig").write_text(signature.hex() + "\n")
    code, _, err = env.cli("audit", "verify", str(bundle))
    assert code == 4 and "journal.jsonl: journal seq 2: hash does not match" in err


def test_the_secret_never_reaches_the_bundle(env):
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    for path in env.bundle(DAY).iterdir():
        data = path.read_bytes()
        assert HMAC_SECRET.encode() not in data, path.name
        assert HMAC_SECRET.encode().hex().encode() not in data, path.name


# -- Ed25519 -----------------------------------------------------------------------------


@pytest.fixture
def ed25519_keys(env, tmp_path):
    pytest.importorskip("cryptography", reason="Ed25519 needs the optional 'cryptography'")
    code, out, _ = env.cli("audit", "keygen", str(tmp_path / "keys" / "audit.key"))
    assert code == 0 and "ed25519:" in out
    private = tmp_path / "keys" / "audit.key"
    assert private.stat().st_mode & 0o777 == 0o600
    return private, tmp_path / "keys" / "audit.key.pub"


def test_ed25519_archive_verifies_with_the_public_key_only(env, ed25519_keys, tmp_path):
    private, public = ed25519_keys
    env.seed(DAY)
    env.configure(f'[audit]\ned25519_key_file = "{private}"\nhmac_key_env = "{HMAC_ENV}"\n')
    code, out, err = env.cli("audit", "archive", "--date", DAY)
    assert code == 0, err
    manifest = env.manifest(DAY)
    assert manifest["signature"]["algorithm"] == "ed25519"
    assert manifest["signature"]["key_id"].startswith("ed25519:")
    private_pem = private.read_bytes()
    body = private_pem.split(b"-----")[2].strip()  # the base64 key material
    for path in env.bundle(DAY).iterdir():
        data = path.read_bytes()
        assert body not in data and HMAC_SECRET.encode() not in data
    # With the private key configured, verify derives the public key ...
    assert env.cli("audit", "verify", str(env.bundle(DAY)))[0] == 0
    # ... and an auditor with only the public key can verify too.
    env.configure("")
    code, out, _ = env.cli("audit", "verify", str(env.bundle(DAY)), "--public-key", str(public))
    assert code == 0 and "ed25519" in out
    env.configure(f'[audit]\ned25519_public_keys = ["{public}"]\n')
    assert env.cli("audit", "verify", str(env.bundle(DAY)))[0] == 0
    # No verifying key at all is a configuration error, not a verdict.
    env.configure("")
    assert env.cli("audit", "verify", str(env.bundle(DAY)))[0] == 2


def test_ed25519_tampering_and_a_wrong_key_fail(env, ed25519_keys, tmp_path):
    private, public = ed25519_keys
    env.seed(DAY)
    env.configure(f'[audit]\nsigning = "ed25519"\ned25519_key_file = "{private}"\n')
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    bundle = env.bundle(DAY)
    env.configure("")
    code, _, _ = env.cli("audit", "keygen", str(tmp_path / "other.key"))
    assert code == 0
    code, _, err = env.cli(
        "audit", "verify", str(bundle), "--public-key", str(tmp_path / "other.key.pub")
    )
    assert code == 4 and "not among the verifying keys" in err
    _edit_manifest(bundle)
    code, _, err = env.cli("audit", "verify", str(bundle), "--public-key", str(public))
    assert code == 4 and "bad signature" in err


def test_ed25519_key_from_the_environment(env, ed25519_keys, monkeypatch):
    private, public = ed25519_keys
    monkeypatch.setenv("AUDIT_ED25519", private.read_text())
    env.seed(DAY)
    env.configure('[audit]\ned25519_key_env = "AUDIT_ED25519"\n')
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    env.configure("")
    assert env.cli("audit", "verify", str(env.bundle(DAY)), "--public-key", str(public))[0] == 0
    monkeypatch.setenv("AUDIT_ED25519", "not a key")
    env.configure('[audit]\ned25519_key_env = "AUDIT_ED25519"\n')
    code, _, err = env.cli("audit", "archive", "--date", DAY2)
    assert code == 2 and "not an unencrypted Ed25519 private key" in err and "not a key" not in err


def test_keys_in_tradekernel_variables_named_by_config_lists_and_options_verify(env, monkeypatch):
    """A ``TRADEKERNEL_`` variable that a ``*_envs`` list or ``--hmac-key-env`` names is a
    key's home, not a stray setting (the name check refused both with exit 2)."""
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    monkeypatch.setenv(HMAC_ENV, OTHER_SECRET)
    monkeypatch.setenv("TRADEKERNEL_AUDIT_HMAC_2025", HMAC_SECRET)
    env.configure(
        f'[audit]\nhmac_key_env = "{HMAC_ENV}"\n'
        'hmac_verify_key_envs = ["TRADEKERNEL_AUDIT_HMAC_2025"]\n'
    )
    code, out, err = env.cli("audit", "verify", str(env.bundle(DAY)))
    assert (code, err) == (0, "") and out.startswith("ok: ")
    monkeypatch.delenv("TRADEKERNEL_AUDIT_HMAC_2025")
    env.configure(AUDIT_HMAC)
    monkeypatch.setenv("TRADEKERNEL_OLDKEY", HMAC_SECRET)
    bundle = str(env.bundle(DAY))
    code, out, err = env.cli("audit", "verify", bundle, "--hmac-key-env", "TRADEKERNEL_OLDKEY")
    assert (code, err) == (0, "") and out.startswith("ok: ")
    code, _, err = env.cli("audit", "verify", bundle)  # not named here: a stray setting
    assert code == 2 and "TRADEKERNEL_OLDKEY: not a tradekernel setting" in err
