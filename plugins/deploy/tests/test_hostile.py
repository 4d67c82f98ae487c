"""Hostile files: whatever a release, a readiness report, a drill record or /proc/locks
holds, reading it refuses or reports with one line; it never raises anything else."""

from __future__ import annotations

import json
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import ConfigError, NotFoundError, RefusedError, Settings, Store
from tradekernel_deploy import backup, credentials, health, readiness, releases, safefile

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _settings(tmp_path) -> Settings:
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[audit]\nhmac_key_env = "TK_DEPLOY_TEST_KEY"\n'
    )
    return Settings.load(config)


@FUZZ
@given(body=st.binary(max_size=300) | JSONISH.map(lambda v: json.dumps(v).encode()))
def test_any_release_json_is_refused_with_a_reason(tmp_path, body):
    settings = _settings(tmp_path)
    folder = releases.release_dir(settings) / "abcdef0123456789"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / releases.BUNDLE).write_bytes(body)
    (folder / releases.SIGNATURE).write_text('{"signature": "x"}')
    try:
        releases.load(settings, "abcdef0123456789")
    except RefusedError as exc:
        assert "abcdef0123456789" in str(exc) and "\n" not in str(exc)
    else:  # pragma: no cover - a random body cannot match its id
        raise AssertionError("a random release verified")


@FUZZ
@given(ref=st.text(max_size=24))
def test_any_release_reference_is_not_found_or_refused(tmp_path, ref):
    settings = _settings(tmp_path)
    with pytest.raises((NotFoundError, RefusedError, ConfigError)):  # no release exists
        releases.load(settings, ref)


@FUZZ
@given(data=JSONISH)
def test_any_readiness_report_does_not_let_live_start(tmp_path, data):
    settings = _settings(tmp_path)
    folder = readiness.report_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / readiness.LATEST).write_text(json.dumps(data))
    with Store.open(settings.state_dir) as store:
        problems = readiness.live_problems(settings, store)
    assert problems and all("\n" not in p for p in problems)


@FUZZ
@given(data=JSONISH | st.text(max_size=50))
def test_any_drill_record_reads_or_is_none(tmp_path, data):
    settings = _settings(tmp_path)
    folder = backup.backup_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / backup.DRILL_FILE).write_text(data if isinstance(data, str) else json.dumps(data))
    record, why = backup.last_drill(settings)
    assert record is None and why and "\n" not in why  # nothing unsigned counts


@FUZZ
@given(text=st.text(alphabet=string.printable + "→", max_size=400))
def test_any_proc_locks_text_is_parsed_or_ignored(tmp_path, text):
    lock = tmp_path / "run.lock"
    lock.write_text("1\n")
    fake = tmp_path / "locks"
    fake.write_text(text)
    found = health._holder_from_proc(lock, fake)
    assert found is not None and isinstance(found[0], bool)


def _hostile(kind: str, path) -> None:
    """Make ``path`` a hostile file: a symlink to /dev/zero, a FIFO or an oversized file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        with open(path, "wb") as f:
            f.truncate(safefile.BUNDLE_LIMIT + 1)


KINDS = ["symlink", "fifo", "huge"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_release_json_is_listed_invalid(cli, state_dir, kind):
    folder = state_dir / "releases" / "deadbeefdeadbeef"
    _hostile(kind, folder / releases.BUNDLE)
    (folder / releases.SIGNATURE).write_text("{}")
    result = cli("release", "list")
    assert result.exit_code == 0, result.stderr
    line = [x for x in result.stdout.splitlines() if "deadbeefdeadbeef" in x]
    assert len(line) == 1 and "INVALID" in line[0] and "refused" in line[0]
    assert "release.json" in line[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_readiness_report_refuses_the_live_start_naming_it(tmp_path, kind):
    settings = _settings(tmp_path)
    _hostile(kind, readiness.report_dir(settings) / readiness.LATEST)
    with Store.open(settings.state_dir) as store:
        problems = readiness.live_problems(settings, store)
    assert len(problems) == 1 and "latest.json" in problems[0] and "refused" in problems[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_drill_record_is_no_drill(tmp_path, kind):
    settings = _settings(tmp_path)
    _hostile(kind, backup.backup_dir(settings) / backup.DRILL_FILE)
    record, why = backup.last_drill(settings)
    assert record is None and "drill.json" in why and "refused" in why


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_hostile_backup_file_is_no_backup(tmp_path, kind):
    settings = _settings(tmp_path)
    path = backup.backup_dir(settings) / "state-20260101T000000000000Z.db"
    _hostile(kind, path)
    assert backup.latest_backup(settings) is None
    assert "not a regular file" in backup.backup_problem(path)


@pytest.mark.parametrize("ref", ["../../etc", "abc\x1b[2Jdef", "xyz"])
def test_a_malformed_release_id_is_a_usage_error(cli, ref):
    result = cli("release", "activate", ref)
    assert result.exit_code == 2, result.stderr
    assert "not a release id" in result.stderr and "\x1b" not in result.stderr


def test_a_well_formed_unknown_release_id_is_not_found(cli):
    result = cli("release", "activate", "abcdef")
    assert result.exit_code == 1 and "no such release" in result.stderr


@FUZZ
@given(
    text=st.text(max_size=200)
    | st.builds(
        lambda a, q, b: f"{a} https://{q}@h.example/{b}?token={q}&x={b} {a}",
        st.text(max_size=20),
        st.text(max_size=12),
        st.text(max_size=12),
    )
)
def test_any_text_scans_for_credential_urls_and_masks_them(text):
    found = credentials.credential_urls(text)
    masked = credentials.mask_credential_urls(text)
    assert credentials.credential_urls(masked) == []
    assert all(isinstance(line, int) and "\n" not in why for line, why in found)
