"""Verifying an audit bundle: signature, file set, file digests, the journal chain."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from .bundle import JOURNAL_FILE, MANIFEST, SCHEMA, SIGNATURE, canonical_bytes, sha256_bytes
from .keys import Verifier
from .sources import check_segment


@frozen
class BundleCheck:
    """The outcome of :func:`verify_bundle`: ``ok``, or the first ``problem`` found."""

    ok: bool
    path: str
    problem: str | None = None
    date: str | None = None
    files: int = 0
    journal_rows: int = 0
    algorithm: str | None = None
    key_id: str | None = None

    def line(self) -> str:
        """One line for the operator."""
        if self.ok:
            return (
                f"ok: {self.path}: audit bundle of {self.date}, {self.files} files, "
                f"{self.journal_rows} journal rows, signed {self.algorithm} by {self.key_id}"
            )
        return f"{self.path}: {self.problem}"


class _Bad(Exception):
    pass


def _load_manifest(bundle: Path) -> dict[str, Any]:
    if not bundle.is_dir():
        raise _Bad("not a bundle directory")
    try:
        manifest = json.loads((bundle / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise _Bad(f"{MANIFEST} is missing") from None
    except ValueError as exc:
        raise _Bad(f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise _Bad(f"{MANIFEST}: schema is not {SCHEMA}")
    return manifest


def _check_signature(bundle: Path, manifest: dict[str, Any], verifiers: Sequence[Verifier]) -> None:
    signed = manifest.get("signature") or {}
    algorithm, key_id = signed.get("algorithm"), signed.get("key_id")
    try:
        signature = bytes.fromhex((bundle / SIGNATURE).read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise _Bad(f"{SIGNATURE} is missing (unsigned bundle)") from None
    except (ValueError, UnicodeDecodeError):
        raise _Bad(f"{SIGNATURE} is not a hex signature") from None
    matching = [v for v in verifiers if v.algorithm == algorithm and v.key_id == key_id]
    if not matching:
        have = ", ".join(v.key_id for v in verifiers) or "none"
        raise _Bad(
            f"signed with {algorithm} key {key_id}, which is not among the verifying keys ({have})"
        )
    if not matching[0].verify(canonical_bytes(manifest), signature):
        raise _Bad(
            f"bad signature: {MANIFEST} was changed after signing, or {SIGNATURE} is not "
            f"the signature of key {key_id}"
        )


def _check_files(bundle: Path, manifest: dict[str, Any]) -> dict[str, bytes]:
    listed = {}
    for entry in manifest.get("files") or []:
        name = entry["path"]
        if name != Path(name).name or name in ("", ".", "..", MANIFEST, SIGNATURE):
            raise _Bad(f"{MANIFEST} lists an invalid file name {name!r}")
        listed[name] = entry
    # Every entry, not only files: an added directory (empty or not), link or FIFO is
    # as foreign to a signed bundle as an added file.
    for entry in sorted(bundle.iterdir()):
        if entry.name not in listed and entry.name not in (MANIFEST, SIGNATURE):
            what = "directory" if entry.is_dir() and not entry.is_symlink() else "file"
            raise _Bad(f"unexpected {what} {entry.name} (not in the manifest)")
    contents: dict[str, bytes] = {}
    for name, entry in sorted(listed.items()):
        path = bundle / name
        if path.is_symlink() or not path.is_file():
            raise _Bad(f"missing file {name}")
        data = path.read_bytes()
        if len(data) != entry.get("size") or sha256_bytes(data) != entry.get("sha256"):
            raise _Bad(f"{name} was changed (SHA-256 does not match the manifest)")
        contents[name] = data
    return contents


def _check_date(bundle: Path, manifest: dict[str, Any]) -> None:
    """A bundle lives in a directory named after its (signed) date: a bundle renamed to
    another day must not vouch for that day, nor a symbolic link named after another day
    (the name as given is judged, not the link's target)."""
    name = Path(os.path.abspath(bundle)).name
    if name != manifest.get("date"):
        raise _Bad(
            f"the directory is named {name} but holds the bundle of {manifest.get('date')} "
            "(a bundle's directory must be named after its date)"
        )


def _check_journal(manifest: dict[str, Any], contents: dict[str, bytes]) -> int:
    info = manifest.get("journal") or {}
    data = contents.get(JOURNAL_FILE)
    if data is None:
        raise _Bad(f"the manifest lists no {JOURNAL_FILE}")
    try:
        rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    except ValueError as exc:
        raise _Bad(f"{JOURNAL_FILE}: invalid JSON line: {exc}") from None
    problem = check_segment(rows, info.get("anchor_hash"), info.get("first_seq"))
    if problem:
        raise _Bad(f"{JOURNAL_FILE}: {problem}")
    last_hash = rows[-1]["hash"] if rows else info.get("anchor_hash")
    if len(rows) != info.get("rows") or last_hash != info.get("last_hash"):
        raise _Bad(f"{JOURNAL_FILE}: rows or last hash differ from the manifest")
    return len(rows)


def verify_bundle(bundle: str | Path, verifiers: Sequence[Verifier]) -> BundleCheck:
    """Check a bundle: the manifest's signature (by a key in ``verifiers`` whose key id
    the manifest names), that the directory is named after the manifest's date and holds
    exactly the listed files (no other entry) with their sizes and SHA-256 digests, and
    that the journal rows chain from the manifest's anchor hash to its last hash. Returns
    the first problem found."""
    bundle = Path(bundle)
    manifest: dict[str, Any] = {}
    try:
        manifest = _load_manifest(bundle)
        _check_signature(bundle, manifest, verifiers)
        _check_date(bundle, manifest)
        contents = _check_files(bundle, manifest)
        rows = _check_journal(manifest, contents)
    except _Bad as bad:
        return BundleCheck(False, str(bundle), problem=str(bad), date=manifest.get("date"))
    except (KeyError, TypeError, AttributeError) as exc:
        problem = f"{MANIFEST} is malformed ({type(exc).__name__}: {exc})"
        return BundleCheck(False, str(bundle), problem=problem, date=manifest.get("date"))
    signed = manifest["signature"]
    return BundleCheck(
        True,
        str(bundle),
        date=manifest.get("date"),
        files=len(contents),
        journal_rows=rows,
        algorithm=signed["algorithm"],
        key_id=signed["key_id"],
    )
