"""Files in the state directory: process-exclusive locks (``flock``) and atomic writes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError, RefusedError

RUN_LOCK = "run.lock"
"""Held by ``tradekernel run`` in the state directory: one agent per state."""


class LockHeld(RefusedError):
    """Another process holds the lock (exit 3)."""


class StateUnusable(ConfigError):
    """The state directory cannot be used where it is (a file, under a file, read-only):
    one line saying what to do (exit 2)."""


def make_dir(path: Path) -> None:
    """``mkdir -p path``, or :class:`StateUnusable` naming what is in the way."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        what = "is a file" if blocker == path else f"is under a file ({blocker})"
        raise StateUnusable(
            f"{path}: {what}, not a directory; point [kernel] state_dir at a directory "
            "(it is created when missing); nothing was changed"
        ) from None
    except PermissionError as exc:
        raise StateUnusable(
            f"{path}: cannot create the directory ({exc.strerror}); make its parent writable "
            "or point [kernel] state_dir elsewhere; nothing was changed"
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        if getattr(exc, "errno", None) == errno.EROFS:
            raise StateUnusable(
                f"{path}: is on a read-only filesystem; point [kernel] state_dir at a "
                "writable directory; nothing was changed"
            ) from None
        why = getattr(exc, "strerror", None) or str(exc)
        raise StateUnusable(
            f"{path}: cannot create the directory ({why}); point [kernel] state_dir at a "
            "directory that can be created; nothing was changed"
        ) from None


def check_place(path: Path) -> None:
    """Whether ``path`` can be used as a writable directory, without creating or writing
    anything (``config check``): :class:`StateUnusable` naming what is wrong (a file, under
    a file, read-only, a parent that cannot be written), else nothing."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        what = "is a file" if existing == path else f"is under a file ({existing})"
        raise StateUnusable(
            f"{path}: {what}, not a directory; point [kernel] state_dir at a directory "
            "(it is created when missing)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = (
            "is read-only" if existing == path else f"cannot be created ({existing} is read-only)"
        )
        raise StateUnusable(
            f"{path}: {what}; make it writable or point [kernel] state_dir at a writable directory"
        )


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold ``path`` with ``flock(LOCK_EX | LOCK_NB)`` for the block; raise
    :class:`LockHeld` (exit 3) at once when another process holds it, naming ``what``
    and the holder's pid. The lock is released by the kernel when the process
    dies, however it dies. The file keeps the holder's pid and is never deleted (deleting
    a lock file races with its next user)."""
    make_dir(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (PermissionError, OSError) as exc:
        if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            raise StateUnusable(
                f"{path.parent}: the state directory is read-only ({exc.strerror}); make it "
                "writable or point [kernel] state_dir at a writable directory; nothing was "
                "changed"
            ) from None
        raise
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
    readers see the old content or the new, never a partial file. The file is fsynced;
    the directory too when the file is new, so that it exists after a power loss. A lost
    rename over an existing file leaves its previous, complete content, which every
    caller accepts (the journal anchor may lag the journal, never lead it; the market
    clock resumes a bar earlier), and skipping that fsync keeps a write per bar cheap."""
    path = Path(path)
    make_dir(path.parent)
    new = not path.exists()
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
    if new:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """fsync a directory, so a rename in it survives a power loss (POSIX)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the batch ------------------------------------------------------------------------
