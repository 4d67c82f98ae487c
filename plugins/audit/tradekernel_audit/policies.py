"""The active trading policies in a bundle: each policy file the agent journaled as
loaded (control ``policy:<guard>``, written by ``tradekernel-policy``) and its signature
file, copied as ``policy.<guard>.toml`` and ``policy.<guard>.toml.sig`` (docs/audit.md)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

CONTROL_PREFIX = "policy:"
"""The control keys ``tradekernel-policy`` journals a load under: ``policy:<guard>``."""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_POLICY_BYTES = 4 * 1024 * 1024


def _read(path: Path) -> bytes | None:
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as fh:
            return fh.read(MAX_POLICY_BYTES + 1)[:MAX_POLICY_BYTES]
    except OSError:
        return None


def collect_policies(controls: dict[str, Any]) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The files of every journaled active policy, and their manifest entries:
    the guard, the source file, the journaled and the archived file's SHA-256 (they
    differ when the file changed after it was loaded), the signer, and the archived
    signature file (``None`` when the policy was unsigned or the file is gone)."""
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    for key, value in sorted(controls.items()):
        if not key.startswith(CONTROL_PREFIX) or not isinstance(value, dict):
            continue
        guard = key[len(CONTROL_PREFIX) :]
        source = value.get("file")
        if not isinstance(source, str) or not source:
            continue
        name = f"policy.{_SAFE.sub('_', guard)}.toml"
        data = _read(Path(source))
        entry: dict[str, Any] = {
            "guard": guard,
            "source": source,
            "label": value.get("label"),
            "journaled_sha256": value.get("sha256"),
            "signer": value.get("signer"),
            "file": None,
            "sha256": None,
            "signature": None,
        }
        if data is not None:
            files[name] = data
            entry["file"] = name
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            signature = _read(Path(source + ".sig"))
            if signature is not None:
                files[name + ".sig"] = signature
                entry["signature"] = name + ".sig"
        entries.append(entry)
    return files, entries
