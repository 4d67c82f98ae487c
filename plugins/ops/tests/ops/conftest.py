"""Shared fixtures for ``tradekernel ops batch``: a plugins.toml in a temporary directory
(paper broker, jsonl events, the log notifier)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """``write_config(broker="paper", extra="")``: the path of a plugins.toml."""

    def write(broker: str = "paper", extra: str = "") -> Path:
        path = tmp_path / "plugins.toml"
        path.write_text(
            f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
            f'[components]\nbroker = "{broker}"\nmetrics_sinks = ["jsonl"]\n'
            f'notifiers = ["log"]\n\n{extra}',
            encoding="utf-8",
        )
        return path

    return write
