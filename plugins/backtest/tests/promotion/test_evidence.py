"""Promotion evidence is checked against the journal, and a promotion is a compare-and-set
on the stage: tampered, unjournaled or deleted backtests are named, never used, and a stage
changed under a running promotion refuses it with nothing written. Every test runs on the
SQLite store and on the PostgreSQL store (the evidence lives in the configured store)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import tradekernel_backtest.promotion as promotion
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from tradekernel.api import GateFailed, RefusedError, current_digest, get_stage
from tradekernel_backtest import latest_backtest, record_backtest
from tradekernel_backtest.promotion import evaluate, promote
from tradekernel_backtest.record import TABLE, ensure_table, find_backtest, journal_key

NAME = "sma-cross"


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def digest(settings, registry) -> str:
    return current_digest(settings, registry, NAME)


COSTS = {"commission": "0", "slippage_bps": "0"}
"""A backtest's recorded costs: the configured paper broker's (none)."""


def record(settings, digest: str, *, trades: int = 5, stopped: str = "data exhausted") -> int:
    return record_backtest(
        settings,
        {
            "strategist": NAME,
            "config_digest": digest,
            "trades": trades,
            "stopped": stopped,
            "harness": COSTS,
        },
    )


def edit_metrics(tamper, store, row_id: int, **changes) -> None:
    """Rewrite a recorded row's metrics behind the journal's back."""
    [text] = store.conn.execute(f"SELECT metrics FROM {TABLE} WHERE id = ?", (row_id,)).fetchone()
    metrics = {**json.loads(text), **changes}
    tamper(store, f"UPDATE {TABLE} SET metrics = ? WHERE id = ?", (json.dumps(metrics), row_id))


def backtest_gate(settings, store, registry):
    result = evaluate(settings, store, registry, NAME, "shadow")
    return result, next(g for g in result.gates if g.gate == "backtest")


def test_a_clean_recorded_backtest_is_evidence(settings, registry, digest, open_state, store_kind):
    row_id = record(settings, digest)
    with open_state() as store:
        assert store.dialect.name == store_kind  # recorded in the configured store
        found = find_backtest(store, NAME, digest)
        assert found.problem is None and found.row is not None
        assert found.row["id"] == row_id and found.row["metrics"]["trades"] == 5
        [entry] = store.journal_rows(entity=f"control:{journal_key(NAME)}")
        assert entry.actor == "backtest" and entry.payload["value"]["id"] == row_id
        result = promote(settings, store, registry, NAME, "shadow")
        assert result.passed and result.backtest_id == row_id
        assert get_stage(store, NAME) == "shadow"
        assert store.verify_journal().ok  # the CAS writer journals like set_control
    assert record(settings, digest) == row_id + 1  # the store assigns the ids


def test_tampered_metrics_are_not_evidence(settings, registry, digest, open_state, tamper):
    row_id = record(settings, digest, trades=1)  # fails min_trades = 3 honestly
    with open_state() as store:
        edit_metrics(tamper, store, row_id, trades=99)
        assert latest_backtest(store, NAME, digest) is None
        result, gate = backtest_gate(settings, store, registry)
        assert not result.passed and not gate.passed
        assert f"backtest {row_id} was changed after it was recorded" in gate.value
        assert [g.gate for g in result.gates] == ["backtest"]  # no gate read the metrics
        with pytest.raises(GateFailed, match="changed after it was recorded"):
            promote(settings, store, registry, NAME, "shadow")
        assert get_stage(store, NAME) is None


def test_an_incomplete_run_relabelled_complete_is_named(
    settings, registry, digest, open_state, tamper
):
    record(settings, digest)  # an older honest one does not hide the newer tampering
    row_id = record(settings, digest, trades=9, stopped="budget reached")
    with open_state() as store:
        assert find_backtest(store, NAME, digest).id != row_id  # incomplete: not a candidate
        edit_metrics(tamper, store, row_id, stopped="data exhausted")
        _, gate = backtest_gate(settings, store, registry)
    assert not gate.passed and f"backtest {row_id} was changed" in gate.value


def forge(store, digest: str, metrics_text: str) -> int:
    """A row written behind the journal's back, as a writer of the table could."""
    tables = ensure_table(store)
    row = {
        "strategist": NAME,
        "config_digest": digest,
        "created_at": "2020-01-01T00:00:00.000000+00:00",
        "metrics": metrics_text,
    }
    with tables.write() as conn:
        return tables.insert(conn, TABLE, row)


def test_a_row_without_journal_entry_is_not_evidence(settings, registry, digest, open_state):
    record(settings, digest)  # journaled and valid, but older
    metrics = {"strategist": NAME, "config_digest": digest, "trades": 50}
    metrics["stopped"] = "data exhausted"
    with open_state() as store:
        forged = forge(store, digest, json.dumps(metrics))
        assert latest_backtest(store, NAME, digest) is None
        result, gate = backtest_gate(settings, store, registry)
    assert not result.passed and result.backtest_id == forged
    assert f"backtest {forged} is not journaled" in gate.value


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "null"])
def test_a_row_with_unreadable_metrics_is_named_not_skipped(
    settings, registry, digest, open_state, text
):
    record(settings, digest)
    with open_state() as store:
        forged = forge(store, digest, text)
        _, gate = backtest_gate(settings, store, registry)
    assert not gate.passed and f"backtest {forged} is not journaled" in gate.value


NO_NUL = st.characters(codec="utf-8", exclude_characters="\x00")  # what PG text can hold
METRICS_TEXT = st.one_of(
    st.text(NO_NUL, max_size=60),
    st.dictionaries(
        st.sampled_from(["stopped", "trades", "strategist"]),
        st.one_of(st.sampled_from(["data exhausted", "stop requested"]), st.integers()),
    ).map(json.dumps),
)


def test_whatever_is_written_into_the_table_never_becomes_evidence(
    settings, registry, digest, open_state
):
    honest = record(settings, digest)
    with open_state() as store:

        @hyp_settings(max_examples=40, deadline=None)
        @given(text=METRICS_TEXT, same_config=st.booleans())
        def forged_rows_are_never_evidence(text: str, same_config: bool) -> None:
            forged = forge(store, digest if same_config else "other", text)
            found = find_backtest(store, NAME, digest)
            assert found.row is None or found.row["id"] == honest
            assert found.row is not None or f"backtest {found.id} " in found.problem
            assert found.id in (honest, forged) or found.id < forged

        forged_rows_are_never_evidence()


def test_an_unjournaled_incomplete_row_is_ignored(settings, registry, digest, open_state):
    honest = record(settings, digest)
    metrics = {"strategist": NAME, "config_digest": digest, "stopped": "stop requested"}
    with open_state() as store:
        forge(store, digest, json.dumps(metrics))
        forge(store, "another-config", json.dumps({**metrics, "stopped": "data exhausted"}))
        assert find_backtest(store, NAME, digest).row["id"] == honest


def test_a_deleted_row_is_named(settings, registry, digest, open_state, tamper):
    record(settings, digest)
    row_id = record(settings, digest, trades=1)
    with open_state() as store:
        tamper(store, f"DELETE FROM {TABLE} WHERE id = ?", (row_id,))
        _, gate = backtest_gate(settings, store, registry)
    assert not gate.passed and f"backtest {row_id} is journaled but its row was deleted" in (
        gate.value
    )


def test_a_dropped_table_is_named(settings, registry, digest, open_state, tamper):
    row_id = record(settings, digest)
    with open_state() as store:
        tamper(store, f"DROP TABLE {TABLE}")
        _, gate = backtest_gate(settings, store, registry)
    assert not gate.passed and f"backtest {row_id} is journaled but its row was deleted" in (
        gate.value
    )


def test_an_edited_journal_entry_is_named(settings, registry, digest, open_state, tamper):
    record(settings, digest)
    with open_state() as store:
        entity = f"control:{journal_key(NAME)}"
        seq, text = store.conn.execute(
            "SELECT seq, payload FROM journal WHERE entity = ?", (entity,)
        ).fetchone()
        payload = json.loads(text)
        payload["value"]["digest"] = "x"
        tamper(store, "UPDATE journal SET payload = ? WHERE seq = ?", (json.dumps(payload), seq))
        _, gate = backtest_gate(settings, store, registry)
        assert not store.verify_journal().ok
    assert not gate.passed and "does not match its digest" in gate.value


OLD_TABLE = [  # what earlier versions created in state.db (sqlite-utils)
    """CREATE TABLE "backtests" (
   "id" INTEGER PRIMARY KEY,
   "strategist" TEXT NOT NULL,
   "config_digest" TEXT NOT NULL,
   "created_at" TEXT NOT NULL,
   "params" TEXT,
   "data" TEXT,
   "metrics" TEXT NOT NULL
)""",
    'CREATE INDEX "backtests_lookup"\n    ON "backtests" ("strategist", "config_digest", "id")',
]


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_evidence_recorded_by_earlier_versions_is_kept(settings, registry, digest, open_state):
    from tradekernel_backtest.record import COLUMNS, row_digest

    with open_state() as store:  # the store, then the table as the old code made it
        pass
    db = sqlite3.connect(settings.state_dir / "state.db")
    for statement in OLD_TABLE:
        db.execute(statement)
    values = {
        "strategist": NAME,
        "config_digest": digest,
        "created_at": "2026-01-01T00:00:00.000000+00:00",
        "params": "{}",
        "data": "[]",
        "metrics": json.dumps({"trades": 4, "stopped": "data exhausted"}),
    }
    with db:
        db.execute(
            f"INSERT INTO backtests ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
            tuple(values.values()),
        )
    [(old_id,)] = db.execute("SELECT id FROM backtests").fetchall()
    db.close()
    with open_state() as store:  # journaled as the old code journaled it
        entry = {"id": old_id, "config_digest": digest, "complete": True}
        entry["digest"] = row_digest(old_id, values)
        store.set_control(journal_key(NAME), entry, actor="backtest")
        assert find_backtest(store, NAME, digest).row["metrics"]["trades"] == 4
    new_id = record(settings, digest, trades=6)
    assert new_id == old_id + 1
    with open_state() as store:
        assert find_backtest(store, NAME, digest).row["metrics"]["trades"] == 6
        assert promote(settings, store, registry, NAME, "shadow").backtest_id == new_id
    db = sqlite3.connect(settings.state_dir / "state.db")
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "backtests_lookup" in indexes  # kept, beside the one the table's spec names
    plan = " ".join(
        str(r)
        for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT id, metrics FROM backtests WHERE strategist = ? "
            "AND config_digest = ? AND id > ? ORDER BY id DESC",
            (NAME, digest, 0),
        )
    )
    db.close()
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan


def demote_during_evaluate(monkeypatch, open_state, stage: str = "candidate") -> None:
    """After evaluate has read the stage, a second connection changes it."""
    real = promotion.evaluate

    def racing(*args, **kwargs):
        result = real(*args, **kwargs)
        with open_state() as other:
            other.set_control(f"stage:{NAME}", {"stage": stage}, actor="racer")
        return result

    monkeypatch.setattr(promotion, "evaluate", racing)


def test_a_stage_changed_while_promoting_refuses(
    settings, registry, digest, monkeypatch, open_state
):
    record(settings, digest)
    demote_during_evaluate(monkeypatch, open_state)
    with open_state() as store:
        before = len(store.journal_rows())
        with pytest.raises(RefusedError, match="the stage changed while promoting; nothing"):
            promote(settings, store, registry, NAME, "shadow")
        assert get_stage(store, NAME) == "candidate"  # the racer's write stands
        assert store.get_control(f"promotion:{NAME}") is None  # not even the attempt
        rows = store.journal_rows()
        assert len(rows) == before + 1 and rows[-1].actor == "racer"
        assert store.verify_journal().ok


def test_a_failing_attempt_is_compare_and_set_too(
    settings, registry, digest, monkeypatch, open_state
):
    record(settings, digest, trades=1)  # gates fail: only the attempt would be written
    demote_during_evaluate(monkeypatch, open_state)
    with open_state() as store:
        with pytest.raises(RefusedError, match="stage changed"):
            promote(settings, store, registry, NAME, "shadow")
        assert store.get_control(f"promotion:{NAME}") is None


def test_cli_exit_3_when_the_stage_changed(
    cli, settings, registry, digest, monkeypatch, open_state
):
    record(settings, digest)
    demote_during_evaluate(monkeypatch, open_state, stage="paper")
    code, _, err = cli("promote", NAME, "--to", "shadow")
    assert code == 3 and "stage changed while promoting" in err
    with open_state() as store:
        assert get_stage(store, NAME) == "paper"


def test_a_backtest_recorded_while_promote_reads_is_evidence(
    settings, registry, digest, open_state
):
    """A backtest recorded (row and journal entry, by another process) between promote's
    read of the journal and its read of the table is not named as unjournaled."""
    record(settings, digest)
    with open_state() as store:
        real = store.journal_rows
        recorded: list[int] = []

        def journal_then_a_concurrent_record(*args, **kwargs):
            rows = real(*args, **kwargs)
            if not recorded:
                recorded.append(record(settings, digest, trades=7))
            return rows

        store.journal_rows = journal_then_a_concurrent_record
        found = find_backtest(store, NAME, digest)
    assert found.problem is None and found.id == recorded[0]
    assert found.row["metrics"]["trades"] == 7


def _delete_newest(store, tamper, row_id: int) -> None:
    """Delete row ``row_id`` so that the store hands its id out again (SQLite: max + 1;
    PostgreSQL: the sequence moved back, as ``sync_row_id`` and ``store migrate`` do)."""
    tamper(store, f"DELETE FROM {TABLE} WHERE id = ?", (row_id,))
    if store.dialect.name == "postgres":
        store.dialect.sync_row_id(store.conn, TABLE, "id")


def test_a_new_backtest_that_reuses_a_deleted_id_is_evidence(
    settings, registry, digest, open_state, tamper
):
    record(settings, digest)
    newest = record(settings, digest, trades=1)
    with open_state() as store:
        _delete_newest(store, tamper, newest)
    again = record(settings, digest, trades=7)  # honest, complete, journaled
    assert again == newest  # the id was handed out again
    with open_state() as store:
        found = find_backtest(store, NAME, digest)
    assert found.problem is None and found.id == again
    assert found.row["metrics"]["trades"] == 7


def test_a_deleted_backtest_whose_id_another_configuration_reuses_is_named(
    settings, registry, digest, open_state, tamper
):
    """Deleting this configuration's newest backtest is not hidden by a backtest of
    another configuration taking its id: an older backtest is not used instead."""
    record(settings, digest)
    newest = record(settings, digest, trades=1)
    with open_state() as store:
        _delete_newest(store, tamper, newest)
    assert record(settings, "another-config") == newest
    with open_state() as store:
        found = find_backtest(store, NAME, digest)
    assert found.row is None and found.id == newest
    assert f"backtest {newest} of this configuration was deleted" in found.problem
