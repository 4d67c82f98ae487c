"""The kernel screens every bar and quote before a skill result is used: an impossible bar
from a real CSV replay file (or from any market data plugin) is a ``hydrate.data_quality``
event naming its code and file:line, no intent is made from it, and the paper broker
never fills on it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel import hookimpl
from tradekernel.models import Bar, Decision, Quote, SkillResult
from tradekernel.quality import CODES, FUTURE_TOLERANCE, DataQuality, bar_problem
from tradekernel.runtime import Runtime

from .conftest import Scripted, buy

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
GOOD = [
    "2025-01-02,110,111,109,110,110,1000",
    "2025-01-03,110,111,109,110.5,110.5,1000",
    "2025-01-06,110.5,112,110,111,111,1000",
]
AFTER = "2025-01-08,111,112,110,111.5,111.5,1000"

REPLAY = """
[kernel]
state_dir = "{{state_dir}}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "replay"
strategist = "scripted"
guards = []
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAA"]
node_backoff = "0s"
skill_timeout = "0s"
{runtime}

[market_data.replay]
paths = ["{path}"]
resume = false
"""


class Watching(Scripted):
    """A scripted strategist that also keeps what it was shown each cycle."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def decide(self, inputs: Any) -> Decision:
        self.seen.append(inputs)
        return super().decide(inputs)


def _replay(make_kernel_factory, tmp_path: Path, rows: list[str], runtime: str = ""):
    path = tmp_path / "AAA.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    strategist = Watching()
    strategist.script = [buy("AAA", 5) for _ in range(len(rows))]
    config = REPLAY.format(path=path, runtime=runtime)
    kernel, rec = make_kernel_factory.build(config, plugins=((strategist, "scripted"),))
    return path, kernel, rec, strategist


def _buy_every_cycle(strategist: Watching, n: int) -> None:
    strategist.script = [
        (lambda i: buy("AAA", 5)(i) if i.candidates else Decision.hold("nothing")) for _ in range(n)
    ]


BAD_BARS = [
    pytest.param("2025-01-07,0,0,0,0,0,0", "non_positive_price", id="zeros"),
    pytest.param("2025-01-07,1000000,111,109,110,110,1000", "inconsistent_ohlc", id="open>high"),
    pytest.param("2025-01-07,1E+400,1E+400,109,110,110,1000", "price_out_of_range", id="1e400"),
    pytest.param("2025-01-07,0.01,111,109,110,110,1000", "inconsistent_ohlc", id="open<low"),
    pytest.param("2025-01-07,110,111,109,99999,99999,1000", "inconsistent_ohlc", id="close>high"),
    pytest.param("2025-01-07,300,310,295,300,300,1000", "price_outlier", id="outlier-up"),
    pytest.param("2025-01-07,1.11,1.12,1.10,1.11,1.11,1000", "price_outlier", id="outlier-cents"),
]


@pytest.mark.parametrize(("row", "code"), BAD_BARS)
def test_an_impossible_bar_after_a_buy_is_rejected_and_never_filled(
    kernel_factory, tmp_path, row, code
):
    path, kernel, rec, strategist = _replay(kernel_factory, tmp_path, [*GOOD, row, AFTER])
    _buy_every_cycle(strategist, 10)
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(5)]
        broker = kernel.component("broker")
        fills = broker.fills()
        account = broker.account()
    bad = states[3]
    events = rec.of("hydrate", "data_quality")
    assert {e.cycle_id for e in events} == {bad.cycle_id}
    (event,) = [e for e in events if e.fields["item"] == "bar"]  # (and maybe its quote)
    assert event.fields["code"] == code and event.fields["symbol"] == "AAA"
    assert {e.fields["origin"] for e in events} == {f"{path}:5"}  # header is line 1
    assert event.fields["bar_ts"] == "2025-01-07T00:00:00+00:00"
    assert event.severity == "warning"
    # Nothing was made from the bad bar: the strategist saw no AAA quote or candidate.
    assert not bad.intents and not bad.candidates
    assert bad.decision.hold_reason == "no_candidates"
    assert [i.as_of.day for i in strategist.seen] == [2, 3, 6, 8]  # never asked on the 7th
    assert "AAA" not in bad.quotes and "AAA" not in bad.bars
    # The buy submitted on the bar before was not filled on the bad bar but on the next.
    assert fills, "the buys fill on good bars"
    assert all(Decimal(109) <= f.price <= Decimal(112) for f in fills)
    assert all(f.ts != datetime(2025, 1, 7, tzinfo=UTC) for f in fills)
    assert account.cash > 0 and account.equity > Decimal(90000)
    # The next good bar trades again, and the bad bar is not in the strategist's history.
    last = states[4]
    assert last.candidates == ["AAA"]
    assert [b.ts.day for b in last.bars["AAA"]] == [2, 3, 6, 8]


def test_a_required_skill_that_falls_back_on_bad_data_is_an_incident(kernel_factory, tmp_path):
    _, kernel, rec, strategist = _replay(
        kernel_factory, tmp_path, [*GOOD, "2025-01-07,0,0,0,0,0,0", AFTER]
    )
    _buy_every_cycle(strategist, 10)
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(4)]
    quote = states[3].skill_results["market.quote"]
    assert not quote.ok and quote.error == "data_quality"
    assert "non_positive_price" in quote.fallback_reason
    incidents = rec.of("resilience", "incident")
    assert [e.fields["reason"] for e in incidents] == ["required skill market.quote fell back"]


def test_the_price_band_is_configurable(kernel_factory, tmp_path):
    _, kernel, rec, strategist = _replay(
        kernel_factory,
        tmp_path,
        [*GOOD, "2025-01-07,300,310,295,300,300,1000"],
        runtime="max_price_move = 0",
    )
    _buy_every_cycle(strategist, 10)
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(4)]
    assert rec.of("hydrate", "data_quality") == []
    assert states[3].candidates == ["AAA"]


# -- any market data plugin -----------------------------------------------------------

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


class HandFeed:
    """A market data plugin over hand-written steps: ``steps[i] = (ts, o, h, l, c, v)``."""

    def __init__(self, steps: list[tuple]) -> None:
        self.steps = steps
        self.index = -1
        self.history: list[Bar] = []

    @hookimpl
    def register_market_data(self, register) -> None:
        register("hand", lambda config, ctx: self)

    def symbols(self) -> list[str]:
        return ["AAA"]

    def now(self) -> datetime | None:
        return self.history[-1].ts if self.history else None

    def advance(self) -> datetime | None:
        if self.index + 1 >= len(self.steps):
            return None
        self.index += 1
        ts, o, h, lo, c, v = self.steps[self.index]
        self.history.append(Bar(symbol="AAA", ts=ts, open=o, high=h, low=lo, close=c, volume=v))
        return ts

    def quote(self, symbol: str) -> Quote | None:
        if not self.history:
            return None
        bar = self.history[-1]
        return Quote(symbol=symbol, ts=bar.ts, last=bar.close, volume=bar.volume)

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        return self.history[-limit:]

    def current_bar(self, symbol: str) -> Bar | None:
        return self.history[-1] if self.history else None


HAND = """
[kernel]
state_dir = "{state_dir}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "hand"
strategist = "scripted"
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAA"]
node_backoff = "0s"
skill_timeout = "0s"
"""


@pytest.mark.parametrize(
    ("second", "code"),
    [
        pytest.param(T0, "non_increasing_time", id="same-time"),
        pytest.param(T0 - timedelta(days=1), "non_increasing_time", id="backwards"),
        pytest.param(T0 + timedelta(days=1), None, id="increasing"),
    ],
)
def test_timestamps_must_increase_per_symbol_for_any_market_data_plugin(
    kernel_factory, second, code
):
    feed = HandFeed([(T0, 100, 101, 99, 100, 10), (second, 100, 101, 99, 100.5, 10)])
    strategist = Scripted()
    strategist.script = [Decision.hold("first"), buy("AAA", 1)]
    kernel, rec = kernel_factory.build(
        HAND, plugins=((feed, "hand-feed"), (strategist, "scripted"))
    )
    with Runtime(kernel) as runtime:
        runtime.run_cycle()
        state = runtime.run_cycle()
    codes = [e.fields["code"] for e in rec.of("hydrate", "data_quality")]
    if code is None:
        assert codes == [] and len(state.intents) == 1
    else:
        assert code in codes and state.intents == [] and "AAA" not in state.quotes
        assert {e.fields.get("origin") for e in rec.of("hydrate", "data_quality")} == {None}


# -- quotes -----------------------------------------------------------------------------


def _quote(day: int, last: str, **kw: Any) -> Quote:
    return Quote(symbol="AAA", ts=T0 + timedelta(days=day), last=last, **kw)


@pytest.mark.parametrize(
    ("second", "code"),
    [
        (_quote(1, "NaN"), "non_finite_price"),
        (_quote(1, "0"), "non_positive_price"),
        (_quote(1, "1E+13"), "price_out_of_range"),
        (_quote(1, "100", bid="101", ask="100.5"), "crossed_quote"),
        (_quote(1, "100", volume="-1"), "bad_volume"),
        (_quote(-1, "100"), "non_increasing_time"),
        (_quote(1, "250"), "price_outlier"),
        (_quote(1, "0.9"), "price_outlier"),
        (_quote(0, "100"), None),  # the same quote again
        (_quote(1, "150", bid="149.9", ask="150.1", volume="5"), None),
    ],
)
def test_quotes_are_screened(second, code):
    screen = DataQuality(1.0)
    assert screen.check_quote(_quote(0, "100")) is None
    problem = screen.check_quote(second)
    assert (problem[0] if problem else None) == code
    result = {"market.quote": SkillResult(name="market.quote", ok=True, data={"AAA": second})}
    out, _ = DataQuality(1.0).screen(result)  # on its own, only the first rules apply
    if code in ("non_finite_price", "non_positive_price", "price_out_of_range", "crossed_quote"):
        assert out["market.quote"].ok is False
        assert out["market.quote"].fallback_reason == f"market data rejected: {code}"


# -- the screen itself, fuzzed --------------------------------------------------------

_price = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0", "-1", "1E+400", "1E-400", "100", "99", "101"]).map(Decimal),
)


def _within(bar: Bar, reference: Decimal | None) -> bool:
    return reference is None or (
        bar.high <= reference * Decimal("1.5") and bar.low * Decimal("1.5") >= reference
    )


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(-2, 3), _price, _price, _price, _price, _price),
        min_size=1,
        max_size=8,
    )
)
def test_fuzzed_bars_only_pass_when_sane(rows):
    """Any sequence of bars through the screen: what passes is finite, positive, ordered
    and in time order, and within the band of the last accepted or previous sane close;
    whatever fails quarantines the symbol in every result; nothing raises."""
    screen = DataQuality(0.5)
    served: list[Bar] = []
    accepted: Bar | None = None
    previous_sane: Bar | None = None
    for step, o, h, lo, c, v in rows:
        ts = (served[-1].ts if served else T0) + timedelta(days=step)
        bar = Bar(symbol="AAA", ts=ts, open=o, high=h, low=lo, close=c, volume=v)
        served.append(bar)
        results = {
            "market.bars": SkillResult(name="market.bars", ok=True, data={"AAA": list(served)}),
            "market.quote": SkillResult(
                name="market.quote", ok=True, data={"AAA": Quote(symbol="AAA", ts=ts, last=c)}
            ),
        }
        out, rejections = screen.screen(results)
        assert all(r.code in CODES and r.symbol == "AAA" for r in rejections)
        if rejections:  # quarantined: nothing to trade on
            assert not out["market.quote"].ok and not out["market.bars"].ok
            if bar_problem(bar) is None and (accepted is None or bar.ts > accepted.ts):
                previous_sane = bar
            continue
        assert bar_problem(bar) is None
        assert accepted is None or bar.ts > accepted.ts
        assert _within(bar, accepted.close if accepted else None) or _within(
            bar, previous_sane.close if previous_sane else None
        )
        kept = out["market.bars"].data["AAA"]
        assert kept[-1] is bar and all(bar_problem(b) is None for b in kept)
        accepted = previous_sane = bar


# -- the CLI, as the probe ran it ---------------------------------------------------------


def test_run_on_a_1e400_bar_after_a_buy_neither_fills_nor_crashes(tmp_path):
    """Today: filled at 1.0001E+400, equity -1E+401, then "unexpected InvalidOperation"."""
    data = tmp_path / "AAA.csv"
    data.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2025-01-02,100,101,99,100,1000\n"
        "2025-01-03,100,101,99,99,1000\n"
        "2025-01-06,99,103,99,102,1000\n"  # sma-cross(1, 2) buys here
        "2025-01-07,1E+400,1E+400,109,110,1000\n"
        "2025-01-08,110,111,109,110,1000\n"
        "2025-01-09,110,111,109,110,1000\n",
        encoding="utf-8",
    )
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\napproval_mode = "auto"\n'
        '[components]\nmarket_data = "replay"\nstrategist = "sma-cross"\n'
        'metrics_sinks = ["jsonl"]\nnotifiers = []\n'
        '[runtime]\nwatchlist = ["AAA"]\n'
        "[strategist.sma-cross]\nfast = 1\nslow = 2\n"
        f'[market_data.replay]\npaths = ["{data}"]\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), "run", "--cycles", "6"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "unexpected" not in done.stdout + done.stderr
    assert "E+4" not in done.stdout  # no equity of -1E+401
    events = [
        json.loads(line)
        for f in (tmp_path / "state" / "events").glob("*")
        for line in f.read_text().splitlines()
    ]
    rejected = [e["fields"] for e in events if e["kind"] == "data_quality"]
    assert {(r["code"], r["origin"]) for r in rejected} == {("price_out_of_range", f"{data}:5")}
    fills = [e["fields"] for e in events if (e["stage"], e["kind"]) == ("monitor", "fill")]
    assert [(f["price"], f["quantity"]) for f in fills] == [("110", "10")]  # the next good open


# -- history the feed rewrites, and lists out of order ----------------------------------


def _bar(day: int, close: str, **kw: Any) -> Bar:
    price = Decimal(close)
    fields = dict(open=price, high=price + 1, low=max(price - 1, Decimal(0)), close=price)
    fields.update(kw)
    return Bar(symbol="AAA", ts=T0 + timedelta(days=day), volume=Decimal(1), **fields)


def _bars_result(bars: list[Bar]) -> dict[str, SkillResult]:
    return {"market.bars": SkillResult(name="market.bars", ok=True, data={"AAA": bars})}


@pytest.mark.parametrize(
    ("revised", "code"),
    [
        pytest.param(_bar(2, "0"), "non_positive_price", id="close-0"),
        pytest.param(_bar(2, "100", open=Decimal("1E+400")), "price_out_of_range", id="1e400"),
        pytest.param(_bar(2, "100", high=Decimal(50)), "inconsistent_ohlc", id="high<close"),
        pytest.param(_bar(9, "100"), "non_increasing_time", id="moved-forward"),
    ],
)
def test_a_revised_older_bar_is_screened_every_cycle(revised, code):
    """A feed that corrects history (the newest bar unchanged) cannot slip an impossible
    bar to the strategist: the symbol is quarantined and the bar stays out of the list."""
    screen = DataQuality(1.0)
    bars = [_bar(i, "100") for i in range(5)]
    assert screen.screen(_bars_result(bars))[1] == []
    rewritten = [*bars[:2], revised, *bars[3:]]
    out, rejections = screen.screen(_bars_result(rewritten))
    assert [r.code for r in rejections] == [code] and not out["market.bars"].ok
    out, rejections = screen.screen(_bars_result(rewritten))  # reported once, then dropped
    assert rejections == [] and revised not in out["market.bars"].data["AAA"]


def test_a_sane_revision_passes_and_an_unchanged_list_costs_no_rejection():
    screen = DataQuality(1.0)
    bars = [_bar(i, "100") for i in range(5)]
    screen.screen(_bars_result(bars))
    revised = [*bars[:2], _bar(2, "101"), *bars[3:]]
    out, rejections = screen.screen(_bars_result(revised))
    assert rejections == [] and out["market.bars"].data["AAA"] == revised
    copies = [attrs.evolve(b) for b in revised]  # equal bars, new objects
    assert screen.screen(_bars_result(copies))[1] == []


def test_a_new_impossible_bar_that_is_not_last_is_rejected():
    screen = DataQuality(1.0)
    bars = [_bar(i, "100") for i in range(3)]
    screen.screen(_bars_result(bars))
    unsorted = [bars[0], bars[1], _bar(3, "0"), bars[2]]
    out, rejections = screen.screen(_bars_result(unsorted))
    assert [r.code for r in rejections] == ["non_positive_price"] and not out["market.bars"].ok


def test_a_list_out_of_time_order_is_quarantined():
    screen = DataQuality(1.0)
    bars = [_bar(i, "100") for i in range(3)]
    screen.screen(_bars_result(bars))
    swapped = [bars[0], bars[2], bars[1], _bar(3, "100")]
    out, rejections = screen.screen(_bars_result(swapped))
    assert [r.code for r in rejections] == ["non_increasing_time"] and not out["market.bars"].ok


class RevisingFeed(HandFeed):
    """A hand feed that replaces its second bar with a bar of zeros after three steps."""

    def advance(self) -> datetime | None:
        ts = super().advance()
        if self.index == 3:
            self.history[1] = attrs.evolve(
                self.history[1], open=Decimal(0), high=Decimal(0), low=Decimal(0), close=Decimal(0)
            )
        return ts


def test_a_feed_rewriting_history_makes_no_intent(kernel_factory):
    steps = [(T0 + timedelta(days=i), 100, 101, 99, 100, 10) for i in range(5)]
    feed = RevisingFeed(steps)
    strategist = Watching()
    strategist.script = [buy("AAA", 1) for _ in steps]
    kernel, rec = kernel_factory.build(
        HAND, plugins=((feed, "hand-feed"), (strategist, "scripted"))
    )
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in steps]
    events = rec.of("hydrate", "data_quality")
    assert [e.fields["code"] for e in events] == ["non_positive_price"]
    assert states[3].intents == [] and len(states[4].intents) == 1
    assert strategist.seen and all(
        bar_problem(b) is None for inputs in strategist.seen for b in inputs.bars.get("AAA", [])
    )


# -- a replay file that breaks, through the CLI -----------------------------------------

BROKEN_ROWS = [
    "2025-01-02,100,101,99,100,1000",
    "2025-01-03,100,101,99,99,1000",
    "2025-01-06,99,103,99,102,1000",
    "2025-01-07,100,101,99,100,1000",
]


def _cli(tmp_path: Path, rows: list[str], *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    data = tmp_path / "AAA.csv"
    data.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n", "utf-8")
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\napproval_mode = "auto"\n'
        '[components]\nmarket_data = "replay"\nstrategist = "sma-cross"\n'
        'metrics_sinks = ["jsonl"]\nnotifiers = []\n'
        '[runtime]\nwatchlist = ["AAA"]\n'
        "[strategist.sma-cross]\nfast = 1\nslow = 2\n"
        f'[market_data.replay]\npaths = ["{data}"]\nresume = false\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    return done, data


def test_run_on_an_unreadable_row_fails_naming_the_line_not_data_exhausted(tmp_path):
    """Before: the run stopped at the bad row as "data exhausted", exit 0."""
    rows = [*BROKEN_ROWS[:3], "2025-01-07,abc,101,99,100,1000", BROKEN_ROWS[3]]
    done, data = _cli(tmp_path, rows, "run", "--every", "0.001s")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{data}:5: Open: expected a number, got 'abc'" in done.stderr
    assert "data exhausted" not in done.stdout and "market data failed" in done.stdout
    assert "unexpected" not in done.stderr


def test_a_backtest_on_an_unreadable_row_fails_and_records_nothing(tmp_path):
    """Before: exit 0, "stopped": "data exhausted", and the result recorded for promotion."""
    rows = [*BROKEN_ROWS[:3], "2025-01-07,abc,101,99,100,1000", BROKEN_ROWS[3]]
    args = ("backtest", "--strategist", "sma-cross", "--data", "AAA.csv", "--json")
    done, _ = _cli(tmp_path, rows, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "AAA.csv:5: Open" in done.stderr and "record_id" not in done.stdout
    state = tmp_path / "state" / "state.db"
    if state.exists():
        import sqlite3

        with sqlite3.connect(state) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master")}
            assert "backtests" not in tables or not db.execute("select * from backtests").fetchall()


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ("2025-01-07,NaN,101,99,100,1000", "non_finite_price"),
        ("2025-01-07,100,101,99,-100,1000", "non_positive_price"),
        ("2025-01-07,100,99,101,100,1000", "inconsistent_ohlc"),
        ("2025-01-07,100,101,99,100,-5", "bad_volume"),
    ],
)
def test_an_impossible_number_in_a_replay_file_is_quarantined_not_the_end(tmp_path, row, code):
    """Before: the run ended at that row ("data exhausted"); now the kernel quarantines the
    bar, names its file:line, and the run goes on to the end of the file."""
    done, data = _cli(
        tmp_path, [*BROKEN_ROWS[:3], row, "2025-01-08,100,101,99,100,1000"], "run", "--cycles", "9"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    events = [
        json.loads(line)
        for f in (tmp_path / "state" / "events").glob("*")
        for line in f.read_text().splitlines()
    ]
    rejected = [e["fields"] for e in events if e["kind"] == "data_quality"]
    assert {(r["code"], r["origin"]) for r in rejected} == {(code, f"{data}:5")}
    assert "cycles            5" in done.stdout and "data exhausted" in done.stdout


def _forming(close: str, **kw: Any) -> dict[str, SkillResult]:
    """A live feed's window whose newest bar (day 4) is still forming, and its quote."""
    bars = [_bar(i, "100") for i in range(4)] + [_bar(4, close, **kw)]
    price = Decimal(close)
    quote = Quote(symbol="AAA", ts=bars[-1].ts, last=price, bid=price, ask=price)
    return {
        **_bars_result(bars),
        "market.quote": SkillResult(name="market.quote", ok=True, data={"AAA": quote}),
    }


def test_a_bar_still_forming_is_a_revision_not_a_time_error():
    """Same time, new values each cycle: every version is accepted and reaches the
    strategist, with its quote."""
    screen = DataQuality(0.5)
    for close in ("100", "100.5", "101", "101.2"):
        results = _forming(close)
        out, rejections = screen.screen(results)
        assert rejections == [], close
        assert out["market.bars"].data["AAA"][-1].close == Decimal(close)
        assert out["market.quote"].ok and out["market.quote"].data["AAA"].last == Decimal(close)


@pytest.mark.parametrize(
    ("close", "kw", "code"),
    [
        pytest.param("0", {}, "non_positive_price", id="zero"),
        pytest.param("100", {"high": Decimal(50)}, "inconsistent_ohlc", id="high<close"),
        pytest.param("1000", {}, "price_outlier", id="spike"),
    ],
)
def test_an_impossible_revision_of_the_newest_bar_is_rejected(close, kw, code):
    """A revision is judged like a new bar against the close accepted before it; once
    rejected it stays out (with its quote) until a sane version replaces it."""
    screen = DataQuality(0.5)
    screen.screen(_forming("100"))
    out, rejections = screen.screen(_forming(close, **kw))
    assert [r.code for r in rejections if r.item == "bar"] == [code]
    assert not out["market.bars"].ok and not out["market.quote"].ok
    out, _ = screen.screen(_forming("100.5"))  # the bar goes on forming, sanely
    assert out["market.bars"].data["AAA"][-1].close == Decimal("100.5")
    assert out["market.quote"].ok


# -- stale quotes ---------------------------------------------------------------------


class FrozenQuoteFeed(HandFeed):
    """A live-like feed: its clock moves a minute a step while the venue's quote stays
    at the first step's time (a halted symbol, a feed that stopped updating)."""

    def advance(self) -> datetime | None:
        self.index += 1
        return T0 + timedelta(minutes=self.index)

    def now(self) -> datetime | None:
        return T0 + timedelta(minutes=self.index) if self.index >= 0 else None

    def quote(self, symbol: str) -> Quote | None:
        return Quote(symbol=symbol, ts=T0, last=100) if symbol == "AAA" else None

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        return []


@pytest.mark.parametrize(("age", "stale_from"), [("90s", 2), ("0s", None)])
def test_a_quote_older_than_max_quote_age_is_stale_never_traded(kernel_factory, age, stale_from):
    feed = FrozenQuoteFeed([])
    strategist = Scripted()
    strategist.script = [buy("AAA", 1) for _ in range(4)]
    kernel, rec = kernel_factory.build(
        HAND + f'max_quote_age = "{age}"\n',
        plugins=((feed, "hand-feed"), (strategist, "scripted")),
    )
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(4)]
    events = rec.of("hydrate", "data_quality")
    traded = [i for i, state in enumerate(states) if state.intents]
    if stale_from is None:
        assert events == [] and traded == [0, 1, 2, 3]
        return
    assert traded == list(range(stale_from))  # 0s and 60s old: fresh; 120s, 180s: stale
    assert [e.fields["code"] for e in events] == ["stale_quote"] * (4 - stale_from)
    assert "120s old" in events[0].fields["detail"]
    assert "max_quote_age" in events[0].fields["detail"]
    assert all("AAA" not in s.quotes for s in states[stale_from:])
    market = states[-1].skill_results["market.quote"]
    assert not market.ok and market.fallback_reason == "market data rejected: stale_quote"


def test_staleness_is_judged_against_the_cycle_time_not_the_wall_clock():
    screen = DataQuality(1.0, max_quote_age=60)
    quote = _quote(0, "100")
    assert screen.check_quote(quote) is None  # no market time: nothing to judge against
    assert screen.check_quote(quote, T0 + timedelta(seconds=60)) is None
    ahead = screen.check_quote(quote, T0 - timedelta(days=1))  # a quote "ahead": never fresh
    assert ahead is not None and ahead[0] == "future_time"
    problem = screen.check_quote(quote, T0 + timedelta(seconds=61))  # the same quote, later
    assert problem is not None and problem[0] == "stale_quote"
    assert DataQuality(1.0).check_quote(quote, T0 + timedelta(days=9)) is None  # off
    assert "stale_quote" in CODES


# -- times after the market time -------------------------------------------------------


def test_a_quote_stamped_after_the_market_time_is_rejected_and_anchors_nothing():
    """A venue or clock-skewed quote dated ahead would look fresh for that long, and as
    the newest quote seen would make every real one after it ``non_increasing_time``."""
    screen = DataQuality(1.0, max_quote_age=900)
    now = T0 + timedelta(days=1)
    assert screen.check_quote(_quote(0, "100"), T0) is None
    problem = screen.check_quote(_quote(2, "100.5"), now)  # a day ahead of the market time
    assert problem is not None and problem[0] == "future_time"
    assert "86400s after the market time" in problem[1]
    assert screen.check_quote(_quote(2, "100.5"), now) == problem  # again: still rejected
    assert "future_time" in CODES
    real = Quote(symbol="AAA", ts=now + timedelta(minutes=1), last="100.6")
    assert screen.check_quote(real, now + timedelta(minutes=1)) is None
    skewed = Quote(symbol="AAA", ts=now + timedelta(minutes=2) + FUTURE_TOLERANCE, last="100.6")
    assert screen.check_quote(skewed, now + timedelta(minutes=2)) is None  # within tolerance
    assert DataQuality(1.0).check_quote(_quote(9, "100"), T0)[0] == "future_time"  # age off


def test_a_bar_stamped_after_the_market_time_is_rejected_and_the_next_real_one_accepted():
    screen = DataQuality(1.0)
    bars = [_bar(0, "100"), _bar(1, "100.5")]
    assert screen.screen(_bars_result(bars), T0 + timedelta(days=1))[1] == []
    ahead = [*bars, _bar(30, "101")]
    out, rejections = screen.screen(_bars_result(ahead), T0 + timedelta(days=2))
    assert [(r.code, r.item, r.ts) for r in rejections] == [
        ("future_time", "bar", T0 + timedelta(days=30))
    ]
    assert not out["market.bars"].ok
    real = [*bars, _bar(2, "101")]
    out, rejections = screen.screen(_bars_result(real), T0 + timedelta(days=2))
    assert rejections == [] and out["market.bars"].data["AAA"] == real


class AheadQuoteFeed(FrozenQuoteFeed):
    """A live-like feed whose quote of the second step is dated a day ahead."""

    def quote(self, symbol: str) -> Quote | None:
        ts = T0 + timedelta(minutes=self.index, days=1 if self.index == 1 else 0)
        return Quote(symbol=symbol, ts=ts, last=100) if symbol == "AAA" else None


def test_one_quote_stamped_ahead_costs_its_cycle_only(kernel_factory):
    feed = AheadQuoteFeed([])
    strategist = Scripted()
    strategist.script = [buy("AAA", 1) for _ in range(4)]
    kernel, rec = kernel_factory.build(
        HAND + 'max_quote_age = "15m"\n',
        plugins=((feed, "hand-feed"), (strategist, "scripted")),
    )
    with Runtime(kernel) as runtime:
        states = [runtime.run_cycle() for _ in range(4)]
    assert [bool(s.intents) for s in states] == [True, False, True, True]
    assert [e.fields["code"] for e in rec.of("hydrate", "data_quality")] == ["future_time"]
