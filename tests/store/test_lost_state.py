"""Lost or truncated state never verifies: the journal anchor, the executor's journal
check before a submit, sent orders unknown to the broker, and errors of the places a
state database cannot live (real SQLite files throughout)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest
from tradekernel.errors import RefusedError
from tradekernel.execution import Executor
from tradekernel.models import GuardVerdict
from tradekernel.store import IntentState, SchemaError, Store
from tradekernel.store.anchor import ANCHOR_FILENAME, read_anchor
from tradekernel.store.states import DiskFull, StateLost, StateUnusable


def _sql(state_dir, sql, *args):
    conn = sqlite3.connect(state_dir / "state.db")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def _head(state_dir):
    conn = sqlite3.connect(state_dir / "state.db")
    try:
        return conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()


@pytest.fixture
def three(state_dir, helpers):
    """A state with three approved intents (9 journal rows), closed (anchored)."""
    with Store.open(state_dir) as store:
        ids = helpers.add_approved(store, 3)
    return ids


# -- the anchor --------------------------------------------------------------------------


def test_closing_a_store_that_appended_anchors_the_journal_head(state_dir, three):
    anchor = read_anchor(state_dir)
    assert (anchor.seq, anchor.hash) == _head(state_dir) == (9, anchor.hash)
    written = (state_dir / ANCHOR_FILENAME).stat().st_mtime_ns
    with Store.open(state_dir) as store:  # a reader appends nothing: no anchor write
        store.list_intents()
    assert (state_dir / ANCHOR_FILENAME).stat().st_mtime_ns == written


def test_every_writer_anchors_the_committed_head(state_dir, three, helpers):
    with Store.open(state_dir) as late, Store.open(state_dir) as early:
        early.set_control("kill_switch", True, actor="op")  # seq 10
        late.set_control("paused", True, actor="op")  # seq 11
        late.write_anchor()
        early.write_anchor()  # a slower process: it anchors what is committed, not its own
    assert read_anchor(state_dir).seq == 11


def test_deleting_the_last_intent_and_its_rows_does_not_verify(state_dir, three):
    last = three[-1]
    _sql(state_dir, "DELETE FROM journal WHERE entity = ?", last)
    _sql(state_dir, "DELETE FROM intents WHERE id = ?", last)
    with Store.open(state_dir, check_anchor=False) as store:
        result = store.verify_journal()
    assert not result.ok
    assert result.problem == "journal truncated: anchor at seq 9, journal ends at 6"
    assert result.first_bad_seq == 7


def test_a_rewritten_tail_of_the_same_length_does_not_verify(state_dir, three, helpers):
    _sql(state_dir, "DELETE FROM journal WHERE seq > 6")
    _sql(state_dir, "DELETE FROM intents WHERE id = ?", three[-1])
    anchor = read_anchor(state_dir)
    (state_dir / ANCHOR_FILENAME).rename(state_dir / "kept.anchor")
    with Store.open(state_dir) as store:  # three new rows: seq 7..9 again, other hashes
        helpers.add_approved(store, 1, start=10)
    (state_dir / "kept.anchor").replace(state_dir / ANCHOR_FILENAME)
    assert read_anchor(state_dir) == anchor
    with Store.open(state_dir, check_anchor=False) as store:
        result = store.verify_journal()
    assert not result.ok and result.problem.startswith("journal rewritten")
    with pytest.raises(StateLost, match="journal rewritten"):
        Store.open(state_dir)


@pytest.mark.parametrize("loss", ["truncated", "deleted"])
def test_writers_refuse_a_lost_database_and_change_nothing(state_dir, three, loss):
    db = state_dir / "state.db"
    if loss == "truncated":
        db.write_bytes(b"")
    else:
        db.unlink()
    for name in ("state.db-wal", "state.db-shm"):
        (state_dir / name).unlink(missing_ok=True)
    with pytest.raises(StateLost) as exc:
        Store.open(state_dir)
    text = str(exc.value)
    assert "journal truncated: anchor at seq 9, journal ends at 0" in text
    assert "tradekernel audit restore" in text and "tradekernel journal backup" in text
    assert exc.value.exit_code == 2
    assert (db.stat().st_size == 0) if loss == "truncated" else not db.exists()
    assert read_anchor(state_dir).seq == 9


@pytest.mark.parametrize(
    "seq", ['"x"', "1e400", "-1e400", "true", '"9"', "9.0", "[9]", "null", "-1"]
)
def test_a_damaged_anchor_is_refused(state_dir, three, run_cli, seq):
    """Only an integer seq is an anchor: not a float that overflows, a bool or a string."""
    body = f'{{"schema": "journal-anchor.v1", "seq": {seq}, "hash": "{"a" * 64}"}}'
    (state_dir / ANCHOR_FILENAME).write_text(body)
    with pytest.raises(StateLost, match="damaged"):
        Store.open(state_dir)
    for args in (("journal", "verify"), ("control", "status")):
        code, _, err = run_cli(*args)
        assert code == 2 and "journal anchor is damaged" in err and "unexpected" not in err


def test_the_anchor_write_is_durable(state_dir, monkeypatch):
    """The anchor's file and then, when it is new, its directory are fsynced: the anchor
    exists after a power loss; a later rename lost with one leaves the previous anchor,
    which may lag the journal but never lead it."""
    import os
    import stat

    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    from tradekernel.store.anchor import write_anchor

    write_anchor(state_dir, 3, "a" * 64)
    assert synced == [False, True]
    write_anchor(state_dir, 4, "b" * 64)
    assert synced == [False, True, False]


def test_cli_verify_exit_4_and_writing_commands_exit_2(state_dir, three, run_cli):
    code, out, _ = run_cli("journal", "verify")
    assert code == 0 and "9 journal rows verified" in out
    (state_dir / "state.db").write_bytes(b"")
    code, _, err = run_cli("journal", "verify")
    assert code == 4
    assert "journal truncated: anchor at seq 9, journal ends at 0" in err
    for args in (
        ("intents", "approve", three[0]),
        ("intents", "reconcile"),
        ("control", "pause"),
        ("journal", "backup", str(state_dir.parent / "copy.db")),
    ):
        code, _, err = run_cli(*args)
        assert code == 2, (args, err)
        assert "journal truncated" in err and "audit restore" in err and "unexpected" not in err
    assert (state_dir / "state.db").stat().st_size == 0


def test_cli_verify_of_a_deleted_database_exits_4(state_dir, three, run_cli):
    (state_dir / "state.db").unlink()
    code, _, err = run_cli("journal", "verify")
    assert code == 4 and "journal ends at 0" in err


def test_restoring_a_backup_anchors_the_new_state(state_dir, three, tmp_path):
    from tradekernel_audit import restore_backup

    with Store.open(state_dir) as store:
        store.backup(tmp_path / "b.db")
    (state_dir / "state.db").write_bytes(b"")  # lost
    restore_backup(tmp_path / "b.db", tmp_path / "restored")
    assert read_anchor(tmp_path / "restored").seq == 9
    with Store.open(tmp_path / "restored") as store:
        assert store.verify_journal().ok


# -- the executor checks the row against its journal right before a submit ---------------


def _events():
    events: list[tuple[str, str, dict]] = []
    return events, lambda s, k, **f: events.append((s, k, f))


def _rejected(store, helpers):
    intent = helpers.make_intent(0)
    store.add_intent(intent, cycle_id="c", broker="rec", ref_price=Decimal("100"))
    store.transition(
        intent.id, "pending_approval", actor="g", verdicts=[GuardVerdict.allowed("max_notional")]
    )
    store.transition(intent.id, "rejected", actor="risk-officer")
    return intent.id


def test_a_rejected_intent_set_to_approved_with_sql_is_never_sent(
    store, state_dir, settings, broker_factory, helpers
):
    iid = _rejected(store, helpers)
    _sql(state_dir, "UPDATE intents SET state = 'approved' WHERE id = ?", iid)
    broker = broker_factory()
    events, emit = _events()
    executor = Executor(store, broker, broker_name="rec", settings=settings, emit=emit)
    assert "journal_mismatch" in [d.code for d in executor.preflight(iid)]
    with pytest.raises(RefusedError, match="journal_mismatch"):
        executor.execute(iid)
    assert broker.count() == 0
    (conflict,) = [f for s, k, f in events if (s, k) == ("executor", "conflict")]
    assert conflict["severity"] == "critical" and conflict["reason"].startswith("journal_mismatch")


def test_an_edit_between_the_claim_and_the_submit_is_never_sent(
    store, state_dir, settings, broker_factory, helpers
):
    (iid,) = helpers.add_approved(store, 1)

    def edit(point, intent_id):
        if point == "before_submit":  # another hand doubles the quantity behind the journal
            row = store.conn.execute("SELECT intent_json FROM intents").fetchone()[0]
            data = json.loads(row)
            data["quantity"] = "1000"
            _sql(state_dir, "UPDATE intents SET intent_json = ?", json.dumps(data))

    broker = broker_factory()
    events, emit = _events()
    executor = Executor(
        store, broker, broker_name="rec", settings=settings, emit=emit, checkpoint=edit
    )
    result = executor.execute(iid)
    assert result.outcome == "failed" and result.reason.startswith("journal_mismatch")
    assert broker.count() == 0
    assert any(k == "conflict" and f["severity"] == "critical" for _, k, f in events)


def _double_quantity_by_sql(state_dir, iid):
    conn = sqlite3.connect(state_dir / "state.db")
    data = json.loads(
        conn.execute("SELECT intent_json FROM intents WHERE id = ?", (iid,)).fetchone()[0]
    )
    data["quantity"] = "500"
    conn.execute("UPDATE intents SET intent_json = ? WHERE id = ?", (json.dumps(data), iid))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("path", ["reconcile", "unknown_outcome"])
def test_a_claimed_intent_edited_behind_the_journal_is_never_resubmitted(
    store, state_dir, settings, broker_factory, helpers, path
):
    """Every submit, a reconcile's resubmit of a confirmed-absent order included, checks
    the row against its journal and sends the verified row."""
    (iid,) = helpers.add_approved(store, 1)
    events, emit = _events()
    if path == "reconcile":  # a crash right after the claim, then an edit, then a restart
        store.transition(iid, "executing", expected_from="approved", actor="executor")
        _double_quantity_by_sql(state_dir, iid)
        broker = broker_factory()
        executor = Executor(store, broker, broker_name="rec", settings=settings, emit=emit)
        (res,) = executor.reconcile()
        assert (res.action, res.state) == ("failed", "failed")
    else:  # the first submit never arrives; the row is edited before the resubmit
        broker = broker_factory(mode="drop_before")
        executor = Executor(store, broker, broker_name="rec", settings=settings, emit=emit)
        real_get = broker.get_order

        def lookup_then_edit(coid):
            _double_quantity_by_sql(state_dir, iid)
            return real_get(coid)

        broker.get_order = lookup_then_edit
        result = executor.execute(iid)
        assert result.outcome == "failed"
    assert broker.count() == 0
    assert store.get(iid).reason.startswith("journal_mismatch")
    (conflict,) = [f for s, k, f in events if (s, k) == ("executor", "conflict")]
    assert conflict["severity"] == "critical" and conflict["reason"].startswith("journal_mismatch")


@pytest.mark.parametrize(
    ("key", "value", "sql", "code"),
    [
        ("kill_switch", True, "DELETE FROM control WHERE key = 'kill_switch'", "kill_switch_on"),
        ("kill_switch", True, "UPDATE control SET value = 'false'", "kill_switch_on"),
        ("trading_state", "halted", "UPDATE control SET value = '\"active\"'", "trading_halted"),
    ],
)
def test_a_switch_changed_behind_the_journal_still_halts(
    store, state_dir, settings, broker_factory, helpers, key, value, sql, code
):
    (iid,) = helpers.add_approved(store, 1)
    store.set_control(key, value, actor="op", reason="stop")
    _sql(state_dir, sql)
    broker = broker_factory()
    events, emit = _events()
    executor = Executor(store, broker, broker_name="rec", settings=settings, emit=emit)
    denials = {d.code: d.detail for d in executor.preflight(iid)}
    assert denials[code].startswith("journal_mismatch")
    with pytest.raises(RefusedError, match=code):
        executor.execute(iid)
    store.transition(iid, "executing", actor="executor")  # a crash: reconcile may not resend
    (res,) = executor.reconcile()
    assert res.state == "failed" and broker.count() == 0
    (conflict,) = [f for s, k, f in events if (s, k) == ("executor", "conflict")]
    assert conflict["severity"] == "critical" and f"control {key}" in conflict["reason"]
    store.set_control(key, False if key == "kill_switch" else "active", actor="op")
    assert store.checked_control(key) == (store.get_control(key), None)


# -- orders the store says were sent, unknown to the broker ---------------------------------


def test_reconcile_halts_on_a_sent_order_the_broker_does_not_know(
    store, settings, broker_factory, helpers
):
    ids = helpers.add_approved(store, 2)
    broker = broker_factory()
    events, emit = _events()
    executor = Executor(store, broker, broker_name="rec", settings=settings, emit=emit)
    for iid in ids:
        assert executor.execute(iid).outcome == "submitted"
    assert executor.reconcile() == [] and store.get_control("trading_state") is None
    lost = store.get(ids[1]).client_order_id
    broker.conn.execute("DELETE FROM submits WHERE client_order_id = ?", (lost,))
    executor.reconcile()
    (conflict,) = [f for s, k, f in events if (s, k) == ("executor", "conflict")]
    assert conflict["severity"] == "critical" and conflict["client_order_id"] == lost
    assert conflict["reason"].startswith("unknown_to_broker")
    assert store.get_control("trading_state") == "halted"
    assert store.verify_journal().ok


def test_an_acknowledged_unknown_order_does_not_halt_again(
    store, settings, broker_factory, helpers
):
    """A reset broker account is reported once per order: after an operator looked and
    set trading active, later reconciles (every start runs one) neither re-halt nor
    repeat the critical conflict; a newly lost order is still reported."""
    ids = helpers.add_approved(store, 2)
    broker = broker_factory()
    events, emit = _events()
    executor = Executor(store, broker, broker_name="rec", settings=settings, emit=emit)
    for iid in ids:
        executor.execute(iid)
    first = store.get(ids[0]).client_order_id
    broker.conn.execute("DELETE FROM submits WHERE client_order_id = ?", (first,))
    executor.reconcile()
    assert store.get_control("trading_state") == "halted"
    assert store.unknown_orders() == [first]
    store.set_control("trading_state", "active", actor="op", reason="reviewed: account reset")
    for _ in range(2):  # a reconcile, then a fresh start's reconcile
        Executor(store, broker, broker_name="rec", settings=settings, emit=emit).reconcile()
    assert store.get_control("trading_state") == "active"
    conflicts = [f for s, k, f in events if (s, k) == ("executor", "conflict")]
    assert [c["client_order_id"] for c in conflicts] == [first]
    second = store.get(ids[1]).client_order_id
    broker.conn.execute("DELETE FROM submits WHERE client_order_id = ?", (second,))
    executor.reconcile()
    assert store.get_control("trading_state") == "halted"
    conflicts = [f for s, k, f in events if (s, k) == ("executor", "conflict")]
    assert [c["client_order_id"] for c in conflicts] == [first, second]
    assert store.verify_journal().ok


def test_an_order_the_broker_knows_again_keeps_its_status_and_is_polled(
    store, settings, broker_factory, helpers
):
    """A briefly missing account does not overwrite the order's status for good: the
    unknown flag sits beside it, reconcile keeps asking, and clears the flag when the
    broker answers again; a later loss of the same order is reported anew."""
    (iid,) = helpers.add_approved(store, 1)
    broker = broker_factory()
    events, emit = _events()
    executor = Executor(store, broker, broker_name="rec", settings=settings, emit=emit)
    executor.execute(iid)
    coid = store.get(iid).client_order_id
    status = store.get(iid).order_status
    row = broker.conn.execute("SELECT * FROM submits WHERE client_order_id = ?", (coid,))
    saved = row.fetchone()
    broker.conn.execute("DELETE FROM submits WHERE client_order_id = ?", (coid,))
    executor.reconcile()
    assert store.unknown_orders() == [coid] and store.get(iid).order_status == status
    assert store.get_order(coid) is not None
    store.set_control("trading_state", "active", actor="op", reason="account moved away")
    marks = ", ".join("?" * len(saved))
    broker.conn.execute(f"INSERT INTO submits VALUES ({marks})", tuple(saved))  # back
    executor.reconcile()
    assert store.unknown_orders() == [] and store.get_control("trading_state") == "active"
    broker.conn.execute("DELETE FROM submits WHERE client_order_id = ?", (coid,))
    executor.reconcile()
    assert store.get_control("trading_state") == "halted"
    conflicts = [f for s, k, f in events if (s, k) == ("executor", "conflict")]
    assert [c["client_order_id"] for c in conflicts] == [coid, coid]


def test_schema_1_unknown_statuses_move_to_their_table(tmp_path):
    """A store written before the flag had a table: the migration restores the order
    status from the broker's last answer and keeps the flag (no second report)."""
    from tradekernel.store.db import MIGRATIONS

    state = tmp_path / "s"
    with Store.open(state):
        pass
    conn = sqlite3.connect(state / "state.db")
    conn.execute("DROP TABLE unknown_orders")
    conn.execute("UPDATE tradekernel_meta SET value = '1' WHERE key = 'schema_version'")
    conn.execute(
        "INSERT INTO intents (id, state, version, client_order_id, intent_json, order_status, "
        "created_at, updated_at) VALUES ('i1', 'submitted', 1, 'tk-1', '{}', "
        "'unknown_to_broker', 't', 't')"
    )
    conn.execute(
        "INSERT INTO orders (client_order_id, intent_id, status, order_json) VALUES "
        """('tk-1', 'i1', 'unknown_to_broker', '{"status": "filled"}')"""
    )
    conn.commit()
    conn.close()
    assert 2 in MIGRATIONS
    with Store.open(state, check_anchor=False) as store:
        assert store.unknown_orders() == ["tk-1"]
        (status,) = store.conn.execute("SELECT order_status FROM intents").fetchone()
        assert status == "filled"
        assert store.conn.execute("SELECT status FROM orders").fetchone()[0] == "filled"


# -- places a state database cannot live ------------------------------------------------------


def test_state_dir_that_is_a_file_or_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StateUnusable, match="is a file, not a directory") as exc:
        Store.open(tmp_path / "f")
    assert exc.value.exit_code == 2
    with pytest.raises(StateUnusable, match=r"is under a file \(.*f\)"):
        Store.open(tmp_path / "f" / "sub")


def test_undecodable_text_in_the_database_is_reported_not_a_crash(state_dir, three):
    db = state_dir / "state.db"
    with Store.open(state_dir):  # close checkpoints the WAL into the file
        pass
    data = bytearray(db.read_bytes())
    at = data.find(b"test intent 1")
    assert at > 0
    data[at : at + 4] = b"\xff\xfe\xfd\xfc"
    db.write_bytes(bytes(data))
    with Store.open(state_dir) as store:
        with pytest.raises(SchemaError, match=r"the database is corrupted .*audit restore"):
            store.list_intents()
        result = store.verify_journal()
    assert not result.ok and "corrupted" in result.problem


def test_a_full_disk_rolls_back_and_says_so(state_dir, three, helpers):
    with Store.open(state_dir) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")
        big = helpers.make_intent(50, rationale="x" * 20000)
        with pytest.raises(DiskFull, match="the disk is full") as exc:
            store.add_intent(big, cycle_id="c", broker="rec")
        assert exc.value.exit_code == 1
        assert store.find(big.id) is None
        assert store.verify_journal().ok
        assert store.list_intents(state=IntentState.APPROVED.value)


def test_an_anchor_that_cannot_be_written_lags_and_is_retried(state_dir, three, monkeypatch):
    from tradekernel.store import anchor as anchor_module

    real = anchor_module.write_anchor

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")  # as fsync raises it: no file name

    from loguru import logger

    warnings: list[str] = []
    sink = logger.add(warnings.append, level="WARNING", format="{message}")
    with Store.open(state_dir) as store:
        store.set_control("paused", True, actor="op")
        monkeypatch.setattr(anchor_module, "write_anchor", full)
        assert store.write_anchor() is None  # logged, not raised: the journal is ahead
        logger.remove(sink)
        assert any(str(state_dir / ANCHOR_FILENAME) in w for w in warnings), warnings
        assert read_anchor(state_dir).seq == 9
        monkeypatch.setattr(anchor_module, "write_anchor", real)
    assert read_anchor(state_dir).seq == 10  # retried when the store closed


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_restored_server_database_is_never_traded_again(
    tmp_path, helpers, backend, postgres_server, postgres_url
):
    """Host B submits three intents; the server database is then restored from a backup
    taken before: host A, whose anchor is older than B's appends, refuses it (StateLost)
    instead of submitting the three again."""
    import psycopg

    host_a, host_b = tmp_path / "a", tmp_path / "b"
    settings = helpers.make_settings(host_a)
    with backend.open(host_a) as store:
        ids = helpers.add_approved(store, 3)
    dbname = postgres_url.split("/")[3].split("?")[0]
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE nightly_backup TEMPLATE {dbname}")
    broker = helpers.RecordingBroker(tmp_path / "broker.db")
    with backend.open(host_b) as store:
        ex = Executor(store, broker, broker_name="rec", settings=settings)
        assert [ex.execute(i).outcome for i in ids] == ["submitted"] * 3
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {dbname} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {dbname} TEMPLATE nightly_backup")
    for host in (host_a, host_b, tmp_path / "new-host"):
        with pytest.raises(StateLost, match="not the database the store was written in"):
            backend.open(host)
    assert all(n == 1 for n in broker.per_order().values())
