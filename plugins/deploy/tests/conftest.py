"""Shared fixtures: a paper agent's configuration in a temporary directory, signed with
an HMAC audit key from the environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tradekernel.testing import invoke, kernel_factory  # noqa: F401 - a fixture

KEY_ENV = "TK_DEPLOY_TEST_KEY"
KEY = "0123456789abcdef0123456789abcdef"

BASE = """[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
strategist = "sma-cross"
metrics_sinks = ["jsonl"]
notifiers = ["log"]

[audit]
hmac_key_env = "TK_DEPLOY_TEST_KEY"

[runtime]
watchlist = {watchlist}
"""


@pytest.fixture(autouse=True)
def audit_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def write_config(tmp_path: Path, state_dir: Path) -> Callable[..., Path]:
    """``write_config(watchlist=("AAA",), extra="")``: plugins.toml's path."""

    def write(watchlist: tuple[str, ...] = ("AAA",), extra: str = "") -> Path:
        path = tmp_path / "plugins.toml"
        text = BASE.format(state=state_dir, watchlist=list(watchlist)).replace("'", '"')
        path.write_text(text + extra, encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(tmp_path: Path, write_config: Callable[..., Path]) -> Callable[..., object]:
    """``cli(*args)``: ``tradekernel --config plugins.toml ARGS`` in this process (the
    default configuration is written first when there is none)."""

    def run(*args: str) -> object:
        path = tmp_path / "plugins.toml"
        if not path.exists():
            write_config()
        return invoke(["--config", str(path), *args])

    return run
