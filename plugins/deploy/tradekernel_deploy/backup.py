"""``tradekernel backup``: an online backup of the state, and the restore drill.

The backup is SQLite's online backup of ``state.db`` (safe while the agent runs) into
``<[deploy] backup_dir>/state-<UTC time>.db``. With ``--drill`` the backup is restored
into a scratch directory (``tradekernel_audit.restore_backup``: the restored journal
must verify) and its intents compared with the live store's as of the backup; the
outcome is recorded in ``<backup_dir>/drill.json``, which the readiness gate reads.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from tradekernel.api import RefusedError, Settings, Store, atomic_write, make_dir, utcnow

DRILL_FILE = "drill.json"
BACKUP_GLOB = "state-*.db"


def backup_dir(settings: Settings) -> Path:
    """``[deploy] backup_dir``, under ``[kernel] state_dir`` when relative."""
    path = Path(settings.deploy.backup_dir)
    return path if path.is_absolute() else Path(settings.state_dir) / path


def latest_backup(settings: Settings) -> Path | None:
    """The newest backup file (by modification time), if any."""
    found = sorted(backup_dir(settings).glob(BACKUP_GLOB), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def make_backup(settings: Settings, *, now: datetime | None = None) -> Path:
    """Back up ``state.db`` into the backup directory; returns the file."""
    now = now or utcnow()
    root = backup_dir(settings)
    make_dir(root)
    dest = root / f"state-{now.strftime('%Y%m%dT%H%M%S%fZ')}.db"
    if dest.exists():
        raise RefusedError(f"{dest}: already exists; nothing was written")
    with Store.open(settings.state_dir, create=False) as store:
        store.backup(dest)
    return dest


def _intents(store: Any) -> dict[str, str]:
    return {r.id: r.state.value for r in store.list_intents()}


def drill(settings: Settings, backup: Path, *, now: datetime | None = None) -> dict[str, Any]:
    """Restore ``backup`` into a scratch directory and check it: the restored journal
    verifies (``restore_backup`` refuses otherwise) and it holds the same intents as
    the backup file. Records and returns ``{"ts", "backup", "passed", "detail"}``."""
    from tradekernel_audit import restore_backup

    scratch = Path(tempfile.mkdtemp(prefix="tradekernel-drill-"))
    passed, detail = False, ""
    try:
        target = scratch / "state"
        try:
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
        "passed": passed,
        "detail": settings.redact(detail),
    }
    make_dir(backup_dir(settings))
    atomic_write(backup_dir(settings) / DRILL_FILE, json.dumps(record, sort_keys=True) + "\n")
    return record


def last_drill(settings: Settings) -> dict[str, Any] | None:
    """The recorded outcome of the last drill (``None``: none, or unreadable)."""
    try:
        data = json.loads((backup_dir(settings) / DRILL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
