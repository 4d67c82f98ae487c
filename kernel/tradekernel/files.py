"""Files in the state directory: process-exclusive locks (``flock``) and atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import RefusedError

RUN_LOCK = "run.lock"
"""Held by ``tradekernel run`` in the state directory: one agent per state."""


class LockHeld(RefusedError):
    """Another process holds the lock (exit 3)."""


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold ``path`` with ``flock(LOCK_EX | LOCK_NB)`` for the block; raise
    :class:`LockHeld` (exit 3) at once when another process holds it, naming ``what``
    and the holder's pid. The lock is released by the kernel when the process
    dies, however it dies. The file keeps the holder's pid and is never deleted (deleting
    a lock file races with its next user)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise LockHeld(
            f"another {what} is running (lock {path} is held by pid {holder}); this run did nothing"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory + rename, so
    readers see the old content or the new, never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- the batch ------------------------------------------------------------------------
