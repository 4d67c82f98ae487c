"""`audit prune`: only verified, up-to-date archives allow dropping a day's events; the
journal is never touched."""

from __future__ import annotations

from datetime import UTC, datetime

from tradekernel.api import Store
from tradekernel_audit import prune, retention_cutoff

from .conftest import DAY, DAY2


def _journal(env):
    with Store.open(env.state_dir, create=False) as store:
        rows = [(r.seq, r.hash) for r in store.journal_rows()]
        assert store.verify_journal().ok
    return rows


def _snapshot(env):
    return {
        day: (
            env.jsonl_file(day).read_bytes() if env.jsonl_file(day).exists() else None,
            env.sqlite_rows(day),
        )
        for day in (DAY, DAY2)
    }


def test_prune_refuses_a_day_without_an_archive(env):
    env.seed(DAY)
    before = _snapshot(env)
    code, _, err = env.cli("audit", "prune")
    assert code == 3 and f"prune refused for {DAY}" in err and "no archive" in err
    assert _snapshot(env) == before


def test_prune_removes_archived_days_and_refuses_the_rest(env):
    env.seed(DAY)
    env.seed(DAY2)
    journal = _journal(env)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    code, out, err = env.cli("audit", "prune")
    assert code == 3 and f"prune refused for {DAY2}" in err
    assert f"{DAY}  pruned" in out and "3 events rows" in out
    assert not env.jsonl_file(DAY).exists() and env.sqlite_rows(DAY) == 0
    assert env.jsonl_file(DAY2).exists() and env.sqlite_rows(DAY2) == 3
    assert _journal(env) == journal  # the journal is append-only: never pruned
    # The archive still verifies after the live copy is gone.
    assert env.cli("audit", "verify", str(env.bundle(DAY)))[0] == 0


def test_dry_run_changes_nothing_then_prune_does(env):
    env.seed(DAY)
    env.seed(DAY2)
    for day in (DAY, DAY2):
        assert env.cli("audit", "archive", "--date", day)[0] == 0
    before = _snapshot(env)
    code, out, _ = env.cli("audit", "prune", "--dry-run")
    assert code == 0 and out.count("would prune:") == 2
    assert _snapshot(env) == before
    code, out, _ = env.cli("audit", "prune")
    assert code == 0 and "pruned 2 day(s)" in out
    assert _snapshot(env) == {DAY: (None, 0), DAY2: (None, 0)}
    assert env.cli("audit", "prune")[0] == 0  # nothing left to do


def test_a_stale_archive_is_refused(env):
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    env.emit(DAY, 1)  # an event of that day arrives after the archive was written
    before = _snapshot(env)
    code, _, err = env.cli("audit", "prune")
    assert code == 3 and "differ from the archive" in err
    assert _snapshot(env) == before


def test_a_tampered_archive_is_refused(env):
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    (env.bundle(DAY) / "extra.txt").write_text("x")
    before = _snapshot(env)
    code, _, err = env.cli("audit", "prune")
    assert code == 3 and "does not verify: unexpected file extra.txt" in err
    assert _snapshot(env) == before


def test_before_must_respect_retention(env):
    env.seed(DAY)
    assert env.cli("audit", "archive", "--date", DAY)[0] == 0
    today = datetime.now(UTC).date().isoformat()
    code, _, err = env.cli("audit", "prune", "--before", today)
    assert code == 3 and "within the retention period" in err
    assert env.jsonl_file(DAY).exists()
    # --before limits pruning to earlier days.
    code, out, _ = env.cli("audit", "prune", "--before", DAY)
    assert code == 0 and "pruned 0 day(s)" in out and env.jsonl_file(DAY).exists()


def test_retention_cutoff_and_api(env):
    env.seed(DAY)
    settings = env.settings()
    now = datetime.fromisoformat(f"{DAY2}T12:00:00+00:00")
    assert retention_cutoff(settings, now) == DAY  # 1d retention protects DAY itself
    assert prune(settings, clock=lambda: now).days == []
    later = datetime.fromisoformat("2026-03-04T00:00:00+00:00")
    result = prune(settings, clock=lambda: later, dry_run=True)
    assert [(d.date, d.action) for d in result.days] == [(DAY, "refused")]
