"""Shared fixtures: a real Kernel built from a plugins.toml in a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tradekernel.kernel import Kernel
from tradekernel.settings import Settings


def write_config(tmp_path: Path, sinks: list[str], extra: str = "") -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f"[components]\nmetrics_sinks = {sinks!r}\n\n{extra}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def make_kernel(tmp_path: Path) -> Callable[..., Kernel]:
    """``make_kernel(["jsonl"], extra_toml)``: a Kernel whose state lives under tmp_path."""
    kernels: list[Kernel] = []

    def make(sinks: list[str], extra: str = "") -> Kernel:
        settings = Settings.load(write_config(tmp_path, sinks, extra), environ={})
        kernel = Kernel(settings)
        kernels.append(kernel)
        return kernel

    yield make
    for kernel in kernels:
        kernel.close()
