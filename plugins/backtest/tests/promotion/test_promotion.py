"""Promotion stages and gates, their journal evidence, and the runtime's stage refusal."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from decimal import Decimal

import pytest
from bt_handdata import write_hand_csv  # tests/backtest: three round trips
from tradekernel.api import (
    GateFailed,
    Kernel,
    PluginRegistry,
    RefusedError,
    Runtime,
    Settings,
    check_stage,
    get_stage,
    utcnow,
)
from tradekernel_backtest import BacktestSpec, record_backtest, run_backtest
from tradekernel_backtest.promotion import evaluate, promote


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request) -> str:
    return request.param


def backtest(settings, tmp_path, **params):
    data = write_hand_csv(tmp_path / "data" / "AAA.csv")
    spec = BacktestSpec(
        strategist="sma-cross",
        data=[str(data)],
        cash=Decimal(10000),
        commission=Decimal("0.001"),
        params=params,
    )
    return run_backtest(settings, spec).metrics


def test_refused_without_evidence(cli, settings, open_state):
    code, _, err = cli("promote", "sma-cross", "--to", "shadow")
    assert code == 4
    assert "backtest" in err
    with open_state(settings) as store:
        assert get_stage(store, "sma-cross") is None
        attempt = store.get_control("promotion:sma-cross")
    assert attempt["passed"] is False and attempt["gates"][0]["gate"] == "backtest"


def test_promoted_with_evidence_and_journaled(cli, settings, tmp_path, open_state):
    m = backtest(settings, tmp_path)
    assert m["trades"] == 3
    code, out, err = cli("promote", "sma-cross", "--to", "shadow", "--by", "alice", "--json")
    assert code == 0, err
    evidence = json.loads(out)
    assert evidence["passed"] and evidence["backtest_id"] == m["record_id"]
    assert evidence["gates"] == [
        {"gate": "min_trades", "value": 3, "threshold": 3, "passed": True, "source": "backtest"},
        # the backtest's own costs, at least the configured paper broker's (none)
        {
            "gate": "commission",
            "value": "0.001",
            "threshold": "0",
            "passed": True,
            "source": "backtest",
        },
        {
            "gate": "slippage_bps",
            "value": "0",
            "threshold": "0",
            "passed": True,
            "source": "backtest",
        },
    ]
    with open_state(settings) as store:
        assert get_stage(store, "sma-cross") == "shadow"
        rows = store.journal_rows(entity="control:stage:sma-cross")
        assert store.verify_journal().ok
    assert rows[-1].actor == "alice"
    assert rows[-1].payload["value"]["evidence"]["gates"][0]["value"] == 3
    assert rows[-1].payload["value"]["evidence"]["config_digest"] == m["config_digest"]


def test_failed_gates_are_named_exit_4(cli, settings, tmp_path, open_state):
    backtest(settings, tmp_path)
    assert cli("promote", "sma-cross", "--to", "shadow", "--check")[0] == 0
    assert cli("promote", "sma-cross", "--to", "shadow")[0] == 0
    # commissions are 0.825 over 3 trades = 0.275 per trade: under 1.0, passes; tighten it
    cfg = settings.config_path
    cfg.write_text(
        cfg.read_text()
        .replace("max_cost_per_trade = 1.0", "max_cost_per_trade = 0.1")
        .replace("min_trades = 3\nmin_sharpe", "min_trades = 50\nmin_sharpe")
    )
    for check in (("--check",), ("--check", "--json")):  # evaluating only: exit 4 too
        code, out, err = cli("promote", "sma-cross", "--to", "paper", *check)
        assert code == 4 and "min_trades = 3 (needs 50)" in err, (check, err)
        assert "--json" not in check or json.loads(out)["passed"] is False
    code, _, err = cli("promote", "sma-cross", "--to", "paper")
    assert code == 4
    assert "min_trades = 3 (needs 50)" in err and "max_cost_per_trade" in err
    assert "max_drawdown" not in err  # passed gates are not named as failures
    with open_state(settings) as store:
        assert get_stage(store, "sma-cross") == "shadow"
        failed = [
            g["gate"] for g in store.get_control("promotion:sma-cross")["gates"] if not g["passed"]
        ]
    assert failed == ["min_trades", "max_cost_per_trade"]


def test_evidence_must_match_the_current_configuration(settings, registry, tmp_path, open_state):
    backtest(settings, tmp_path, fast=3, slow=5)  # another configuration
    with open_state() as store, pytest.raises(GateFailed, match="backtest"):
        promote(settings, store, registry, "sma-cross", "shadow")


def test_live_needs_acknowledgement_and_paper_days(make_config, tmp_path, cli, open_state):
    cfg = make_config()
    settings = Settings.load(cfg, environ={})
    backtest(settings, tmp_path)
    for stage in ("shadow", "paper"):
        assert cli("promote", "sma-cross", "--to", stage)[0] == 0
    code, _, err = cli("promote", "sma-cross", "--to", "live")
    assert code == 3 and "live_acknowledged" in err
    acked = make_config("live_acknowledged = true")
    code, _, err = cli("promote", "sma-cross", "--to", "live", cfg=acked)
    assert code == 4
    assert "min_paper_days" in err and "min_trades = 0" in err  # no paper trades yet
    settings = Settings.load(acked, environ={})
    registry = PluginRegistry().load()
    with open_state(settings) as store:
        later = evaluate(
            settings, store, registry, "sma-cross", "live", now=utcnow() + timedelta(days=8)
        )
    days = next(g for g in later.gates if g.gate == "min_paper_days")
    assert days.passed and days.value > 7


def test_demotion_needs_no_gates(settings, registry, tmp_path, open_state):
    backtest(settings, tmp_path)
    with open_state(settings) as store:
        promote(settings, store, registry, "sma-cross", "shadow")
        with pytest.raises(RefusedError, match="already"):
            promote(settings, store, registry, "sma-cross", "shadow")
        promote(settings, store, registry, "sma-cross", "candidate", actor="bob")
        assert get_stage(store, "sma-cross") == "candidate"


def test_runtime_refuses_a_mode_above_the_stage(settings, registry, tmp_path, open_state):
    with open_state(settings) as store:
        check_stage(store, "sma-cross", "paper")  # no stage: paper and shadow allowed
        check_stage(store, "sma-cross", "shadow")
        with pytest.raises(RefusedError, match="no promotion stage"):
            check_stage(store, "sma-cross", "live")
        record_backtest(
            settings,
            {
                "strategist": "sma-cross",
                "config_digest": evaluate(
                    settings, store, registry, "sma-cross", "shadow"
                ).config_digest,
                "trades": 5,
                "stopped": "data exhausted",
                "harness": {"commission": "0", "slippage_bps": "0"},
            },
        )
        promote(settings, store, registry, "sma-cross", "shadow")
    with Kernel(settings, registry) as kernel:
        with pytest.raises(RefusedError, match=r"stage shadow.*needs stage paper"):
            Runtime(kernel, mode="paper")
        with Runtime(kernel, mode="shadow") as runtime:
            assert runtime.mode == "shadow"


def test_an_interrupted_backtest_is_not_evidence(settings, registry, open_state):
    with open_state(settings) as store:
        digest = evaluate(settings, store, registry, "sma-cross", "shadow").config_digest
        for stopped in ("stop requested", "budget reached"):
            record_backtest(
                settings,
                {
                    "strategist": "sma-cross",
                    "config_digest": digest,
                    "trades": 9,
                    "stopped": stopped,
                },
            )
        result = evaluate(settings, store, registry, "sma-cross", "shadow")
    assert not result.passed
    assert any(g.gate == "backtest" and not g.passed for g in result.gates)


# the stage check alone (no gates): tests/runtime/test_stage.py in the kernel


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_evidence_in_the_postgres_store_promotes(tmp_path, cli, open_state):
    """With ``[components] store = "postgres"`` a backtest records its evidence on the
    server (its own run state stays in a SQLite dir) and ``promote`` passes the gates."""
    data = write_hand_csv(tmp_path / "data" / "AAA.csv")
    code, out, err = cli(
        *("backtest", "--strategist", "sma-cross", "--data", str(data), "--json"),
        *("--cash", "10000", "--commission", "0.001"),
    )
    assert code == 0, err
    record_id = json.loads(out)["record_id"]
    code, out, err = cli("promote", "sma-cross", "--to", "shadow", "--json")
    assert code == 0, err
    assert json.loads(out)["passed"] and json.loads(out)["backtest_id"] == record_id
    code, out, err = cli("journal", "verify")
    assert code == 0, err + out
    with open_state() as store:  # on the server, not in a state.db
        assert store.dialect.name == "postgres"
        [(rows,)] = store.conn.execute("SELECT count(*) FROM backtests").fetchall()
        assert rows == 1 and get_stage(store, "sma-cross") == "shadow"
        # the run itself kept its intents in its own SQLite state, not the operator's
        assert store.conn.execute("SELECT count(*) FROM intents").fetchone() == (0,)
    local = tmp_path / "operator" / "state.db"
    if local.exists():
        with sqlite3.connect(local) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert "backtests" not in tables


class InProcess:
    """A sweeper running each job in this process, in order."""

    def sweep(self, fn, jobs, *, workers=None):
        from tradekernel.api import SweepResult

        for i, job in enumerate(jobs):
            yield SweepResult(i, value=fn(job))


@pytest.mark.parametrize("store_kind", ["postgres"])
def test_a_sweep_records_every_combination_in_the_postgres_store(
    settings, registry, tmp_path, open_state
):
    from tradekernel_backtest import param_grid, run_sweep

    spec = BacktestSpec(
        strategist="sma-cross",
        data=[str(write_hand_csv(tmp_path / "data" / "AAA.csv"))],
        cash=Decimal(10000),
        commission=Decimal("0.001"),
    )
    grid = param_grid([("fast", [2]), ("slow", [3, 4])])
    rows = run_sweep(settings, spec, grid, sweeper=InProcess())
    assert [r["error"] for r in rows] == [None, None]
    with open_state() as store:
        recorded = store.conn.execute(
            "SELECT id, config_digest FROM backtests ORDER BY id"
        ).fetchall()
        assert len(recorded) == 2 and len({d for _, d in recorded}) == 2
        assert len(store.journal_rows(entity="control:backtest:sma-cross")) == 2
        result = promote(settings, store, registry, "sma-cross", "shadow")  # fast 2, slow 3
        assert result.passed and result.backtest_id == recorded[0][0]
