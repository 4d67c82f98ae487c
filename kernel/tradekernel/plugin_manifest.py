"""The plugin manifest: what each installed entry point registered, cached on disk.

The registry reads it to decide which plugin modules a command must import (those that
provide the components it builds, those with observer hooks, the command providers of a
command that is not built in) and leaves the others unimported. It is a hint, never the
truth: once a plugin is imported, what it actually registers counts, and a manifest that
turns out wrong makes the registry load everything.

An entry is fresh while its stamp matches: the entry point (name, value), its
distribution and version, the modification time and size of the entry point's module
file and of every file in its top-level package's directory (an editable install changes
without a version bump, and its hooks may live in any submodule), and a digest of the
distribution's ``RECORD`` (a reinstall). The whole file is keyed on the kernel version
and on every installed distribution and its version (:func:`environment`): installing
or upgrading anything, an optional dependency a plugin imports included, makes every
entry stale. The file is hostile input: anything unreadable, malformed or of the wrong
shape is ignored, entry by entry, and rebuilt. It is written atomically (a temporary
file renamed over it), so two processes writing at once leave one whole file.

It is a cache in the state directory, protected against accidents (truncation,
staleness, garbage), never trusted for a safety decision beyond choosing what to import
(see docs/architecture.md, "The plugin manifest").
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import stat
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

from loguru import logger

from .files import atomic_write

FORMAT = 1
MAX_BYTES = 4 * 1024 * 1024
"""A manifest larger than this is not read (it is rebuilt)."""
MAX_TREE_FILES = 5000
"""A package directory with more files than this has no tree stamp (never fresh)."""


def environment() -> str:
    """A digest of every installed distribution, its version and when it was installed
    (the search path as it is now): the manifest is rebuilt when anything is installed,
    upgraded, reinstalled or removed."""
    seen = sorted(_identity(dist) for dist in importlib.metadata.distributions())
    return hashlib.sha256("\n".join(seen).encode("utf-8", "replace")).hexdigest()


def _identity(dist: importlib.metadata.Distribution) -> str:
    """A distribution's name and version: read from its metadata directory's name and
    modification time when it has one (``name-1.2.dist-info``: no file is parsed, and
    a reinstall of the same version touches it), else from its metadata."""
    path = getattr(dist, "_path", None)
    if isinstance(path, Path):
        try:
            return f"{path} {path.stat().st_mtime_ns}"
        except OSError:
            pass
    try:
        return f"{dist.metadata['Name'] or '?'}=={dist.version or '?'}"
    except Exception:  # hostile or broken metadata: counted as such
        return "?"


def stamp(ep: EntryPoint) -> dict[str, Any]:
    """What makes an entry fresh: the entry point, its distribution and version, and the
    modification time and size of its module file (``None`` when it cannot be found
    without importing it)."""
    dist = ep.dist
    path = module_file(ep.value.split(":")[0].strip())
    mtime = size = None
    if path is not None:
        try:
            st = os.stat(path)
            mtime, size = st.st_mtime_ns, st.st_size
        except OSError:
            path = None
    return {
        "name": ep.name,
        "value": ep.value,
        "distribution": dist.name if dist else "?",
        "version": dist.version if dist else "?",
        "file": path,
        "mtime_ns": mtime,
        "size": size,
        "tree": tree_digest(ep.value.split(":")[0].strip(), path),
        "record": _record_digest(dist),
    }


def tree_digest(module: str, path: str | None) -> str | None:
    """A digest of the path, modification time and size of every file under the
    directory of ``module``'s top-level package (just ``path`` for a top-level module
    that is a single file); ``None`` when it cannot be found or is too big."""
    if path is None:
        return None
    top = module.split(".")[0]
    top_file = path if top == module else module_file(top)
    if top_file is not None and os.path.basename(top_file) == "__init__.py":
        root = os.path.dirname(top_file)
    elif top == module:
        return _digest([_file_row(path, path)])
    else:  # a namespace package: the directory of the module itself
        root = os.path.dirname(path)
    rows: list[str] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            rows.append(_file_row(os.path.join(directory, name), root))
            if len(rows) > MAX_TREE_FILES:
                return None
    return _digest(rows)


def _file_row(path: str, root: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{os.path.relpath(path, root)} missing"
    return f"{os.path.relpath(path, root)} {st.st_mtime_ns} {st.st_size}"


def _record_digest(dist: Any) -> str | None:
    """A digest of the distribution's ``RECORD`` (the files a regular install put down)."""
    try:
        text = dist.read_text("RECORD") if dist is not None else None
    except Exception:  # hostile or odd metadata: no record stamp
        return None
    return None if text is None else _digest([text])


def _digest(rows: list[str]) -> str:
    return hashlib.sha256("\n".join(rows).encode("utf-8", "surrogateescape")).hexdigest()


def module_file(name: str) -> str | None:
    """The file of module ``name``, found without importing it (nor its parents): the
    top-level name through ``sys.meta_path`` (path entries and editable-install finders),
    the rest under the parent's search locations."""
    try:
        module = sys.modules.get(name)
        if module is not None:
            return getattr(module, "__file__", None)
        parts = name.split(".")
        spec = importlib.util.find_spec(parts[0])
        for i in range(1, len(parts)):
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = importlib.machinery.PathFinder.find_spec(
                ".".join(parts[: i + 1]), list(spec.submodule_search_locations)
            )
        if spec is None or not spec.has_location:
            return None
        return spec.origin
    except (ImportError, ValueError, AttributeError):
        return None


def read(
    path: Path | None, kernel_version: str, env: str | None = None
) -> dict[str, dict[str, Any]]:
    """The entries of the manifest at ``path`` by entry-point name; ``{}`` when the file
    is missing, unreadable, too big, not JSON, for another kernel version or (``env``
    given) another set of installed distributions (:func:`environment`), of another
    shape, or not a regular file. Entries that are not well formed are left out."""
    if path is None:
        return {}
    try:  # non-blocking and regular files only: a FIFO or a device put there must not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return {}
            raw = f.read(MAX_BYTES + 1)
    except OSError:
        return {}
    if len(raw) > MAX_BYTES:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    if data.get("kernel") != kernel_version or not isinstance(data.get("entries"), dict):
        return {}
    if env is not None and data.get("environment") != env:
        return {}
    return {
        name: entry
        for name, entry in data["entries"].items()
        if isinstance(name, str) and _valid(entry)
    }


def write(
    path: Path | None,
    kernel_version: str,
    entries: dict[str, dict[str, Any]],
    env: str | None = None,
) -> bool:
    """Replace the manifest at ``path`` atomically. Only the directory holding it is
    created, never its parents (the state directory is not made for a cache). Returns
    whether it was written; a failure is logged at debug level and otherwise ignored."""
    if path is None:
        return False
    data = {"format": FORMAT, "kernel": kernel_version, "environment": env, "entries": entries}
    if not path.parent.parent.is_dir():
        return False
    try:
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True))
        return True
    except Exception as exc:  # a cache: never worth failing a command for
        logger.debug("plugin manifest {} not written: {}", path, exc)
        return False


_STAMP_KEYS = (
    "name",
    "value",
    "distribution",
    "version",
    "file",
    "mtime_ns",
    "size",
    "tree",
    "record",
)
_COMPONENT_KEYS = ("kind", "name", "version", "description", "config", "install")


def _valid(entry: Any) -> bool:
    """An entry the registry may act on: a stamp, string lists and component records of
    the expected types (anything else is rebuilt)."""
    if not isinstance(entry, dict):
        return False
    st = entry.get("stamp")
    if not isinstance(st, dict) or set(st) != set(_STAMP_KEYS):
        return False
    for key in ("name", "value", "distribution", "version"):
        if not isinstance(st[key], str):
            return False
    for key in ("file", "tree", "record"):
        if not (st[key] is None or isinstance(st[key], str)):
            return False
    for key in ("mtime_ns", "size"):
        if not (st[key] is None or (type(st[key]) is int)):
            return False
    for key in ("hooks", "commands"):
        value = entry.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return False
    if not isinstance(entry.get("failed", False), bool):
        return False
    if not (entry.get("install") is None or isinstance(entry.get("install"), str)):
        return False
    components = entry.get("components")
    if not isinstance(components, list):
        return False
    for component in components:
        if not isinstance(component, dict) or set(component) != set(_COMPONENT_KEYS):
            return False
        if not all(isinstance(component[k], str) for k in ("kind", "name", "version")):
            return False
        for key in ("description", "config", "install"):
            if not (component[key] is None or isinstance(component[key], str)):
                return False
    return True
