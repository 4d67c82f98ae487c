"""The store side of netting: shares recorded once with the journal row, schema 4."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

from tradekernel.models import Fill, Intent
from tradekernel.portfolio.conflicts import ConflictPolicy, resolve_conflicts
from tradekernel.store import Store

AS_OF = datetime(2026, 1, 5, 15, tzinfo=UTC)


def _net():
    a = Intent.create(symbol="AAA", side="buy", quantity=7, strategist="fast", as_of=AS_OF)
    b = Intent.create(symbol="AAA", side="sell", quantity=3, strategist="slow", as_of=AS_OF)
    ((netted, shares),) = resolve_conflicts([a, b], ConflictPolicy("net")).netted
    return netted, shares


def test_shares_are_recorded_once_with_their_journal_row_and_split_the_fills(tmp_path):
    netted, shares = _net()
    with Store.open(tmp_path / "s") as store:
        payload = {"policy": "net", "result": "netted", "inputs": []}
        kw = dict(cycle_id="c1", payload=payload, shares=shares, netted_id=netted.id)
        assert store.record_conflict("cfl_1", **kw)
        assert not store.record_conflict("cfl_1", **kw), "idempotent"
        assert [(s.strategist, s.amount) for s in store.shares(netted.id)] == [
            ("fast", Decimal(7)),
            ("slow", Decimal(-3)),
        ]
        assert store.netted_intents("slow") == [netted.id]
        store.add_intent(netted, cycle_id="c1", broker="paper", ref_price=Decimal(10))
        for n, qty in enumerate(("1", "3")):  # two partial fills of the one order
            store.record_fill(
                Fill(
                    fill_id=f"f{n}",
                    client_order_id=netted.client_order_id,
                    symbol="AAA",
                    side="buy",
                    quantity=Decimal(qty),
                    price=Decimal(10),
                    ts=AS_OF,
                )
            )
        parts = store.strategy_fills(netted.id)
        assert sum(parts.values()) == 4
        assert parts == {"fast": Decimal(7), "slow": Decimal(-3)}
        rows = store.journal_rows("conflict:cfl_1")
        assert len(rows) == 1 and rows[0].to_state == "net"
        assert store.verify_journal().ok


def test_a_schema_3_file_gains_the_shares_table(tmp_path):
    state = tmp_path / "s"
    with Store.open(state):
        pass
    conn = sqlite3.connect(state / "state.db")
    conn.execute("DROP TABLE strategy_shares")
    conn.execute("UPDATE tradekernel_meta SET value = '3' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Store.open(state, check_anchor=False) as store:
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
        version = store.conn.execute(
            "SELECT value FROM tradekernel_meta WHERE key = 'schema_version'"
        ).fetchone()[0]
    assert "strategy_shares" in tables and version == "4"


def test_journal_verify_checks_every_share_row_against_its_conflict_row(tmp_path):
    netted, shares = _net()
    tampering = {
        "rewritten": "UPDATE strategy_shares SET amount = '100' WHERE strategist = 'fast'",
        "reassigned": "UPDATE strategy_shares SET strategist = 'fast' WHERE strategist = 'slow'",
        "deleted": "DELETE FROM strategy_shares WHERE strategist = 'slow'",
        "added": "INSERT INTO strategy_shares VALUES ('int_x', 'int_y', 'fast', '1', 'c', 't')",
    }
    for name, sql in tampering.items():
        path = tmp_path / name
        with Store.open(path) as store:
            payload = {"policy": "net", "result": "netted", "inputs": []}
            store.record_conflict(
                "cfl_1", cycle_id="c1", payload=payload, shares=shares, netted_id=netted.id
            )
            assert store.verify_journal().ok
        conn = sqlite3.connect(path / "state.db")
        conn.execute(sql)
        conn.commit()
        conn.close()
        with Store.open(path) as store:
            result = store.verify_journal()
        assert not result.ok, name
        assert result.entity.startswith("share:"), (name, result)
        assert "share " in result.problem, (name, result.problem)
