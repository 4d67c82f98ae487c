"""``tradekernel health``: is the agent alive and cycling?

Healthy means both: a process holds ``run.lock`` in the state directory (the agent's
one-per-state lock), and the lock file was touched within ``max_age`` (``run`` touches it
at the end of every cycle, paused ones included, and takes it at start); a heartbeat
more than a minute in the future (clock skew) is unhealthy too. Nothing is
written and the lock is never taken: the holder is found in ``/proc/locks`` (Linux),
else (or when it does not name the file) by a shared ``flock`` probe released at once.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

from attrs import frozen
from tradekernel.api import RUN_LOCK

from .safefile import is_regular

PROC_LOCKS = Path("/proc/locks")
FUTURE_TOLERANCE = 60.0
"""Seconds a heartbeat may lie ahead of this clock (filesystem timestamps' rounding)."""


@frozen
class Health:
    """The answer: ``ok``, the reason (one line), the holder's pid, the heartbeat's age."""

    ok: bool
    reason: str
    pid: int | None = None
    age: float | None = None


def _holder_from_proc(path: Path, proc_locks: Path = PROC_LOCKS) -> tuple[bool, int | None] | None:
    """``(held, pid)`` from ``/proc/locks`` (an ``FLOCK`` on the file's inode), or
    ``None`` when that file cannot be read."""
    try:
        st = path.stat()
        text = proc_locks.read_text()
    except OSError:
        return None
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in text.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF" (blocked waiters have "->")
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue
        if fields[5] == inode:
            pid = int(fields[4]) if fields[4].isdigit() else None
            return True, pid or None
    return False, None


def _holder_by_probe(path: Path) -> tuple[bool, int | None]:
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return True, int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, None
    finally:
        os.close(fd)


def check(
    state_dir: Path,
    max_age: float,
    *,
    now: datetime | None = None,
    proc_locks: Path = PROC_LOCKS,
) -> Health:
    """The agent's health in ``state_dir`` (see the module)."""
    path = Path(state_dir) / RUN_LOCK
    if not path.exists() and not path.is_symlink():
        return Health(False, f"no agent has run here ({path} does not exist)")
    if not is_regular(path):  # a FIFO would block the probe's open; a symlink is not ours
        return Health(False, f"{path} is not a regular file")
    found = _holder_from_proc(path, proc_locks)
    # an inode /proc/locks names differently (some filesystems): ask the lock itself
    held, pid = found if found is not None and found[0] else _holder_by_probe(path)
    if not held:
        return Health(False, f"no agent is running: nothing holds {path}")
    now = now or datetime.now(UTC)
    age = now.timestamp() - path.stat().st_mtime
    who = f"pid {pid}" if pid else "an agent"
    if age < -FUTURE_TOLERANCE:  # a hung agent must not look fresh while the skew lasts
        return Health(
            False,
            f"{who} holds {path} but its heartbeat is {-age:.0f}s in the future (clock skew)",
            pid,
            age,
        )
    age = max(0.0, age)
    if age > max_age:
        return Health(
            False,
            f"{who} holds {path} but its last cycle ended {age:.0f}s ago (max {max_age:.0f}s)",
            pid,
            age,
        )
    return Health(True, f"{who} is running; last cycle {age:.0f}s ago", pid, age)
