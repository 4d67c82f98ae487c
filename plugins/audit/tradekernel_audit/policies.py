"""The trading policies in force on a day, in its bundle: every policy a ``policy`` guard
(``tradekernel-policy``) journaled as loaded that day (control ``policy:<guard>``), plus
the one in force when the day started, each copied once per content as
``policy.<guard>.<sha12>.toml`` with its signature file (docs/audit.md)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

CONTROL_PREFIX = "policy:"
"""The control keys ``tradekernel-policy`` journals a load under: ``policy:<guard>``."""
ENTITY_PREFIX = "control:" + CONTROL_PREFIX
COPIES_DIR = "policies"
"""Where the policy guard keeps a copy of each policy it loaded: ``<state_dir>/policies/
<sha256>.toml`` (and ``.sig``)."""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_SHA = re.compile(r"[0-9a-f]{64}")
MAX_POLICY_BYTES = 4 * 1024 * 1024
"""Larger than any policy the guard loads (1 MiB): a bigger file is not archived."""


def _read(path: Path) -> bytes | None:
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as fh:
            data = fh.read(MAX_POLICY_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_POLICY_BYTES else None


def policy_loads(conn: sqlite3.Connection, rows: list[dict[str, Any]], first_seq: int) -> list:
    """``(guard, value, ts, at_start)`` of every policy load in force on the day whose
    journal rows are ``rows`` (starting at ``first_seq``): the last load of each guard
    before the day, then each load of the day, in journal order."""
    loads: list[tuple[str, dict[str, Any], str, bool]] = []
    earlier: dict[str, tuple[dict[str, Any], str]] = {}
    for entity, payload, ts in conn.execute(
        "SELECT entity, payload, ts FROM journal WHERE entity LIKE ? AND seq < ? ORDER BY seq",
        (ENTITY_PREFIX + "%", first_seq),
    ):
        value = _value(payload)
        if value is not None and entity.startswith(ENTITY_PREFIX):
            earlier[entity[len(ENTITY_PREFIX) :]] = (value, ts)
    for guard, (value, ts) in sorted(earlier.items()):
        loads.append((guard, value, ts, True))
    for row in rows:
        entity = row.get("entity")
        if not isinstance(entity, str) or not entity.startswith(ENTITY_PREFIX):
            continue
        value = _value(row.get("payload"))
        if value is not None:
            loads.append((entity[len(ENTITY_PREFIX) :], value, str(row.get("ts")), False))
    return loads


def _value(payload: Any) -> dict[str, Any] | None:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if not isinstance(payload, dict):
        return None
    value = payload.get("value")
    return value if isinstance(value, dict) else None


def _source(
    state_dir: Path, value: dict[str, Any], sha: str
) -> tuple[bytes | None, Path | None, str]:
    """The policy's bytes (with the path of its signature file), from the guard's copy,
    else from the live file when it is still the content loaded; else why not."""
    copy = Path(state_dir) / COPIES_DIR / f"{sha}.toml"
    data = _read(copy)
    if data is not None and hashlib.sha256(data).hexdigest() == sha:
        return data, copy.with_name(copy.name + ".sig"), ""
    source = value.get("file")
    if not isinstance(source, str) or not source:
        return None, None, "no file journaled"
    data = _read(Path(source))
    if data is None:
        return None, None, "file gone or larger than the archive takes"
    if hashlib.sha256(data).hexdigest() != sha:
        return None, None, "changed since loaded"
    return data, Path(source + ".sig"), ""


def _signature_matches(data: bytes, sha: str) -> bool:
    try:
        body = json.loads(data)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("sha256") == sha


def collect_policies(
    state_dir: Path, loads: list[tuple[str, dict[str, Any], str, bool]]
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The files of every policy in ``loads`` (:func:`policy_loads`), one per guard and
    content, and one manifest entry per load: the guard, the source file, the label,
    the journaled SHA-256, the signer, when it was loaded (``in_force_at_start`` for the
    load made before the day), and the archived file and signature (``None``, with
    ``reason``, when the content loaded can no longer be found)."""
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    for guard, value, ts, at_start in loads:
        sha = value.get("sha256")
        entry: dict[str, Any] = {
            "guard": guard,
            "source": value.get("file"),
            "label": value.get("label"),
            "journaled_sha256": sha,
            "signer": value.get("signer"),
            "loaded_at": ts,
            "in_force_at_start": at_start,
            "file": None,
            "sha256": None,
            "signature": None,
            "reason": None,
        }
        entries.append(entry)
        if not isinstance(sha, str) or not _SHA.fullmatch(sha):
            entry["reason"] = "no sha256 journaled"
            continue
        name = f"policy.{_SAFE.sub('_', guard)}.{sha[:12]}.toml"
        if name not in files:
            data, sig_path, reason = _source(state_dir, value, sha)
            if data is None:
                entry["reason"] = reason
                continue
            files[name] = data
            signature = _read(sig_path) if sig_path is not None else None
            if signature is not None and _signature_matches(signature, sha):
                files[name + ".sig"] = signature
        entry["file"] = name
        entry["sha256"] = sha
        entry["signature"] = name + ".sig" if name + ".sig" in files else None
    return files, entries
