"""The jsonl sink, through the real plugin registry."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tradekernel.api import Kernel, Settings, validate_event
from tradekernel_jsonl import JsonlSink

DAY = datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_events_are_appended_one_line_each_to_the_day_file(make_kernel, tmp_path):
    kernel = make_kernel(["jsonl"])
    kernel.events.clock = lambda: DAY
    kernel.emit("risk", "verdict", intent_id="i1", guard="allowlist", allow=False, code="symbol")
    kernel.emit("monitor", "fill", client_order_id="c1", fill_id="f1", price=Decimal("10.25"))
    kernel.close()

    path = tmp_path / "state" / "events" / "2026-03-02.jsonl"
    everything = _lines(path)  # may include notify.* events: a fill is announced
    assert all(validate_event(r) == [] for r in everything)
    records = [r for r in everything if r["stage"] != "notify"]
    assert [r["kind"] for r in records] == ["verdict", "fill"]
    assert records[1]["fields"]["price"] == "10.25"  # money is a decimal string
    assert records[0] == {
        "schema": "event.v1",
        "ts": "2026-03-02T23:59:59+00:00",
        "run_id": "",
        "cycle_id": "",
        "stage": "risk",
        "kind": "verdict",
        "severity": "info",
        "fields": {"intent_id": "i1", "guard": "allowlist", "allow": False, "code": "symbol"},
    }


def test_the_file_follows_the_utc_date_of_each_event(make_kernel, tmp_path):
    kernel = make_kernel(["jsonl"], '[metrics_sink.jsonl]\ndir = "log"\n')
    times = iter([DAY, DAY + timedelta(seconds=2)])
    kernel.events.clock = lambda: next(times)
    kernel.emit("scan", "candidates", count=0)
    kernel.emit("scan", "candidates", count=1)
    kernel.close()
    assert sorted(p.name for p in (tmp_path / "state" / "log").iterdir()) == [
        "2026-03-02.jsonl",
        "2026-03-03.jsonl",
    ]


def test_absolute_dir_is_used_as_is(make_kernel, tmp_path):
    target = tmp_path / "elsewhere"
    kernel = make_kernel(["jsonl"], f'[metrics_sink.jsonl]\ndir = "{target}"\nfsync = true\n')
    kernel.emit("scan", "candidates", count=2)
    kernel.close()
    (path,) = target.iterdir()
    assert _lines(path)[0]["fields"] == {"count": 2}


def test_write_never_raises(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    sink = JsonlSink(blocker / "events")
    from tradekernel.api import Event

    sink.write(Event(stage="scan", kind="candidates", fields={"count": 1}))  # logged, not raised
    sink.close()
    assert blocker.read_text() == "x"


def _writer(config: str, worker: int, count: int) -> None:
    kernel = Kernel(Settings.load(config, environ={}))
    kernel.events.clock = lambda: DAY
    padding = "x" * 6000  # longer than PIPE_BUF: must still land as one unbroken line
    for seq in range(count):
        kernel.emit("x_test", "tick", worker=worker, seq=seq, padding=padding)
    kernel.close()


def test_several_processes_append_without_losing_or_interleaving_lines(make_kernel, tmp_path):
    make_kernel(["jsonl"])  # writes plugins.toml
    config = str(tmp_path / "plugins.toml")
    workers, count = 4, 150
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(config, w, count)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0

    raw = (tmp_path / "state" / "events" / "2026-03-02.jsonl").read_text(encoding="utf-8")
    lines = raw.splitlines()
    assert raw.endswith("\n")
    assert len(lines) == workers * count
    seen = set()
    for line in lines:
        record = json.loads(line)  # every line is one whole JSON object
        assert validate_event(record) == []
        seen.add((record["fields"]["worker"], record["fields"]["seq"]))
    assert seen == {(w, s) for w in range(workers) for s in range(count)}
