"""A real headless Chromium for the dashboard tests.

``chromium_path()`` finds Debian's ``chromium`` (``/usr/bin/chromium``); when it is
missing it tries once per session to install it (``apt-get update`` then ``apt-get
install -y chromium``, quietly, as root only) and skips the calling test with the reason
when that is impossible. ``load(page)`` opens a file with ``--dump-dom`` and returns the
DOM after scripts ran plus every console message Chromium logged (``--enable-logging``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from attrs import frozen

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 90
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
_CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)$")
_install_failure: str | None = None
_install_tried = False


def _find() -> str | None:
    for path in (*CANDIDATES, shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def _install() -> str | None:
    """Try ``apt-get install chromium``; returns why it failed, or None."""
    if shutil.which("apt-get") is None:
        return "chromium is not installed and apt-get is not available"
    if os.geteuid() != 0:
        return "chromium is not installed and installing it needs root (apt-get install chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium"],
    ):
        try:
            done = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd)} failed: {exc}"
        if done.returncode != 0:
            tail = " ".join(done.stderr.strip().splitlines()[-2:])
            return f"{' '.join(cmd)} exited {done.returncode}: {tail}"
    return None


def chromium_path() -> str:
    """The Chromium binary; installs it once when missing, else skips the test."""
    global _install_failure, _install_tried
    path = _find()
    if path is None and not _install_tried:
        _install_tried = True
        _install_failure = _install()
        path = _find()
    if path is None:
        pytest.skip(_install_failure or "chromium could not be installed")
    return path


@frozen
class Loaded:
    """What Chromium saw: the DOM after scripts ran, and every console message."""

    dom: str
    console: list[str]
    stderr: str


def load(page: Path, *, screenshot: Path | None = None, size: str = "1400,2400") -> Loaded:
    """Open ``page`` in headless Chromium: ``--dump-dom`` (or ``--screenshot``)."""
    binary = chromium_path()
    with tempfile.TemporaryDirectory(prefix="tk-chromium-") as profile:
        args = [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}"]
        args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        done = subprocess.run(
            [*args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    console = [m.group(1) for line in done.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return Loaded(dom=done.stdout, console=console, stderr=done.stderr)
