"""The sqlite sink, through the real plugin registry."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tradekernel.api import Event, read_events
from tradekernel_sqlite_sink import SqliteSink

TS = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _rows(db, sql="SELECT * FROM events ORDER BY rowid"):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_round_trip_through_the_registry(make_kernel, tmp_path):
    kernel = make_kernel(["sqlite"])
    kernel.events.clock = lambda: TS
    kernel.emit("strategist_llm", "decision", provider="p", model="m", ok=True, latency_ms=12.5)
    kernel.emit("notify", "failed", severity="warning", notifier="slack", http_status=500)

    db = tmp_path / "state" / "state.db"
    rows = _rows(db)  # batch_size 1 writes through: readable before close
    assert [(r["stage"], r["kind"], r["severity"], r["date"]) for r in rows] == [
        ("strategist_llm", "decision", "info", "2026-03-02"),
        ("notify", "failed", "warning", "2026-03-02"),
    ]
    assert json.loads(rows[1]["fields"]) == {"notifier": "slack", "http_status": 500}
    assert rows[0]["ts"] == "2026-03-02T09:30:00+00:00"
    assert rows[0]["schema"] == "event.v1"

    events = list(read_events(kernel))
    assert [e.kind for e in events] == ["decision", "failed"]
    assert events[0].fields["latency_ms"] == 12.5
    assert events[0].ts == TS


def test_table_layout_wal_and_index(make_kernel, tmp_path):
    kernel = make_kernel(["sqlite"])
    kernel.emit("scan", "candidates", count=0)
    db = tmp_path / "state" / "state.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
        indexes = {
            r[1]: [c[2] for c in conn.execute(f"PRAGMA index_info({r[1]})")]
            for r in conn.execute("PRAGMA index_list(events)")
        }
    finally:
        conn.close()
    assert columns[:8] == [
        "ts",
        "date",
        "run_id",
        "cycle_id",
        "stage",
        "kind",
        "severity",
        "fields",
    ]
    assert ["date", "stage", "kind"] in indexes.values()


def test_batches_are_written_on_close(make_kernel, tmp_path):
    kernel = make_kernel(
        ["sqlite"], '[metrics_sink.sqlite]\nbatch_size = 50\nflush_interval = "1h"\n'
    )
    for n in range(3):
        kernel.emit("scan", "candidates", count=n)
    db = tmp_path / "state" / "state.db"
    assert _rows(db) == []  # still queued
    kernel.close()
    assert [json.loads(r["fields"])["count"] for r in _rows(db)] == [0, 1, 2]


def test_other_tables_in_state_db_are_left_alone(tmp_path):
    from tradekernel.api import Intent, Store

    with Store.open(tmp_path) as store:
        store.add_intent(
            Intent.create(symbol="AAA", side="buy", quantity=1), cycle_id="c", broker="paper"
        )
    db = tmp_path / "state.db"

    sink = SqliteSink(db)
    sink.write(Event(stage="scan", kind="candidates", fields={"count": 1}))
    sink.close()
    sink.write(Event(stage="scan", kind="candidates", fields={"count": 2}))  # closed: logged only

    assert [r["state"] for r in _rows(db, "SELECT state FROM intents")] == ["proposed"]
    assert len(_rows(db)) == 1
    with Store.open(tmp_path) as store:
        assert store.verify_journal().ok
    SqliteSink(db).close()  # reopening an existing table is fine


def test_a_fresh_state_db_created_by_the_sink_is_usable_by_the_store(tmp_path):
    from tradekernel.api import Store

    SqliteSink(tmp_path / "state.db").close()
    with Store.open(tmp_path) as store:  # would be refused as foreign if the sink made it alone
        assert store.list_intents() == []


def _open_and_write(path: str, barrier) -> None:
    barrier.wait()  # every process sets up the fresh file at the same moment
    sink = SqliteSink(Path(path))
    sink.write(Event(stage="scan", kind="candidates", fields={"count": 1}))
    sink.close()


def test_processes_starting_together_on_a_fresh_file_all_write(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(6)
    db = tmp_path / "state.db"
    procs = [ctx.Process(target=_open_and_write, args=(str(db), barrier)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    assert len(_rows(db)) == 6
