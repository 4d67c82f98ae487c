"""A sink that cannot start must not stop the other sinks from recording."""

from __future__ import annotations

from tradekernel.eventlog import read_events


def test_a_broken_sink_does_not_silence_the_others(make_kernel, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a directory")
    kernel = make_kernel(
        ["sqlite", "jsonl"], f'[metrics_sink.sqlite]\npath = "{tmp_path / "blocker" / "x.db"}"\n'
    )
    kernel.emit("scan", "candidates", count=1)
    kernel.emit("scan", "candidates", count=2)
    events = list(read_events(kernel, source="jsonl"))
    assert [e.fields["count"] for e in events] == [1, 2]
