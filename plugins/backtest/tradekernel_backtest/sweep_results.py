"""A sweep's finished combinations, one line each, so an interrupted sweep resumes.

The file is ``<state_dir>/sweeps/<sweep digest>.jsonl``: the digest covers the spec
(without its parameters), the configuration file, the ``TRADEKERNEL_`` environment, the
plugin versions and the data files' contents, so a changed spec, configuration or data is
another sweep. Each line is one combination's row, keyed by a digest of the sweep, its
position and its parameters, and carries a checksum of itself. The file is hostile input
when read back: a line that does not parse, has the wrong shape or fails its checksum (a
truncated tail after a SIGKILL, a corrupted byte) is ignored with a warning and that
combination runs again; every other line still counts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
from loguru import logger
from tradekernel import __version__ as kernel_version
from tradekernel.api import Settings, TradekernelError

from .spec import BacktestSpec

FORMAT = 1
"""Version of a line's layout (a line of another version is ignored)."""
SWEEPS_DIR = "sweeps"
"""Where the results files live, under the operator's ``[kernel] state_dir``."""
CHUNK = 1 << 20


def _sha(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _data_files(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def data_digest(paths: list[str]) -> str:
    """A digest of the data files' names and contents (a directory: every file under it)."""
    h = hashlib.sha256()
    for path in _data_files(paths):
        h.update(str(path).encode() + b"\0")
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
        except OSError as exc:  # the backtest itself reports a missing file, per row
            h.update(f"unreadable: {exc.strerror}".encode())
        h.update(b"\0")
    return h.hexdigest()


def sweep_digest(base: Settings, spec: BacktestSpec) -> str:
    """The digest naming one sweep: what every combination shares."""
    from importlib.metadata import version

    fields = attrs.asdict(spec, recurse=False)
    fields.pop("params")  # the combinations' own, keyed per row
    fields.pop("record")  # whether rows are recorded does not change them
    env = {k: v for k, v in base._environ.items() if k.startswith("TRADEKERNEL_")}
    return _sha(
        {
            "spec": fields,
            "config": base.config_sha256,
            "env": _sha(env),
            "versions": [kernel_version, version("tradekernel-backtest")],
            "data": data_digest(spec.data),
        }
    )


def row_key(sweep: str, index: int, params: dict[str, Any]) -> str:
    """The key of one combination's row (its position names its ``runs/NNN`` outputs)."""
    return _sha({"sweep": sweep, "index": index, "params": params})


class SweepResults:
    """The results file of one sweep: read what is finished, append as rows finish."""

    def __init__(self, state_dir: Path, digest: str) -> None:
        self.path = Path(state_dir) / SWEEPS_DIR / f"{digest[:32]}.jsonl"

    def load(self) -> dict[str, dict[str, Any]]:
        """Rows by key of every valid line; bad lines are skipped with one warning."""
        rows: dict[str, dict[str, Any]] = {}
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return rows
        except OSError as exc:
            raise TradekernelError(f"{self.path}: cannot read: {exc.strerror}") from None
        bad = 0
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            parsed = _parse(line)
            if parsed is None:
                bad += 1
                continue
            rows[parsed[0]] = parsed[1]
        if bad:
            logger.warning(
                "{}: {} damaged line(s) ignored (truncated or corrupted); "
                "those combinations run again",
                self.path,
                bad,
            )
        return rows

    def append(self, key: str, row: dict[str, Any]) -> None:
        """Add one finished row, on disk before this returns (a SIGKILL after it loses
        nothing); a damaged last line (no newline) is closed off first."""
        record = {"v": FORMAT, "key": key, "row": row}
        record["sha"] = _sha(record)
        line = json.dumps(record, default=str, separators=(",", ":")).encode() + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab+") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell():
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        line = b"\n" + line
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise TradekernelError(
                f"{self.path}: cannot write the sweep's results: {exc.strerror}"
            ) from None


def _parse(line: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(record, dict) or set(record) != {"v", "key", "row", "sha"}:
        return None
    key, row, sha = record["key"], record["row"], record.pop("sha")
    if record["v"] != FORMAT or not isinstance(key, str) or not isinstance(row, dict):
        return None
    if sha != _sha(record):
        return None
    return key, row
