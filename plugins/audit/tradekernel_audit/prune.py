"""Event-log retention: drop days older than ``[audit] retention`` from the live event log
(jsonl day files and ``events`` table rows), but only days whose archive verifies and
still holds exactly what the live log holds. The journal is never pruned.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from attrs import field, frozen
from tradekernel.api import EVENTS_TABLE, ConfigError, RefusedError, utcnow

from . import sources
from .bundle import EVENTS_JSONL_FILE, EVENTS_SQLITE_FILE, MANIFEST, archive_dir, sha256_bytes
from .keys import Verifier, verifiers_from_settings
from .verify import verify_bundle

PRUNED, WOULD_PRUNE, REFUSED = "pruned", "would_prune", "refused"


@frozen
class PruneDay:
    """What happened to one day's events."""

    date: str
    action: str
    """``pruned``, ``would_prune`` (dry run) or ``refused``."""
    reason: str = ""
    jsonl_file: str | None = None
    """The day file removed (or that would be)."""
    sqlite_rows: int = 0
    """``events`` rows deleted (or that would be)."""


@frozen
class PruneResult:
    before: str
    dry_run: bool
    days: list[PruneDay] = field(factory=list)

    @property
    def refused(self) -> list[PruneDay]:
        return [d for d in self.days if d.action == REFUSED]


def retention_cutoff(settings: Any, now: datetime) -> str:
    """The first UTC day that retention still protects: days before it may be pruned."""
    return (now - timedelta(seconds=float(settings.audit.retention))).date().isoformat()


class _Refuse(Exception):
    pass


def _archived_sha(manifest: dict[str, Any], name: str) -> str | None:
    for entry in manifest.get("files") or []:
        if entry.get("path") == name:
            return entry.get("sha256")
    return None


def _compare(live: bytes | None, archived_sha: str | None, what: str) -> None:
    if not live:
        return  # nothing live to lose
    if archived_sha is None or sha256_bytes(live) != archived_sha:
        raise _Refuse(
            f"the live {what} differ from the archive (events were added after it was "
            "written): move the old bundle away and archive the day again"
        )


def _prune_jsonl(path: Path, archived_sha: str | None) -> bool:
    """Remove the day file if it still matches the archive (checked under the sink's lock)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return False
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            _compare(fh.read(), archived_sha, f"events in {path.name}")
            path.unlink()
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return True


def _prune_sqlite(settings: Any, day: str, archived_sha: str | None) -> int:
    """Delete the day's ``events`` rows if they still match the archive (one transaction)."""
    conn = sources.open_events_db(settings, readonly=False)
    if conn is None:
        return 0
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            live = sources.export_sqlite_day(conn, day)
            _compare(live, archived_sha, "events table rows")
            deleted = 0
            if live:
                deleted = conn.execute(
                    f"DELETE FROM {EVENTS_TABLE} WHERE date = ?", (day,)
                ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return deleted


def _prune_day(settings: Any, day: str, verifiers: Sequence[Verifier], dry_run: bool) -> PruneDay:
    bundle = archive_dir(settings) / day
    if not bundle.is_dir():
        raise _Refuse(f"no archive at {bundle} (run `tradekernel audit archive --date {day}`)")
    check = verify_bundle(bundle, verifiers)
    if not check.ok:
        raise _Refuse(f"its archive does not verify: {check.problem}")
    manifest = json.loads((bundle / MANIFEST).read_bytes())
    if manifest.get("date") != day:
        raise _Refuse(f"{bundle} is the archive of {manifest.get('date')}, not {day}")
    jsonl_sha = _archived_sha(manifest, EVENTS_JSONL_FILE)
    sqlite_sha = _archived_sha(manifest, EVENTS_SQLITE_FILE)
    path = sources.jsonl_path(settings, day)
    live_jsonl = sources.read_jsonl_day(path)
    live_sqlite = sources.read_sqlite_day(settings, day)
    _compare(live_jsonl, jsonl_sha, f"events in {path.name}")
    _compare(live_sqlite, sqlite_sha, "events table rows")
    rows = (live_sqlite or b"").count(b"\n")
    jsonl_file = str(path) if live_jsonl is not None else None
    if dry_run:
        return PruneDay(day, WOULD_PRUNE, jsonl_file=jsonl_file, sqlite_rows=rows)
    removed = _prune_jsonl(path, jsonl_sha)
    deleted = _prune_sqlite(settings, day, sqlite_sha)
    return PruneDay(day, PRUNED, jsonl_file=str(path) if removed else None, sqlite_rows=deleted)


def prune(
    settings: Any,
    *,
    before: str | None = None,
    dry_run: bool = False,
    verifiers: Sequence[Verifier] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> PruneResult:
    """Prune the event log of every day before ``before`` (default: the retention
    cutoff), one day at a time. A day is pruned only when its bundle in
    ``[audit] archive_dir`` verifies right now and its events equal the live ones;
    otherwise it is refused and left untouched. ``dry_run`` changes nothing.

    Raises :class:`RefusedError` (exit 3) when ``before`` lies inside the retention
    period, :class:`ConfigError` (exit 2) without any verifying key."""
    cutoff = retention_cutoff(settings, clock())
    limit = cutoff if before is None else sources.parse_day(before, "--before")
    if limit > cutoff:
        raise RefusedError(
            f"--before {limit}: days from {cutoff} on are within the retention period "
            f"([audit] retention = {settings.audit.retention}); nothing was pruned"
        )
    if verifiers is None:
        verifiers = verifiers_from_settings(settings)
    if not verifiers:
        raise ConfigError(
            "[audit]: no verifying key is configured, so no archive can be verified before "
            "pruning (set ed25519_key_file, ed25519_public_keys or hmac_key_env)"
        )
    result = PruneResult(before=limit, dry_run=dry_run)
    for day in sources.event_days(settings, limit):
        try:
            outcome = _prune_day(settings, day, verifiers, dry_run)
        except _Refuse as refusal:
            outcome = PruneDay(day, REFUSED, reason=str(refusal))
        result.days.append(outcome)
    return result
