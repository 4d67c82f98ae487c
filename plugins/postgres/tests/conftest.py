"""Fixtures shared by the tests that run whole agents against one PostgreSQL store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

AGENT_CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
store = "postgres"
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
metrics_sinks = ["jsonl"]
notifiers = []

[store]
url = "{url}"
{store}

[runtime]
watchlist = ["AAA", "BBB"]

[market_data.synthetic]
symbols = ["AAA", "BBB"]
bars = 100000
start = {start}

[broker.paper]
db = "{paper}"

[strategist.sma-cross]
fast = 3
slow = 8
"""

AgentConfig = Callable[..., Path]


@pytest.fixture
def agent_config(tmp_path: Path) -> AgentConfig:
    """Writes ``<tmp_path>/<name>.toml``: a paper agent on the PostgreSQL store at ``url``
    with state directory ``<tmp_path>/<name>``, its market from ``start``, its paper
    account at ``paper``, and ``store`` (TOML lines) added to its ``[store]`` table."""

    def write(name: str, url: str, start: str, *, store: str, paper: Path) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(
            AGENT_CONFIG.format(
                state=tmp_path / name, url=url, store=store, paper=paper, start=start
            )
        )
        return path

    return write


T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
"""Where a lease test's clock starts."""


class Clock:
    """A settable clock for the lease tests (the lease judges expiry by it)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
