"""read_events: the same events whichever sink's log it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tradekernel.errors import ConfigError
from tradekernel.eventlog import read_events, source_for
from tradekernel.serde import unstructure

START = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)


def _emit_two_days(kernel) -> None:
    times = iter(START + timedelta(hours=h) for h in range(10))
    kernel.events.clock = lambda: next(times)
    kernel.emit("scan", "candidates", count=2, candidates=["AAA", "BBB"])  # 22:00 day 1
    kernel.emit("risk", "verdict", intent_id="i1", guard="g", allow=False, code="c")  # 23:00
    kernel.emit("scan", "candidates", count=0, candidates=[])  # 00:00 day 2
    kernel.emit("notify", "delivered", severity="warning", notifier="log")  # 01:00
    kernel.emit("risk", "verdict", intent_id="i2", guard="g", allow=True)  # 02:00


def test_jsonl_and_sqlite_logs_read_the_same(make_kernel):
    kernel = make_kernel(["jsonl", "sqlite"])
    _emit_two_days(kernel)
    kernel.close()
    assert source_for(kernel) == "sqlite"

    from_jsonl = [unstructure(e) for e in read_events(kernel, source="jsonl")]
    from_sqlite = [unstructure(e) for e in read_events(kernel.settings, source="sqlite")]
    assert len(from_jsonl) == 5
    assert from_jsonl == from_sqlite
    assert [unstructure(e) for e in read_events(kernel)] == from_sqlite

    filters = [
        {"date": "2026-03-03"},
        {"stage": "risk"},
        {"stage": "scan", "kind": "candidates", "date": START.date()},
        {"since": START + timedelta(hours=1), "until": START + timedelta(hours=3)},
        {"since": "2026-03-03T01:00:00+00:00"},
        {"until": START + timedelta(hours=1)},
    ]
    for query in filters:
        a = [unstructure(e) for e in read_events(kernel, source="jsonl", **query)]
        b = [unstructure(e) for e in read_events(kernel, source="sqlite", **query)]
        assert a == b, query
    assert [e.fields["intent_id"] for e in read_events(kernel, stage="risk")] == ["i1", "i2"]
    assert len(list(read_events(kernel, date="2026-03-03"))) == 3
    window = read_events(kernel, since=START + timedelta(hours=1), until=START + timedelta(hours=3))
    assert [e.ts.hour for e in window] == [23, 0]


def test_jsonl_only(make_kernel):
    kernel = make_kernel(["jsonl"])
    _emit_two_days(kernel)
    assert source_for(kernel) == "jsonl"
    events = list(read_events(kernel, kind="delivered"))
    assert [(e.stage, e.severity.value, e.fields) for e in events] == [
        ("notify", "warning", {"notifier": "log"})
    ]


def test_bad_lines_are_skipped_by_the_reader(make_kernel, tmp_path):
    kernel = make_kernel(["jsonl"])
    _emit_two_days(kernel)
    kernel.close()
    path = tmp_path / "state" / "events" / "2026-03-02.jsonl"
    with path.open("a") as fh:
        fh.write("{not json\n")
        fh.write('{"stage": "scan"}\n')
    assert len(list(read_events(kernel))) == 5


def test_no_log_is_an_empty_iterator_and_no_sink_is_a_config_error(make_kernel):
    assert list(read_events(make_kernel(["sqlite"]), source="sqlite")) == []
    assert list(read_events(make_kernel(["jsonl"]))) == []
    with pytest.raises(ConfigError, match="metrics_sinks"):
        list(read_events(make_kernel(["prometheus"])))
