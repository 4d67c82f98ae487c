"""Restoring a ``tradekernel journal backup`` into a fresh state directory."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from attrs import frozen
from tradekernel.api import (
    DB_FILENAME,
    GateFailed,
    NotFoundError,
    RefusedError,
    SchemaError,
    Store,
    TradekernelError,
    VerifyResult,
)


@frozen
class RestoreResult:
    path: Path
    """The restored ``state.db``."""
    intents: int
    journal: VerifyResult


def restore_backup(backup: str | Path, state_dir: str | Path) -> RestoreResult:
    """Copy ``backup`` to ``<state_dir>/state.db``, verify its journal and anchor it
    (``journal.anchor`` names the restored journal's head).

    Refuses (exit 3) when ``state_dir`` exists and is not empty. The copy uses SQLite's
    backup API from a read-only connection, so the backup file is never modified. When
    the copy is not a tradekernel state file (exit 2) or its journal does not verify
    (exit 4), the new directory is removed again and nothing is restored."""
    backup = Path(backup)
    target_dir = Path(state_dir)
    if not backup.is_file():
        raise NotFoundError(f"{backup}: no such backup file")
    if target_dir.exists() and (not target_dir.is_dir() or any(target_dir.iterdir())):
        raise RefusedError(
            f"{target_dir}: exists and is not empty; restore only into a new or empty "
            "state directory (nothing was changed)"
        )
    created = not target_dir.exists()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / DB_FILENAME

    def undo() -> None:
        if created:
            shutil.rmtree(target_dir, ignore_errors=True)
        else:
            for child in target_dir.iterdir():
                child.unlink()

    try:
        source = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        dest = sqlite3.connect(str(target))
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
    except sqlite3.DatabaseError as exc:
        undo()
        raise SchemaError(
            f"{backup}: not a readable SQLite backup ({exc}); nothing was restored"
        ) from None
    try:
        with Store.open(target_dir, create=False) as store:
            result = store.verify_journal()
            intents = store.conn.execute("SELECT COUNT(*) FROM intents").fetchone()[0]
            if result.ok:  # the restored journal is the state's head from now on
                store.write_anchor(force=True)
    except TradekernelError:
        undo()
        raise
    if not result.ok:
        undo()
        raise GateFailed(
            f"{backup}: the journal does not verify (row {result.first_bad_seq}: "
            f"{result.problem}); nothing restored"
        )
    return RestoreResult(path=target, intents=intents, journal=result)
