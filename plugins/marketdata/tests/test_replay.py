from __future__ import annotations

import filecmp
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from tradekernel.api import ConfigError
from tradekernel_marketdata import ReplayConfig, ReplayFeed
from tradekernel_marketdata.csvbars import CsvDataError
from tradekernel_marketdata.sample import SAMPLE_DIR, SAMPLE_ROWS, write_sample

ROWS_A = [
    "2024-01-02,10,11,9,10.5,10.5,1000",
    "2024-01-03,10.5,12,10,11.5,11.5,1100",
    "2024-01-04,11.5,12,11,11.8,11.8,1200",
]
ROWS_B = [
    "2024-01-03,20,21,19,20.5,20.5,2000",
    "2024-01-05,20.5,22,20,21.5,21.5,2100",
]


def drain(feed) -> list[datetime]:
    out = []
    while (ts := feed.advance()) is not None:
        out.append(ts)
    return out


def _d(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def test_per_symbol_files_merge_by_timestamp(write_csv, tmp_path):
    write_csv("data/aaa.csv", ROWS_A)
    write_csv("data/bbb.csv", ROWS_B)
    feed = ReplayFeed(ReplayConfig(paths=[str(tmp_path / "data")]))
    assert sorted(feed.symbols()) == ["AAA", "BBB"]
    assert feed.advance() == _d(2)
    assert feed.current_bar("AAA").close == Decimal("10.5")
    assert feed.current_bar("BBB") is None and feed.quote("BBB") is None
    assert feed.advance() == _d(3)
    assert feed.current_bar("BBB").open == Decimal(20)
    assert feed.advance() == _d(4)
    assert feed.current_bar("BBB") is None  # no bar today ...
    assert feed.quote("BBB").last == Decimal("20.5")  # ... but the last quote stands
    assert feed.quote("BBB").ts == _d(3)
    assert feed.advance() == _d(5)
    assert feed.advance() is None
    bars = feed.bars("AAA", 10)
    assert [b.ts for b in bars] == [_d(2), _d(3), _d(4)]
    assert bars[0].volume == Decimal(1000)
    assert bars[1].high == Decimal(12)


def test_symbol_map_names_files(write_csv):
    path = write_csv("acme_daily.csv", ROWS_A)
    feed = ReplayFeed(ReplayConfig(paths=[str(path)], symbol_map={"acme_daily": "acme"}))
    assert feed.symbols() == ["ACME"]


@pytest.mark.parametrize("grouped", [False, True])
def test_symbol_column_file(write_csv, grouped):
    rows = [
        "2024-01-02,AAA,10,11,9,10.5,1000",
        "2024-01-02,BBB,20,21,19,20.5,2000",
        "2024-01-03,AAA,10.5,12,10,11.5,1100",
        "2024-01-03,BBB,20.5,22,20,21.5,2100",
    ]
    if grouped:  # all AAA rows first, then all BBB rows
        rows = [rows[0], rows[2], rows[1], rows[3]]
    path = write_csv("all.csv", rows, header="Date,Symbol,Open,High,Low,Close,Volume")
    feed = ReplayFeed(ReplayConfig(paths=[str(path)]))
    assert feed.symbols() == ["AAA", "BBB"]
    assert drain(feed) == [_d(2), _d(3)]
    assert [b.close for b in feed.bars("AAA", 5)] == [Decimal("10.5"), Decimal("11.5")]
    assert [b.close for b in feed.bars("BBB", 5)] == [Decimal("20.5"), Decimal("21.5")]


def test_symbols_filter(write_csv):
    path = write_csv(
        "all.csv",
        ["2024-01-02,AAA,1,1,1,1,1", "2024-01-02,BBB,2,2,2,2,2"],
        header="Date,Symbol,Open,High,Low,Close,Volume",
    )
    feed = ReplayFeed(ReplayConfig(paths=[str(path)], symbols=["BBB"]))
    assert feed.symbols() == ["BBB"]
    drain(feed)
    assert feed.bars("AAA", 5) == []
    with pytest.raises(ConfigError, match="CCC not found"):
        ReplayFeed(ReplayConfig(paths=[str(path)], symbols=["CCC"]))


def test_start_and_end_filter_inclusively(write_csv):
    path = write_csv("aaa.csv", ROWS_A)
    feed = ReplayFeed(ReplayConfig(paths=[str(path)], start="2024-01-03", end="2024-01-03"))
    assert drain(feed) == [_d(3)]
    feed = ReplayFeed(ReplayConfig(paths=[str(path)], start=date(2024, 1, 3)))
    assert drain(feed) == [_d(3), _d(4)]
    feed = ReplayFeed(ReplayConfig(paths=[str(path)], end="2024-01-03T00:00:00+00:00"))
    assert drain(feed) == [_d(2), _d(3)]
    with pytest.raises(ConfigError, match="before start"):
        ReplayFeed(ReplayConfig(paths=[str(path)], start="2024-01-04", end="2024-01-02"))
    with pytest.raises(ValueError, match="expected a date"):
        ReplayConfig(start="yesterday")


def test_times_and_offsets_become_utc(write_csv):
    path = write_csv(
        "aaa.csv",
        ["2024-01-02 09:30:00-05:00,1,1,1,1,1,1", "2024-01-02T15:00:00,1,1,1,1,1,1"],
    )
    feed = ReplayFeed(ReplayConfig(paths=[str(path)]))
    assert drain(feed) == [
        datetime(2024, 1, 2, 14, 30, tzinfo=UTC),
        datetime(2024, 1, 2, 15, 0, tzinfo=UTC),
    ]


def test_null_rows_are_skipped_and_volume_is_optional(write_csv):
    path = write_csv(
        "aaa.csv",
        ["2024-01-02,1,2,1,2", "2024-01-03,null,null,null,null", "", "2024-01-04,2,3,2,3"],
        header="date,open,high,low,close",
    )
    feed = ReplayFeed(ReplayConfig(paths=[str(path)]))
    assert drain(feed) == [_d(2), _d(4)]
    assert feed.current_bar("AAA").volume == 0


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        (
            ["2024-01-02,1,1,1,1,1,1", "2024-01-03,abc,1,1,1,1,1"],
            3,
            "Open: expected a number, got 'abc'",
        ),
        (["2024-01-02,1,1,1,1,1,1", "02/01/2024,1,1,1,1,1,1"], 3, "Date: expected an ISO date"),
        (["2024-01-03,1,1,1,1,1,1", "2024-01-02,1,1,1,1,1,1"], 3, "not after the previous row"),
        (["2024-01-02,1,1,1,1,1,1", "2024-01-02,1,1,1,1,1,1"], 3, "not after the previous row"),
        (["2024-01-02,1,1,1,0x10,1,1"], 2, "Close: expected a number, got '0x10'"),
        (["2024-01-02,1,1,1"], 2, "expected at least 7 fields"),
    ],
)
def test_bad_rows_name_file_and_line(write_csv, rows, line, message):
    path = write_csv("aaa.csv", rows)
    feed = ReplayFeed(ReplayConfig(paths=[str(path)]))
    with pytest.raises(CsvDataError, match=message) as info:
        drain(feed)
    assert f"{path}:{line}:" in str(info.value)
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("row", "field", "value"),
    [
        ("2024-01-03,1,1,2,1,1,1", "low", Decimal(2)),  # Low above High
        ("2024-01-03,1,1,1,-1,1,1", "close", Decimal(-1)),
        ("2024-01-03,NaN,1,1,1,1,1", "open", None),
        ("2024-01-03,1,inf,1,1,1,1", "high", Decimal("Infinity")),
        ("2024-01-03,sNaN,1,1,1,1,1", "open", None),
        ("2024-01-03,1,1,1,1,1,-5", "volume", Decimal(-5)),
    ],
)
def test_impossible_numbers_are_read_as_written_for_the_kernel_screen(write_csv, row, field, value):
    """The kernel quarantines an impossible bar (with its file:line) instead of the file
    stopping there: the reader keeps the number, quietly (a signalling NaN becomes NaN)."""
    path = write_csv("aaa.csv", ["2024-01-02,1,1,1,1,1,1", row, "2024-01-04,1,1,1,1,1,1"])
    feed = ReplayFeed(ReplayConfig(paths=[str(path)], half_spread_bps=5))
    assert feed.advance() == _d(2) and feed.advance() == _d(3)
    got = getattr(feed.current_bar("AAA"), field)
    assert got.is_qnan() if value is None else got == value
    assert feed.quote("AAA") is not None  # deriving the quote does not raise
    assert feed.bar_origin("AAA", _d(3)) == f"{path}:3"
    assert feed.advance() == _d(4)


def test_a_feed_whose_file_breaks_keeps_raising_instead_of_ending(write_csv):
    good = ["2024-01-02,1,1,1,1,1,1", "2024-01-03,1,1,1,1,1,1"]
    path = write_csv("aaa.csv", [*good, "2024-01-04,abc,1,1,1,1,1"])
    feed = ReplayFeed(ReplayConfig(paths=[str(path)]))
    assert feed.advance() == _d(2)  # the reader looks one row ahead
    for _ in range(3):  # never None ("data exhausted"): the same error every time
        with pytest.raises(CsvDataError, match=f"{path}:4: Open"):
            feed.advance()
    assert isinstance(feed.failure, CsvDataError) and not feed.exhausted


def test_bad_rows_of_a_symbol_file_fail_at_startup(write_csv):
    path = write_csv(
        "all.csv", ["2024-01-02,AAA,1,x,1,1,1"], header="Date,Symbol,Open,High,Low,Close,Volume"
    )
    with pytest.raises(CsvDataError, match=r"all\.csv:2: High: expected a number"):
        ReplayFeed(ReplayConfig(paths=[str(path)]))


def test_missing_files_and_columns_are_config_errors(write_csv, tmp_path):
    with pytest.raises(ConfigError, match="no such file or directory"):
        ReplayFeed(ReplayConfig(paths=[str(tmp_path / "nope.csv")]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \*\.csv files"):
        ReplayFeed(ReplayConfig(paths=[str(tmp_path / "empty")]))
    path = write_csv("aaa.csv", ["2024-01-02,1,1,1"], header="Date,Open,High,Volume")
    with pytest.raises(ConfigError, match=r"aaa\.csv:1: missing column\(s\) Low, Close"):
        ReplayFeed(ReplayConfig(paths=[str(path)]))
    path = write_csv("bbb.csv", ["1,1,1,1"], header="When,Open,High,Low,Close")
    with pytest.raises(ConfigError, match=r"missing column\(s\) Date"):
        ReplayFeed(ReplayConfig(paths=[str(path)]))


def test_a_symbol_in_two_files_is_refused(write_csv):
    a = write_csv("one/aaa.csv", ROWS_A)
    b = write_csv("two/AAA.csv", ROWS_A)
    with pytest.raises(ConfigError, match="symbol AAA is in both"):
        ReplayFeed(ReplayConfig(paths=[str(a), str(b)]))


def test_relative_paths_resolve_against_the_current_directory(write_csv, tmp_path, monkeypatch):
    write_csv("aaa.csv", ROWS_A)
    monkeypatch.chdir(tmp_path)
    assert ReplayFeed(ReplayConfig(paths=["aaa.csv"])).symbols() == ["AAA"]


def test_bundled_sample_is_the_default_and_is_reproducible(tmp_path):
    feed = ReplayFeed(ReplayConfig())
    assert feed.symbols() == ["AAA", "BBB"]
    stamps = drain(feed)
    assert len(stamps) == SAMPLE_ROWS
    assert all(ts.weekday() < 5 for ts in stamps)
    for written in write_sample(tmp_path):
        assert filecmp.cmp(written, SAMPLE_DIR / written.name, shallow=False), written.name


def test_a_header_with_a_duplicate_column_is_refused_naming_the_file(write_csv):
    """Before: the last ``Open`` column silently won."""
    path = write_csv(
        "aaa.csv", ["2024-01-02,1,1,1,1,1,9"], header="Date,Open,High,Low,Close,Volume,open"
    )
    with pytest.raises(ConfigError, match=rf"{path}:1: column\(s\) Open appear more than once"):
        ReplayFeed(ReplayConfig(paths=[str(path)]))


@pytest.mark.parametrize("key", ["start", "end"])
def test_a_bad_start_or_end_names_its_key(key):
    from tradekernel.api import ValidationError, structure

    with pytest.raises(ValidationError, match=f"{key}: expected a date like 2024-01-02"):
        structure({key: "yesterday"}, ReplayConfig)
