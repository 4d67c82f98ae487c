"""Promotion evidence is checked against the journal, and a promotion is a compare-and-set
on the stage: tampered, unjournaled or deleted backtests are named, never used, and a stage
changed under a running promotion refuses it with nothing written."""

from __future__ import annotations

import json

import pytest
import tradekernel_backtest.promotion as promotion
from tradekernel.api import GateFailed, RefusedError, Store, current_digest, get_stage
from tradekernel_backtest import latest_backtest, record_backtest
from tradekernel_backtest.promotion import evaluate, promote
from tradekernel_backtest.record import TABLE, ensure_table, find_backtest, journal_key

NAME = "sma-cross"


@pytest.fixture
def digest(settings, registry) -> str:
    return current_digest(settings, registry, NAME)


def record(settings, digest: str, *, trades: int = 5, stopped: str = "data exhausted") -> int:
    return record_backtest(
        settings.state_dir,
        {"strategist": NAME, "config_digest": digest, "trades": trades, "stopped": stopped},
    )


def backtest_gate(settings, store, registry):
    result = evaluate(settings, store, registry, NAME, "shadow")
    return result, next(g for g in result.gates if g.gate == "backtest")


def test_a_clean_recorded_backtest_is_evidence(settings, registry, digest):
    row_id = record(settings, digest)
    with Store.open(settings.state_dir) as store:
        found = find_backtest(store, NAME, digest)
        assert found.problem is None and found.row is not None
        assert found.row["id"] == row_id and found.row["metrics"]["trades"] == 5
        [entry] = store.journal_rows(entity=f"control:{journal_key(NAME)}")
        assert entry.actor == "backtest" and entry.payload["value"]["id"] == row_id
        result = promote(settings, store, registry, NAME, "shadow")
        assert result.passed and result.backtest_id == row_id
        assert get_stage(store, NAME) == "shadow"
        assert store.verify_journal().ok  # the CAS writer journals like set_control


def test_tampered_metrics_are_not_evidence(settings, registry, digest):
    row_id = record(settings, digest, trades=1)  # fails min_trades = 3 honestly
    with Store.open(settings.state_dir) as store:
        store.conn.execute(
            f"UPDATE {TABLE} SET metrics = json_set(metrics, '$.trades', 99) WHERE id = ?",
            (row_id,),
        )
        assert latest_backtest(store, NAME, digest) is None
        result, gate = backtest_gate(settings, store, registry)
        assert not result.passed and not gate.passed
        assert f"backtest {row_id} was changed after it was recorded" in gate.value
        assert [g.gate for g in result.gates] == ["backtest"]  # no gate read the metrics
        with pytest.raises(GateFailed, match="changed after it was recorded"):
            promote(settings, store, registry, NAME, "shadow")
        assert get_stage(store, NAME) is None


def test_an_incomplete_run_relabelled_complete_is_named(settings, registry, digest):
    record(settings, digest)  # an older honest one does not hide the newer tampering
    row_id = record(settings, digest, trades=9, stopped="budget reached")
    with Store.open(settings.state_dir) as store:
        assert find_backtest(store, NAME, digest).id != row_id  # incomplete: not a candidate
        store.conn.execute(
            f"UPDATE {TABLE} SET metrics = json_set(metrics, '$.stopped', 'data exhausted') "
            "WHERE id = ?",
            (row_id,),
        )
        _, gate = backtest_gate(settings, store, registry)
    assert not gate.passed and f"backtest {row_id} was changed" in gate.value


def test_a_row_without_journal_entry_is_not_evidence(settings, registry, digest):
    record(settings, digest)  # journaled and valid, but older
    with Store.open(settings.state_dir) as store:
        ensure_table(store)
        metrics = {"strategist": NAME, "config_digest": digest, "trades": 50}
        metrics["stopped"] = "data exhausted"
        cur = store.conn.execute(
            f"INSERT INTO {TABLE} (strategist, config_digest, created_at, metrics) "
            "VALUES (?, ?, ?, ?)",
            (NAME, digest, "2020-01-01T00:00:00.000000+00:00", json.dumps(metrics)),
        )
        forged = cur.lastrowid
        assert latest_backtest(store, NAME, digest) is None
        result, gate = backtest_gate(settings, store, registry)
    assert not result.passed and result.backtest_id == forged
    assert f"backtest {forged} has no journal entry" in gate.value


def test_a_deleted_row_is_named(settings, registry, digest):
    record(settings, digest)
    row_id = record(settings, digest, trades=1)
    with Store.open(settings.state_dir) as store:
        store.conn.execute(f"DELETE FROM {TABLE} WHERE id = ?", (row_id,))
        _, gate = backtest_gate(settings, store, registry)
    assert not gate.passed and f"backtest {row_id} is journaled but its row was deleted" in (
        gate.value
    )


def test_an_edited_journal_entry_is_named(settings, registry, digest):
    record(settings, digest)
    with Store.open(settings.state_dir) as store:
        store.conn.execute(
            "UPDATE journal SET payload = json_set(payload, '$.value.digest', 'x') "
            "WHERE entity = ?",
            (f"control:{journal_key(NAME)}",),
        )
        _, gate = backtest_gate(settings, store, registry)
    assert not gate.passed and "does not match its digest" in gate.value


def demote_during_evaluate(monkeypatch, settings, stage: str = "candidate") -> None:
    """After evaluate has read the stage, a second connection changes it."""
    real = promotion.evaluate

    def racing(*args, **kwargs):
        result = real(*args, **kwargs)
        with Store.open(settings.state_dir) as other:
            other.set_control(f"stage:{NAME}", {"stage": stage}, actor="racer")
        return result

    monkeypatch.setattr(promotion, "evaluate", racing)


def test_a_stage_changed_while_promoting_refuses(settings, registry, digest, monkeypatch):
    record(settings, digest)
    demote_during_evaluate(monkeypatch, settings)
    with Store.open(settings.state_dir) as store:
        before = len(store.journal_rows())
        with pytest.raises(RefusedError, match="the stage changed while promoting; nothing"):
            promote(settings, store, registry, NAME, "shadow")
        assert get_stage(store, NAME) == "candidate"  # the racer's write stands
        assert store.get_control(f"promotion:{NAME}") is None  # not even the attempt
        rows = store.journal_rows()
        assert len(rows) == before + 1 and rows[-1].actor == "racer"
        assert store.verify_journal().ok


def test_a_failing_attempt_is_compare_and_set_too(settings, registry, digest, monkeypatch):
    record(settings, digest, trades=1)  # gates fail: only the attempt would be written
    demote_during_evaluate(monkeypatch, settings)
    with Store.open(settings.state_dir) as store:
        with pytest.raises(RefusedError, match="stage changed"):
            promote(settings, store, registry, NAME, "shadow")
        assert store.get_control(f"promotion:{NAME}") is None


def test_cli_exit_3_when_the_stage_changed(cli, settings, registry, digest, monkeypatch):
    record(settings, digest)
    demote_during_evaluate(monkeypatch, settings, stage="paper")
    code, _, err = cli("promote", NAME, "--to", "shadow")
    assert code == 3 and "stage changed while promoting" in err
    with Store.open(settings.state_dir) as store:
        assert get_stage(store, NAME) == "paper"
