"""``tradekernel backup``: an online backup of the state, and the restore drill.

The backup is SQLite's online backup of ``state.db`` (safe while the agent runs) into
``<[deploy] backup_dir>/state-<UTC time>.db``. With ``--drill`` the backup is restored
into a scratch directory (``tradekernel_audit.restore_backup``: the restored journal
must verify) and its intents compared with the live store's as of the backup; the
outcome is recorded in ``<backup_dir>/drill.json``, signed with the audit key and
naming the backup it tested by path and SHA-256; the readiness gate reads it.

A ``state-*.db`` counts as a backup only when it is a regular SQLite file that passes
``PRAGMA quick_check`` and holds the state's journal (:func:`backup_problem`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradekernel.api import (
    RefusedError,
    Settings,
    Store,
    atomic_write,
    make_dir,
    open_store,
    utcnow,
)

from .safefile import is_regular
from .signed import read_signed, sign

DRILL_FILE = "drill.json"
BACKUP_GLOB = "state-*.db"


def backup_dir(settings: Settings) -> Path:
    """``[deploy] backup_dir``, under ``[kernel] state_dir`` when relative."""
    path = Path(settings.deploy.backup_dir)
    return path if path.is_absolute() else Path(settings.state_dir) / path


def latest_backup(settings: Settings) -> Path | None:
    """The newest backup file (by modification time; regular files only), if any."""
    found = [p for p in backup_dir(settings).glob(BACKUP_GLOB) if is_regular(p)]
    found.sort(key=lambda p: (p.stat().st_mtime, p.name))
    return found[-1] if found else None


SQLITE_HEADER = b"SQLite format 3\x00"


def backup_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable backup (``None``: it is): it must be a regular
    SQLite file, pass ``PRAGMA quick_check`` opened read-only, and hold a journal."""
    if not is_regular(path):
        return f"{path.name} is not a regular file"
    try:
        with open(path, "rb", opener=_nofollow) as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{path.name}: unreadable ({type(exc).__name__})"
    if header != SQLITE_HEADER:
        return f"{path.name} is not an SQLite database (empty or foreign file)"
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            rows = (
                conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
                if ("journal" in tables)
                else 0
            )
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{path.name}: not a readable SQLite database ({exc})"
    if not check or check[0] != "ok":
        return f"{path.name}: fails PRAGMA quick_check ({check[0] if check else 'no answer'})"
    if "journal" not in tables or not rows:
        return f"{path.name}: holds no journal (not a tradekernel state backup)"
    return None


def _nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


def file_sha256(path: Path) -> str:
    """The SHA-256 of ``path`` (a regular file, not followed when a symlink)."""
    digest = hashlib.sha256()
    with open(path, "rb", opener=_nofollow) as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup_time(path: Path) -> datetime | None:
    """The time in a backup's name (``state-<UTC time>.db``), or ``None``."""
    try:
        stamp = path.name.removeprefix("state-").removesuffix(".db")
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def make_backup(settings: Settings, *, now: datetime | None = None) -> Path:
    """Back up ``state.db`` into the backup directory; returns the file."""
    now = now or utcnow()
    root = backup_dir(settings)
    make_dir(root)
    dest = root / f"state-{now.strftime('%Y%m%dT%H%M%S%fZ')}.db"
    if dest.exists():
        raise RefusedError(f"{dest}: already exists; nothing was written")
    with open_store(settings, create=False) as store:
        store.backup(dest)
    return dest


def _intents(store: Any) -> dict[str, str]:
    return {r.id: r.state.value for r in store.list_intents()}


def drill(settings: Settings, backup: Path, *, now: datetime | None = None) -> dict[str, Any]:
    """Restore ``backup`` into a scratch directory and check it: the restored journal
    verifies (``restore_backup`` refuses otherwise) and it holds the same intents as
    the backup file. Records (signed with the audit key) and returns ``{"ts",
    "backup", "backup_sha256", "passed", "detail"}``."""
    from tradekernel_audit import restore_backup

    scratch = Path(tempfile.mkdtemp(prefix="tradekernel-drill-"))
    passed, detail, digest = False, "", ""
    try:
        target = scratch / "state"
        try:
            problem = backup_problem(backup)
            if problem is not None:
                raise RefusedError(problem)
            digest = file_sha256(backup)
            restore_backup(backup, target)
            with Store.open(target, create=False, read_only=True) as restored:
                got = _intents(restored)
            source = scratch / "source"
            source.mkdir()
            shutil.copy(backup, source / "state.db")
            with Store.open(source, create=False, read_only=True, check_anchor=False) as before:
                want = _intents(before)
            if got != want:
                detail = f"the restore holds {len(got)} intents, the backup {len(want)}"
            else:
                passed, detail = True, f"restored and verified; {len(got)} intents match"
        except Exception as exc:  # any failure is the drill's finding, recorded
            detail = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record = {
        "ts": (now or utcnow()).isoformat(),
        "backup": str(backup),
        "backup_sha256": digest,
        "passed": passed,
        "detail": settings.redact(detail),
    }
    signed = sign(settings, record)
    make_dir(backup_dir(settings))
    atomic_write(backup_dir(settings) / DRILL_FILE, json.dumps(signed, sort_keys=True) + "\n")
    return record


def last_drill(settings: Settings) -> tuple[dict[str, Any] | None, str]:
    """The recorded outcome of the last drill, its signature checked: ``(record, "")``,
    or ``(None, why)``."""
    return read_signed(
        settings,
        backup_dir(settings) / DRILL_FILE,
        "restore-drill record",
        "no restore drill recorded (`tradekernel backup --drill`)",
    )
