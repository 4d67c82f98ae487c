"""Backtests on the canonical graph: hand-computed results, fill timing, commission,
end-of-data valuation, determinism, outputs and the CLI."""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from decimal import Decimal
from pathlib import Path

import pytest
from bt_handdata import CLOSES, opens
from tradekernel.api import Store
from tradekernel_backtest import BacktestSpec, latest_backtest, run_backtest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def spec(data: Path, **kw) -> BacktestSpec:
    kw.setdefault("cash", Decimal(10000))
    kw.setdefault("commission", Decimal("0.001"))
    return BacktestSpec(strategist="sma-cross", data=[str(data)], **kw)


def test_hand_computed_three_trades(base, hand_csv, tmp_path):
    """sma-cross(2, 3) buys 10 shares on bars 4, 10, 16 and 23 and sells on 7, 13, 19;
    each order fills at the NEXT bar's open; commission is 0.1 % of each fill's notional."""
    o = opens()
    assert (o[5], o[8], o[11], o[14], o[17], o[20], o[24]) == (
        12.25,
        9.25,
        11.25,
        12.0,
        13.25,
        10.25,
        14.25,
    )
    pnl = [
        10 * (9.25 - 12.25) - 0.001 * 10 * (12.25 + 9.25),  # -30.215
        10 * (12.0 - 11.25) - 0.001 * 10 * (11.25 + 12.0),  # 7.2675
        10 * (10.25 - 13.25) - 0.001 * 10 * (13.25 + 10.25),  # -30.235
    ]
    open_pnl = 10 * (15 - 14.25) - 0.001 * 10 * 14.25  # valued at the last close, 15
    final = 10000 + sum(pnl) + open_pnl

    out = tmp_path / "out"
    m = run_backtest(base, spec(hand_csv, out_dir=out)).metrics

    assert m["bars"] == len(CLOSES)
    assert m["trades"] == 3
    assert m["open_trades"] == 1
    assert m["final_equity"] == pytest.approx(final, abs=1e-9)  # 9954.175
    assert m["total_return"] == pytest.approx(final / 10000 - 1)
    assert m["commissions"] == pytest.approx(
        0.01 * (12.25 + 9.25 + 11.25 + 12.0 + 13.25 + 10.25 + 14.25)
    )
    assert m["win_rate"] == pytest.approx(1 / 3)
    assert m["average_trade"] == pytest.approx(sum(pnl) / 3)
    assert m["profit_factor"] == pytest.approx(pnl[1] / -(pnl[0] + pnl[2]))
    # holding after the fills of bars 5-7, 11-13, 17-19 and 24-25
    assert m["exposure"] == pytest.approx(11 / len(CLOSES))
    assert m["open_positions"] == [
        {
            "symbol": "AAA",
            "quantity": "10",
            "avg_price": "14.25",
            "market_price": "15",
            "unrealized_pnl": "7.50",
        }
    ]

    with (out / "trades.csv").open() as fh:
        trades = list(csv.DictReader(fh))
    assert [
        (t["status"], t["entry_ts"][:10], t["entry_price"], t["exit_ts"][:10], t["exit_price"])
        for t in trades
    ] == [
        ("closed", "2024-01-06", "12.25", "2024-01-09", "9.25"),
        ("closed", "2024-01-12", "11.25", "2024-01-15", "12"),
        ("closed", "2024-01-18", "13.25", "2024-01-21", "10.25"),
        ("open", "2024-01-25", "14.25", "2024-01-26", "15"),
    ]
    assert [float(t["pnl"]) for t in trades] == pytest.approx([*pnl, open_pnl])

    # the return metrics follow their documented definitions over the equity curve
    with (out / "equity.csv").open() as fh:
        equity = [float(r["equity"]) for r in csv.DictReader(fh)]
    assert equity[-1] == pytest.approx(final)
    prev = [10000.0, *equity[:-1]]
    returns = [e / p - 1 for e, p in zip(equity, prev, strict=True)]
    mean, std = statistics.mean(returns), statistics.stdev(returns)
    assert m["periods_per_year"] == 252
    assert m["sharpe"] == pytest.approx(mean / std * math.sqrt(252))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    assert m["sortino"] == pytest.approx(mean / downside * math.sqrt(252))
    assert m["annual_volatility"] == pytest.approx(std * math.sqrt(252))
    peaks = [max([10000.0, *equity[: i + 1]]) for i in range(len(equity))]
    assert m["max_drawdown"] == pytest.approx(
        max((p - e) / p for p, e in zip(peaks, equity, strict=True))
    )
    assert m["cagr"] == pytest.approx((final / 10000) ** (252 / len(CLOSES)) - 1)
    html = (out / "report.html").read_text()
    assert (
        "<svg" in html
        and "<polyline" in html
        and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    )
    assert json.loads((out / "metrics.json").read_text())["trades"] == 3


def test_same_numbers_twice(base, hand_csv):
    first = run_backtest(base, spec(hand_csv, record=False)).metrics
    second = run_backtest(base, spec(hand_csv, record=False)).metrics
    volatile = {"elapsed_s", "bars_per_second"}
    assert {k: v for k, v in first.items() if k not in volatile} == {
        k: v for k, v in second.items() if k not in volatile
    }


def test_order_on_last_bar_never_fills_and_dates_clip(base, hand_csv):
    """Cut the data right after the last buy signal (bar 23): its order has no next bar,
    so it stays unfilled; --from/--to bound the replay."""
    m = run_backtest(base, spec(hand_csv, end="2024-01-24", record=False)).metrics
    assert m["bars"] == 24
    assert m["end"].startswith("2024-01-24")
    assert (m["trades"], m["open_trades"], m["unfilled_orders_at_end"]) == (3, 0, 1)
    assert m["open_positions"] == []
    later = run_backtest(base, spec(hand_csv, start="2024-01-10", record=False)).metrics
    assert later["bars"] == len(CLOSES) - 9
    assert later["start"].startswith("2024-01-10")


def test_commission_is_a_fraction_of_notional(base, hand_csv):
    free = run_backtest(base, spec(hand_csv, commission=Decimal(0), record=False)).metrics
    paid = run_backtest(base, spec(hand_csv, commission=Decimal("0.01"), record=False)).metrics
    notional = 10 * (12.25 + 9.25 + 11.25 + 12.0 + 13.25 + 10.25 + 14.25)
    assert free["commissions"] == 0
    assert paid["commissions"] == pytest.approx(0.01 * notional)
    assert free["final_equity"] - paid["final_equity"] == pytest.approx(0.01 * notional)


def test_one_strategy_of_several_is_backtested_alone(config, hand_csv):
    from tradekernel.api import Settings

    text = config.read_text().replace(
        "[components]\n", '[components]\nstrategists = ["sma-cross", "hold"]\n'
    )
    config.write_text(text)
    several = Settings.load(config, environ={})
    assert several.components.strategists == ["sma-cross", "hold"]
    m = run_backtest(several, spec(hand_csv, record=False)).metrics
    assert m["trades"] == 3


def test_result_is_recorded_with_config_digest(base, hand_csv):
    m = run_backtest(base, spec(hand_csv)).metrics
    with Store.open(base.state_dir) as store:
        row = latest_backtest(store, "sma-cross", m["config_digest"])
    assert row is not None and row["metrics"]["trades"] == 3
    other = run_backtest(base, spec(hand_csv, params={"fast": 3, "slow": 5})).metrics
    assert other["config_digest"] != m["config_digest"]


def test_cli_json_has_no_progress_and_prints_metrics(cli, hand_csv, tmp_path):
    code, out, err = cli(
        "backtest",
        "--strategist",
        "sma-cross",
        "--data",
        str(hand_csv),
        "--cash",
        "10000",
        "--commission",
        "0.001",
        "--json",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    assert json.loads(out)["trades"] == 3
    assert "bars/s" not in err and "\r" not in err
    code, out, err = cli("backtest", "--strategist", "sma-cross", "--data", str(hand_csv))
    assert code == 0, err
    assert "Sharpe" in out and "\r" not in err  # not a terminal: no progress line
    shown = dict(re.findall(r"^  (final equity|average trade|commissions) +(\S+)$", out, re.M))
    assert len(shown) == 3 and all(re.fullmatch(r"-?\d+\.\d\d", v) for v in shown.values())


def test_progress_line_only_on_a_terminal():
    import io

    from tradekernel_backtest.progress import ProgressLine, wanted

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wanted(Tty(), as_json=False)
    assert not wanted(Tty(), as_json=True)
    assert not wanted(io.StringIO(), as_json=False)
    stream = Tty()
    line = ProgressLine(stream, every=0)
    line(500, 1000)
    assert "bars 500/1,000" in stream.getvalue() and "bars/s" in stream.getvalue()
    assert "ETA" in stream.getvalue()


def test_bad_param_names_the_option(cli, hand_csv):
    code, _, err = cli(
        "backtest", "--strategist", "sma-cross", "--data", str(hand_csv), "--param", "slow=1"
    )
    assert code == 2
    assert "slow" in err


def test_llm_strategist_needs_a_cassette_or_network(base, hand_csv, tmp_path):
    pytest.importorskip("tradekernel_llm")
    from tradekernel.api import RefusedError

    with pytest.raises(RefusedError, match="replay_dir"):
        run_backtest(base, BacktestSpec(strategist="llm", data=[str(hand_csv)], record=False))
    with pytest.raises(RefusedError, match="budget"):
        run_backtest(
            base,
            BacktestSpec(strategist="llm", data=[str(hand_csv)], record=False, allow_network=True),
        )
    # with a (here empty) cassette it runs offline: every miss is a hold, never a call
    cassette = tmp_path / "cassette"
    cassette.mkdir()
    m = run_backtest(
        base,
        BacktestSpec(
            strategist="llm",
            data=[str(hand_csv)],
            record=False,
            params={"replay_dir": str(cassette)},
        ),
    ).metrics
    assert m["llm_calls"] == len(CLOSES) and m["llm_provider_calls"] == 0
    assert m["trades"] == 0 and m["llm_fallback_rate"] == 1.0


DENYING = """
[kernel]
state_dir = "{state}"

[components]
guards = ["session_hours", "max_order_notional"]
metrics_sinks = []

[guard.max_order_notional]
limit = 100

[strategist.sma-cross]
fast = 2
slow = 3
"""


def test_guard_denials_by_code(config, cli, hand_csv, tmp_path):
    """Daily bars at 00:00 UTC are outside session_hours, and 10 shares at ~12 exceed a
    100 notional limit: every intent is blocked, each denial counted under its code in the
    metrics, --json, metrics.json, report.html and the text summary."""
    config.write_text(DENYING.format(state=tmp_path / "operator"))
    out = tmp_path / "o"
    args = ("backtest", "--strategist", "sma-cross", "--data", str(hand_csv), "--no-record")
    code, stdout, err = cli(*args, "--json", "--out", str(out))
    assert code == 0, err
    m = json.loads(stdout)
    intents = m["intents"]
    assert intents > 0
    assert m["intents_blocked"] == intents
    assert m["trades"] == 0 and m["fills"] == 0
    assert m["guard_denials"] == {"order_notional_exceeded": intents, "outside_session": intents}
    assert json.loads((out / "metrics.json").read_text())["guard_denials"] == m["guard_denials"]
    page = (out / "report.html").read_text()
    assert "Guard denials" in page and "outside_session" in page

    code, stdout, err = cli(*args)
    assert code == 0, err
    assert f"{intents} proposed, {intents} blocked by guards" in stdout
    assert f"order_notional_exceeded {intents}, outside_session {intents}" in stdout
    assert "session_hours" in stdout  # the hint for daily bars


def test_no_denials_when_guards_allow(base, hand_csv):
    m = run_backtest(base, spec(hand_csv)).metrics
    assert m["guard_denials"] == {}
    assert m["intents"] == 7 and m["intents_blocked"] == 0


def test_a_misspelt_guard_section_is_refused(config, cli, hand_csv, tmp_path):
    """The limit would silently stay at the guard's default: exit 2, did-you-mean."""
    config.write_text(config.read_text() + "[guard.max_order_notionl]\nlimit = 100\n")
    args = ("backtest", "--strategist", "sma-cross", "--data", str(hand_csv), "--no-record")
    code, stdout, err = cli(*args)
    assert code == 2 and stdout == ""
    assert err.startswith(
        "Error: plugins.toml: [guard.max_order_notionl]: no installed plugin registers guard "
        "'max_order_notionl' (did you mean 'max_order_notional'?)"
    )


def test_backtest_out_never_removes_the_agents_state(tmp_path, hand_csv, capsys):
    """``--out DIR`` whose DIR/state is the agent's [kernel] state_dir, or any state dir a
    backtest did not create, is refused (exit 3) and left as it was; the backtest's own
    (marked) state dir is replaced by the next run."""
    from tradekernel.testing import invoke

    out = tmp_path / "runs"
    live = out / "state"
    config = tmp_path / "live.toml"
    config.write_text(f'[kernel]\nstate_dir = "{live}"\n')
    with Store.open(live) as store:
        store.set_control("kill_switch", True, actor="op")

    def backtest(*extra):
        args = ["--config", str(config), "backtest", "--strategist", "sma-cross"]
        result = invoke([*args, "--data", str(hand_csv), "--json", *extra])
        return result.exit_code, result.stderr

    code, err = backtest("--out", str(out))
    assert code == 3 and str(live) in err and "[kernel] state_dir" in err
    with Store.open(live) as store:
        assert store.get_control("kill_switch") is True and store.verify_journal().ok
    other = tmp_path / "elsewhere"  # someone else's state, not the agent's: refused too
    with Store.open(other / "state"):
        pass
    code, err = backtest("--out", str(other))
    assert code == 3 and "not a state directory a backtest created" in err
    assert (other / "state" / "state.db").exists()
    mine = tmp_path / "mine"
    assert backtest("--out", str(mine))[0] == 0
    assert backtest("--out", str(mine))[0] == 0  # its own marked state: replaced


def test_backtest_out_with_a_symlinked_state_dir_is_refused(tmp_path, hand_csv, capsys):
    """``--out DIR`` whose DIR/state is a symbolic link (to a backtest's own, marked
    state dir): one line, exit 3, the link and its target left as they were."""
    from tradekernel.testing import invoke

    config = tmp_path / "live.toml"
    config.write_text(f'[kernel]\nstate_dir = "{tmp_path / "live"}"\n')
    args = ["--config", str(config), "backtest", "--strategist", "sma-cross", "--json"]

    def backtest(out):
        result = invoke([*args, "--data", str(hand_csv), "--out", str(out)])
        return result.exit_code, result.stderr

    first = tmp_path / "first"
    assert backtest(first)[0] == 0
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "state").symlink_to(first / "state")
    before = sorted(p.name for p in (first / "state").iterdir())
    code, err = backtest(linked)
    assert code == 3 and "is a symbolic link" in err and "unexpected" not in err
    assert len(err.strip().splitlines()) == 1
    assert (linked / "state").is_symlink()
    assert sorted(p.name for p in (first / "state").iterdir()) == before


def test_a_backtest_killed_while_emptying_its_state_leaves_it_replaceable(tmp_path, monkeypatch):
    """The marker is removed last (never), and made in one step: a backtest killed while
    it emptied or marked its state directory leaves one the next backtest may empty."""
    import shutil

    from tradekernel_backtest import BacktestSpec
    from tradekernel_backtest.runner import BACKTEST_MARKER, _fresh_state_dir

    state = tmp_path / "out" / "state"
    spec = BacktestSpec(strategist="sma-cross", data=[], state_dir=state, record=False)
    _fresh_state_dir(spec, tmp_path / "live")
    (state / "paper.db").write_text("x")
    (state / "sub").mkdir()
    (state / "sub" / "f").write_text("x")

    def killed(path, *a, **k):  # removes the files in ``path``, then the process dies
        for entry in Path(path).iterdir():
            if entry.is_file():
                entry.unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        _fresh_state_dir(spec, tmp_path / "live")
    monkeypatch.undo()
    assert (state / BACKTEST_MARKER).is_file()
    assert _fresh_state_dir(spec, tmp_path / "live") == (state, False)
    assert sorted(p.name for p in state.iterdir()) == [BACKTEST_MARKER]
