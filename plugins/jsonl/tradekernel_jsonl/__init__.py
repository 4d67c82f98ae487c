"""The ``jsonl`` metrics sink (the default): every event as one JSON line, one file per
UTC day, ``<state_dir>/events/YYYY-MM-DD.jsonl``.

Several processes may append to the same file: each line is written with a single
``os.write`` on an ``O_APPEND`` descriptor, under an exclusive ``flock``, so lines are
never interleaved or lost. The record format and paths live in
:mod:`tradekernel.eventlog`, which also reads them back.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from attrs import define
from loguru import logger
from tradekernel import hookimpl
from tradekernel.api import (
    JSONL_DEFAULT_DIR,
    ComponentContext,
    Event,
    encode_line,
    event_date,
    resolve,
)

__all__ = ["JsonlConfig", "JsonlSink"]


@define
class JsonlConfig:
    """``[metrics_sink.jsonl]``."""

    dir: str = JSONL_DEFAULT_DIR
    """Directory of the daily files; relative paths are under ``[kernel] state_dir``."""
    fsync: bool = False
    """``fsync`` after every line: survives power loss, costs a disk flush per event."""


class JsonlSink:
    """Appends events to ``<dir>/<UTC date>.jsonl``; never raises from :meth:`write`."""

    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._day = ""

    def path_for(self, day: str) -> Path:
        """The file holding the events of UTC ``day`` (``YYYY-MM-DD``)."""
        return self.directory / f"{day}.jsonl"

    def write(self, event: Event) -> None:
        """Append one event (fast; logs instead of raising)."""
        try:
            line = encode_line(event)
            day = event_date(event.ts)
            with self._lock:
                fd = self._open(day)
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    written = os.write(fd, line)
                    while written < len(line):  # only on a full disk or a signal: finish it
                        written += os.write(fd, line[written:])
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        except Exception as exc:
            logger.warning(
                "jsonl sink: could not write a {}.{} event: {}", event.stage, event.kind, exc
            )

    def _open(self, day: str) -> int:
        if self._fd is not None and day == self._day:
            return self._fd
        self._close_fd()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path_for(day), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._day = day
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def close(self) -> None:
        """Close the open file (every line is already written)."""
        with self._lock:
            self._close_fd()


def make_sink(config: JsonlConfig, ctx: ComponentContext) -> JsonlSink:
    """Events as JSON lines, one file per UTC day."""
    return JsonlSink(resolve(ctx.state_dir, config.dir), fsync=config.fsync)


@hookimpl
def register_metrics_sinks(register):
    register("jsonl", make_sink, config=JsonlConfig, version="1")
