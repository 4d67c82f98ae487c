"""A small progress line on stderr (bars, bars per second, ETA), only on a terminal."""

from __future__ import annotations

import time
from typing import IO


def wanted(stream: IO[str], *, as_json: bool) -> bool:
    """Show progress only when ``stream`` is a terminal and the output is not JSON."""
    isatty = getattr(stream, "isatty", None)
    return not as_json and bool(isatty and isatty())


class ProgressLine:
    """Rewrites one line (``\\r``) at most every ``every`` seconds."""

    def __init__(self, stream: IO[str], *, every: float = 0.2) -> None:
        self.stream = stream
        self.every = every
        self.started = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self._last < self.every:
            return
        self._last = now
        self.stream.write("\r" + self.text(done, total, now - self.started))
        self.stream.flush()

    @staticmethod
    def text(done: int, total: int | None, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"bars {done:,}"
        if total:
            line += f"/{total:,} {min(done / total, 1.0):4.0%}"
        line += f"  {rate:,.0f} bars/s"
        if total and rate > 0:
            left = max(total - done, 0) / rate
            line += f"  ETA {int(left // 60)}m{int(left % 60):02d}s"
        return line + "   "

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
