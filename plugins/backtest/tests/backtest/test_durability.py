"""A backtest's own state skips the fsync per commit; the operator's live store keeps
``synchronous=FULL`` whatever a backtest does."""

from __future__ import annotations

import sqlite3

from tradekernel.api import Store
from tradekernel_backtest import BacktestSpec, run_backtest
from tradekernel_backtest.spec import derive_settings
from tradekernel_paper import PaperConfig


def test_a_backtest_account_is_not_fsynced_but_the_live_store_stays_full(base, hand_csv, tmp_path):
    spec = BacktestSpec(
        strategist="sma-cross", data=[str(hand_csv)], state_dir=tmp_path / "bt", record=False
    )
    derived = derive_settings(base, spec, tmp_path / "bt")
    assert derived.component_config("broker", "paper", PaperConfig).durable is False
    assert base.component_config("broker", "paper", PaperConfig).durable is True
    with Store.open(base.state_dir) as live:
        m = run_backtest(base, spec).metrics
        assert live.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert m["trades"] == 3
    with Store.open(base.state_dir) as live:
        assert live.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    # the backtest's state was written out complete: read without the WAL
    for name in ("state.db", "paper.db"):
        wal = tmp_path / "bt" / f"{name}-wal"
        assert not wal.exists() or wal.stat().st_size == 0
        conn = sqlite3.connect(tmp_path / "bt" / name)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()


def test_the_backtest_opens_its_own_databases_without_fsync(base, hand_csv, tmp_path, monkeypatch):
    """The real stores, opened by the backtest, seen as they are opened."""
    import tradekernel_backtest.runner as runner
    import tradekernel_paper.broker as paper_broker

    seen: dict[str, int] = {}
    open_store = runner.Store.open

    def store_open(state_dir, **kw):
        store = open_store(state_dir, **kw)
        seen["state.db"] = store.conn.execute("PRAGMA synchronous").fetchone()[0]
        return store

    real_paper_store = paper_broker.PaperStore

    def paper_store(path, **kw):
        store = real_paper_store(path, **kw)
        seen["paper.db"] = store.conn.execute("PRAGMA synchronous").fetchone()[0]
        return store

    monkeypatch.setattr(runner.Store, "open", store_open)
    monkeypatch.setattr(paper_broker, "PaperStore", paper_store)
    spec = BacktestSpec(strategist="sma-cross", data=[str(hand_csv)], record=False)
    assert run_backtest(base, spec).metrics["trades"] == 3
    assert seen == {"state.db": 0, "paper.db": 0}  # OFF


def test_what_the_operator_settings_were_loaded_with_reaches_the_backtest(base, hand_csv, tmp_path):
    """A sweep's worker loads the operator's settings with the environment's overrides
    (it may run on another host, without that environment): the backtest keeps them."""
    from tradekernel.api import Settings

    flag = "environment TRADEKERNEL_RUNTIME__NODE_ATTEMPTS"
    worker = Settings.load(
        base.config_path, overrides={"runtime.node_attempts": (7, flag)}, environ={}
    )
    spec = BacktestSpec(
        strategist="sma-cross", data=[str(hand_csv)], state_dir=tmp_path / "bt", record=False
    )
    derived = derive_settings(worker, spec, tmp_path / "bt")
    assert derived.runtime.node_attempts == 7
    assert derived.source_of("runtime", "node_attempts") == f"cli:{flag}"
    assert derived.kernel.mode == "paper" and derived.components.store == "sqlite"
