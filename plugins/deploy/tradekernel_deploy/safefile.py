"""The one reader of the files this plugin reads from the state directory (releases,
readiness reports, drill records, backups' headers) and from operators' policy files.

Such a file is hostile input: a symlink to ``/dev/zero``, a FIFO or a huge file must give
a one-line refusal naming it, never a hang or a ``MemoryError``. The file is opened
with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO does not block the open), must be a regular
file (``fstat``) and at most ``limit`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
BUNDLE_LIMIT = 16 * MIB
"""Most bytes of a release bundle, its configuration file or a policy file."""
SMALL_LIMIT = 1 * MIB
"""Most bytes of a signature, a readiness report or a drill record."""


class UnsafeFile(OSError):
    """A file refused by :func:`read_small`: its message names the file and why."""


def read_small(path: Path, limit: int = SMALL_LIMIT) -> bytes:
    """The bytes of ``path``: a regular file (not a symlink) of at most ``limit`` bytes.

    Raises :class:`FileNotFoundError` when it does not exist, :class:`UnsafeFile` when
    it is refused, and :class:`OSError` for other errors of the system."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a symlink
            raise UnsafeFile(f"{path}: is a symbolic link; refused") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path}: not a regular file; refused")
        if st.st_size > limit:
            raise UnsafeFile(f"{path}: {st.st_size} bytes, more than {limit}; refused")
        chunks, left = [], limit + 1
        while left > 0:  # the file may grow after fstat: read at most limit + 1 bytes
            chunk = os.read(fd, min(left, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise UnsafeFile(f"{path}: more than {limit} bytes; refused")
        return data
    finally:
        os.close(fd)


def read_text(path: Path, limit: int = SMALL_LIMIT) -> str:
    """:func:`read_small` decoded as UTF-8 (a leading BOM dropped); undecodable text
    raises :class:`UnsafeFile`."""
    try:
        return read_small(path, limit).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsafeFile(f"{path}: not UTF-8 text; refused") from None


def is_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (a symlink is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
