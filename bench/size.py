"""The size of the kernel: lines of Python in ``kernel/tradekernel`` against the tiny
kernel's target (about 8,000, issue 12) and the line count before the operator features
moved out to first-party plugins. ``tests/kernel/test_kernel_size.py`` holds the ceiling."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 8_000
BEFORE = 19_338
"""``kernel/tradekernel`` before the operator features moved out (main at 2026-11-30)."""


def python_lines(root: Path, *, tests: bool = True) -> int:
    """Lines (``wc -l``) of every ``.py`` file under ``root`` (without ``tests/`` folders
    unless ``tests``)."""
    return sum(
        len(p.read_bytes().splitlines())
        for p in root.rglob("*.py")
        if tests or "tests" not in p.relative_to(root).parts
    )


def run() -> list[dict]:
    kernel = python_lines(ROOT / "kernel" / "tradekernel")
    plugins = sum(
        python_lines(d, tests=False)
        for base in ("plugins", "contrib")
        for d in (ROOT / base).iterdir()
        if (d / "pyproject.toml").exists()
    )
    return [
        {
            "figure": "kernel size (lines of Python)",
            "value": kernel,
            "unit": "lines",
            "peer": "target of the tiny kernel",
            "peer_value": TARGET,
        },
        {
            "figure": "kernel size against before the moves",
            "value": kernel,
            "unit": "lines",
            "peer": "kernel/tradekernel before issue 12",
            "peer_value": BEFORE,
        },
        {
            "figure": "plugins and contrib (lines of Python, without tests)",
            "value": plugins,
            "unit": "lines",
            "peer": "",
            "peer_value": None,
        },
    ]
