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

import errno
import hashlib
import json
import math
import os
import re
import stat
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
_HEX = re.compile(r"[0-9a-f]+")


def _sha(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resolve_path(raw: str | Path) -> Path:
    """``raw`` as every process of a sweep must read it: ``~`` expanded (as the replay
    feed does), absolute (a worker may run in another directory, on another machine)."""
    return Path(raw).expanduser().resolve()


def _data_files(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = resolve_path(raw)
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
        except OSError as exc:
            raise TradekernelError(f"--data {path}: cannot read: {exc.strerror}") from None
        h.update(b"\0")
    return h.hexdigest()


def sweep_digest(base: Settings, spec: BacktestSpec) -> str:
    """The digest naming one sweep: what every combination shares."""
    fields = attrs.asdict(spec, recurse=False)
    fields.pop("params")  # the combinations' own, keyed per row
    # ``record`` stays: a sweep run with --no-record and then to record it is another
    # sweep, so every row of the recording one is recorded
    fields["data"] = [str(resolve_path(p)) for p in spec.data]
    if spec.out_dir is not None:
        fields["out_dir"] = str(resolve_path(spec.out_dir))
    return _sha(
        {
            "spec": fields,
            "config": base.config_sha256,
            "env": _sha(base.environment_overrides()),
            "versions": [kernel_version, *installed_plugins()],
            "data": data_digest(spec.data),
        }
    )


def installed_plugins() -> list[str]:
    """``name==version`` of every installed distribution that provides tradekernel
    plugins (the strategists, feeds, guards and brokers a row depends on), sorted. A code
    change without a version bump (an editable install) is not seen: ``--fresh``."""
    from importlib.metadata import distributions

    found = set()
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        if name.startswith("tradekernel") or any(
            ep.group == "tradekernel" for ep in dist.entry_points
        ):
            found.add(f"{name}=={dist.version}")
    return sorted(found)


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
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except FileNotFoundError:
            return rows
        except OSError as exc:
            raise TradekernelError(f"{self.path}: cannot read: {_why(exc)}") from None
        try:
            _regular(self.path, fd, "read")
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as fh:
            try:
                raw = fh.read()
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
            fd = os.open(
                self.path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
                0o644,
            )
            try:
                _regular(self.path, fd, "write")
            except BaseException:
                os.close(fd)
                raise
            with os.fdopen(fd, "ab+") as fh:
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
                f"{self.path}: cannot write the sweep's results: {_why(exc)}"
            ) from None


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link (not followed: the results file must be a regular file)"
    return exc.strerror or str(exc)


def _regular(path: Path, fd: int, verb: str) -> None:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise TradekernelError(f"{path}: cannot {verb}: not a regular file")


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


def valid_row(row: dict[str, Any], params: dict[str, Any], metrics: tuple[str, ...]) -> bool:
    """Whether a row read back has exactly the shape a sweep writes for ``params``: its
    parameters equal to them, each metric a finite number or null (``config_digest`` a
    hex string), no error (only finished combinations are kept). The checksum only
    catches accidents: anyone can forge a line, so its content is checked too."""
    if set(row) != {*params, *metrics, "error"} or row["error"] is not None:
        return False
    if any(row[k] != v or type(row[k]) is not type(v) for k, v in params.items()):
        return False
    for key in metrics:
        value = row[key]
        if key == "config_digest":
            if value is not None and not (
                isinstance(value, str) and len(value) <= 128 and _HEX.fullmatch(value)
            ):
                return False
        elif value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return False
    return True
