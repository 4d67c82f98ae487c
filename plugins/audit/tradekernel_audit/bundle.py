"""Writing an audit bundle: one UTC day's journal rows, events and report, a manifest of
their SHA-256 digests, and a signature over the canonical manifest bytes.

The bundle is built in a temporary sibling directory and renamed into place, so a
bundle directory either is complete or does not exist.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from attrs import frozen
from tradekernel.api import (
    EVENTS_TABLE,
    ConfigError,
    GateFailed,
    RefusedError,
    __version__,
    events_sqlite_path,
    open_store,
    read_journal_anchor,
    resolve,
    ts_text,
    utcnow,
)

from . import sources
from .keys import Signer, signer_from_settings
from .policies import collect_policies, policy_loads

SCHEMA = "audit.v1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
JOURNAL_FILE = "journal.jsonl"
EVENTS_JSONL_FILE = "events.jsonl"
EVENTS_SQLITE_FILE = "events.sqlite.jsonl"
REPORT_FILE = "report.json"
COMPLIANCE_FILE = "compliance.json"


@frozen
class ArchiveResult:
    """A written bundle: its directory and its manifest."""

    path: Path
    manifest: dict[str, Any]


def canonical_bytes(manifest: dict[str, Any]) -> bytes:
    """The bytes a signature covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_dir(settings: Any) -> Path:
    """``[audit] archive_dir``, resolved under ``[kernel] state_dir`` when relative."""
    return resolve(settings.state_dir, settings.audit.archive_dir)


REPORT_MODULE = "tradekernel_report"
"""The package of the ``tradekernel-report`` distribution, which builds the daily report."""


def _report(
    settings: Any, day: str, now: datetime, builder: str = "daily_report"
) -> tuple[bytes | None, str | None]:
    """The daily report (``builder = "compliance_report"``: the compliance report) as
    JSON bytes, or ``None`` and why it was skipped. The reports come from the optional
    ``tradekernel-report`` distribution: it is imported lazily and any failure only
    skips the file."""
    if importlib.util.find_spec(REPORT_MODULE) is None:
        return None, "tradekernel-report is not installed"
    try:
        module = importlib.import_module(REPORT_MODULE)
    except ImportError as exc:
        return None, f"tradekernel-report cannot be imported: {settings.redact(str(exc))}"
    build: Callable[..., Any] | None = getattr(module, builder, None)
    if build is None:
        return None, f"tradekernel-report has no {builder}"
    try:
        report = build(settings, date.fromisoformat(day), now=now)
    except Exception as exc:
        what = builder.replace("_", " ")
        return None, f"the {what} failed: {type(exc).__name__}: {settings.redact(str(exc))}"
    text = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8"), None


def _relative(settings: Any, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(settings.state_dir).resolve()))
    except ValueError:
        return str(path)


def collect(settings: Any, day: str, now: datetime) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files of ``day``'s bundle and the manifest sections describing them."""
    files: dict[str, bytes] = {}
    with open_store(settings, create=False) as store:
        conn = store.conn
        conn.execute("BEGIN")  # one snapshot of the journal
        try:
            segment = sources.journal_segment(conn, day)
            head_seq, head_hash = store.journal_head()
            loads = policy_loads(conn, segment.rows, segment.first_seq)
        finally:
            conn.execute("COMMIT")
        anchor = read_journal_anchor(settings.state_dir)
    problem = sources.check_segment(segment.rows, segment.anchor_hash, segment.first_seq)
    if problem:
        raise GateFailed(
            f"the live journal of {day} does not verify ({problem}); run "
            "`tradekernel journal verify` and investigate before archiving (nothing was written)"
        )
    files[JOURNAL_FILE] = segment.to_bytes()
    journal = {
        "file": JOURNAL_FILE,
        "rows": len(segment.rows),
        "first_seq": segment.first_seq,
        "last_seq": segment.last_seq,
        "anchor_hash": segment.anchor_hash,
        "last_hash": segment.last_hash,
        # the whole journal's head when archived, and the anchor file then: a state.db
        # that later ends before either was truncated or rolled back
        "head_seq": head_seq,
        "head_hash": head_hash,
        "anchor": None if anchor is None else {"seq": anchor.seq, "hash": anchor.hash},
    }
    jsonl_path = sources.jsonl_path(settings, day)
    jsonl = sources.read_jsonl_day(jsonl_path)
    files[EVENTS_JSONL_FILE] = jsonl or b""
    events: dict[str, Any] = {
        "jsonl": {
            "file": EVENTS_JSONL_FILE,
            "source": _relative(settings, jsonl_path),
            "present": jsonl is not None,
            "records": (jsonl or b"").count(b"\n"),
        },
        "sqlite": None,
    }
    exported = sources.read_sqlite_day(settings, day)
    if exported is not None:
        files[EVENTS_SQLITE_FILE] = exported
        events["sqlite"] = {
            "file": EVENTS_SQLITE_FILE,
            "source": _relative(settings, events_sqlite_path(settings)) + f":{EVENTS_TABLE}",
            "records": exported.count(b"\n"),
        }
    report_bytes, skipped = _report(settings, day, now)
    if report_bytes is not None:
        files[REPORT_FILE] = report_bytes
        report: dict[str, Any] = {"file": REPORT_FILE, "skipped": None}
    else:
        report = {"file": None, "skipped": skipped}
    compliance_bytes, skipped = _report(settings, day, now, "compliance_report")
    if compliance_bytes is not None:
        files[COMPLIANCE_FILE] = compliance_bytes
        compliance: dict[str, Any] = {"file": COMPLIANCE_FILE, "skipped": None}
    else:
        compliance = {"file": None, "skipped": skipped}
    policy_files, policies = collect_policies(settings.state_dir, loads)
    files.update(policy_files)
    sections = {"journal": journal, "events": events, "report": report}
    return files, {**sections, "compliance": compliance, "policies": policies}


def build_manifest(
    day: str,
    files: dict[str, bytes],
    sections: dict[str, Any],
    signer: Signer,
    now: datetime,
) -> dict[str, Any]:
    """The ``audit.v1`` manifest of ``files``."""
    day_over = now >= datetime.fromisoformat(sources.next_day(day) + "T00:00:00+00:00")
    return {
        "schema": SCHEMA,
        "date": day,
        "created_at": ts_text(now),
        "complete": day_over,
        "tradekernel_version": __version__,
        "signature": {"algorithm": signer.algorithm, "key_id": signer.key_id, "file": SIGNATURE},
        "files": [
            {"path": name, "sha256": sha256_bytes(data), "size": len(data)}
            for name, data in sorted(files.items())
        ],
        **sections,
    }


def write_bundle(
    target: Path, files: dict[str, bytes], manifest: dict[str, Any], signer: Signer
) -> None:
    """Write ``files``, ``manifest.json`` and ``manifest.sig`` to the new directory
    ``target`` atomically (temporary sibling, fsync, rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        signature = signer.sign(canonical_bytes(manifest))
        manifest_text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
        contents = {
            **files,
            MANIFEST: (manifest_text + "\n").encode("utf-8"),
            SIGNATURE: (signature.hex() + "\n").encode("ascii"),
        }
        for name, data in contents.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        os.rename(tmp, target)  # fails if target appeared meanwhile: never overwrite
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def archive_day(
    settings: Any,
    day: str | date,
    *,
    out_dir: str | Path | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> ArchiveResult:
    """Write the signed bundle of UTC ``day`` to ``<out_dir or archive_dir>/<day>``.

    Refuses without a signing key (:class:`ConfigError`, exit 2), when the bundle
    directory exists (:class:`RefusedError`, exit 3: bundles are never overwritten) and
    when the day's live journal rows do not verify (:class:`GateFailed`, exit 4)."""
    day = sources.parse_day(day)
    signer = signer_from_settings(settings)  # refuse before reading or writing anything
    base = Path(out_dir) if out_dir is not None else archive_dir(settings)
    target = base / day
    if target.exists():
        raise RefusedError(
            f"{target}: an archive of {day} already exists; bundles are never overwritten "
            "(move it away to archive the day again); nothing was written"
        )
    if base.exists() and not base.is_dir():
        raise ConfigError(f"{base}: not a directory")
    now = clock()
    files, sections = collect(settings, day, now)
    manifest = build_manifest(day, files, sections, signer, now)
    try:
        write_bundle(target, files, manifest, signer)
    except OSError:
        if target.exists():
            raise RefusedError(f"{target}: created concurrently; nothing was written") from None
        raise
    return ArchiveResult(path=target, manifest=manifest)
